// How the ranks of one benchmark come to exist and share a unique id: forked here (-np N), started by
// mpirun (MPI carries the id), or a single rank.
#pragma once

#include <functional>
#include <string>

#include "bench/perf/options.h"
#include "mixccl.h"

namespace mixcclperf {

// Exit codes. Every rank agrees on "some values were wrong" (they sum the count), while a failed call
// is seen by one rank first: the launcher stops the other ranks only for kExitError (or a signal).
constexpr int kExitOk = 0;
constexpr int kExitWrongValues = 1;
constexpr int kExitError = 2;
// A problem every rank finds by itself at the same point (a bad -r for this many ranks, an unwritable
// --json file): nothing needs stopping.
constexpr int kExitUsage = 3;

struct World {
  int rank = 0;
  int nranks = 1;
  // Position among the ranks on this host, where the launcher says (mpirun, -np); else the rank.
  int localRank = 0;
  mixcclUniqueId id{};
  std::string launcher;  // "self (-np)", "mpirun" or "single rank": shown in the header
};

// Creates the ranks and runs body once in each; returns the exit code for this process. With -np the
// calling process only hosts the rendezvous and waits for its children.
int launchRanks(const Options& options, const std::function<int(const World&)>& body);

}  // namespace mixcclperf
