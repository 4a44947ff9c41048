// mixccl-topo: prints the topology mixccl detects (hosts, NUMA nodes, cores, caches, NICs with their
// speeds, ranks and devices, link classes with their latency and bandwidth) and, for each
// collective, the tuner's decision table: message size -> algorithm and chunk, predicted time, and
// the runner-up. For this machine (-np N self-launched ranks, calibrated exactly as a real job is)
// or for a topology file describing any cluster (--file), which is how the choices for clusters
// larger than this machine are simulated.
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/comm.h"
#include "core/tuner.h"
#include "mixccl.h"
#include "topology/cost_model.h"
#include "topology/decision.h"
#include "topology/topology_file.h"

using namespace mixccl;

namespace {

struct Options {
  int nprocs = 1;
  std::string file;
  std::string dump;
  std::string collectives = "all";
  std::string minBytes = "8";
  std::string maxBytes = "256M";
  int factor = 4;
  int elementBytes = 4;
  bool topologyOnly = false;
  bool allCandidates = false;
  bool listAlgorithms = false;
};

size_t parseBytes(const std::string& s) {
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end != nullptr && (*end == 'K' || *end == 'k')) v *= 1024;
  if (end != nullptr && (*end == 'M' || *end == 'm')) v *= 1024.0 * 1024;
  if (end != nullptr && (*end == 'G' || *end == 'g')) v *= 1024.0 * 1024 * 1024;
  return static_cast<size_t>(v);
}

// The count the C API takes for a collective whose whole operation moves `bytes`.
size_t countFor(Collective c, size_t bytes, size_t es, int nranks) {
  size_t per = std::max<size_t>(1, bytes / es);
  switch (c) {
    case Collective::AllGather:
    case Collective::ReduceScatter:
    case Collective::AlltoAll:
    case Collective::Gather:
    case Collective::Scatter: return std::max<size_t>(1, per / static_cast<size_t>(nranks));
    default: return per;
  }
}

std::string timeText(double us) {
  char buf[32];
  if (us >= 1e6) std::snprintf(buf, sizeof(buf), "%.2f s", us / 1e6);
  else if (us >= 1e3) std::snprintf(buf, sizeof(buf), "%.2f ms", us / 1e3);
  else std::snprintf(buf, sizeof(buf), "%.2f us", us);
  return buf;
}

void printTables(const Topology& t, const Options& o) {
  CostModel model(&t);
  std::vector<int> islands = t.islands();
  // The same island weights the communicator's tuner would use (core/tuner.h).
  std::string why;
  std::vector<double> weights = chooseIslandWeights(model, islands, &why);
  std::string weightText;
  for (double w : weights) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%s%.3g", weightText.empty() ? "" : " ", w);
    weightText += buf;
  }
  std::printf("\n# Hierarchical island weights: %s (%s)\n", weights.empty() ? "equal" : weightText.c_str(), why.c_str());
  const Collective all[] = {Collective::AllReduce, Collective::AllGather, Collective::ReduceScatter,
                            Collective::Broadcast, Collective::Reduce,    Collective::AlltoAll,
                            Collective::Gather,    Collective::Scatter};
  // Ranks may differ in whether they run in place, so the tuner prices both (topology/decision.h).
  std::printf("\n# Decision tables: %d rank(s), %d-byte elements, each candidate priced at the mean of its in-place "
              "and out-of-place schedules; sizes are of the whole operation\n", t.nranks(), o.elementBytes);
  // Which rows a live communicator settles by timing (measured trials, core/tuner.h): asked of a
  // tuner built from this topology and this environment, as the communicator's is.
  Tuner tuner(t, 0, "mixccl-topo");
  const mixcclDataType_t type = o.elementBytes == 1   ? mixcclUint8
                                : o.elementBytes == 2 ? mixcclFloat16
                                : o.elementBytes == 8 ? mixcclFloat64
                                                      : mixcclFloat32;
  std::printf("# Measured trials: %s%s\n",
              tuner.measures()
                  ? "on; a row marked 'timed' is settled at run time by timing those candidates on its first calls "
                    "(the fastest by more than 5 % replaces the model's pick; MIXCCL_TUNE_MEASURE=0 turns this off)"
                  : "off (they need every rank on the cpu, and MIXCCL_TUNE_MEASURE=0 turns them off): the table is "
                    "the choice",
              tuner.measures() && tuner.timesBlocks()
                  ? "; a host has more ranks than cores, so each candidate is timed in blocks of calls in a row"
                  : "");
  for (Collective c : all) {
    std::string name = collectiveName(c);
    std::string lowered;
    for (char ch : name) lowered += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (o.collectives != "all" && ("," + o.collectives + ",").find("," + lowered + ",") == std::string::npos) continue;
    std::printf("\n## %s\n%12s  %-14s %-10s %12s   %s\n", name.c_str(), "size", "algorithm", "chunk", "predicted",
                o.allCandidates ? "all candidates" : "runner-up");
    for (size_t bytes = parseBytes(o.minBytes); bytes <= parseBytes(o.maxBytes); bytes *= static_cast<size_t>(o.factor)) {
      DecisionQuery q;
      q.collective = c;
      q.elementBytes = static_cast<size_t>(o.elementBytes);
      q.count = countFor(c, bytes, q.elementBytes, t.nranks());
      q.placement = Placement::Either;  // as the tuner decides
      q.island = &islands;
      q.islandWeight = weights.empty() ? nullptr : &weights;
      std::vector<Candidate> ranked = rankCandidates(model, q);
      if (ranked.empty()) continue;
      const Candidate& best = ranked.front();
      std::string rest;
      for (size_t i = 1; i < ranked.size() && (o.allCandidates || i < 2); ++i)
        rest += (rest.empty() ? "" : ", ") + std::string(ranked[i].algorithm->name) + "/" +
                sizeText(ranked[i].chunkBytes) + " " + timeText(ranked[i].predictedUs);
      std::string timed;
      AlgorithmChoice choice;
      if (tuner.measures() && static_cast<size_t>(o.elementBytes) == dataTypeSize(type) &&
          tuner.choose(c, q.count, type, &choice, true).isOk()) {
        for (const Candidate& x : tuner.trialCandidates(choice))
          timed += (timed.empty() ? "; timed: " : ", ") + std::string(x.algorithm->name) + "/" + sizeText(x.chunkBytes);
      }
      std::printf("%12s  %-14s %-10s %12s   %s%s\n", sizeText(bytes).c_str(), best.algorithm->name,
                  sizeText(best.chunkBytes).c_str(), timeText(best.predictedUs).c_str(), rest.empty() ? "-" : rest.c_str(),
                  timed.c_str());
      if (bytes > (parseBytes(o.maxBytes) / static_cast<size_t>(o.factor))) break;
    }
  }
}

int report(const Topology& t, const Options& o, const char* origin) {
  std::printf("# mixccl-topo: %s\n%s", origin, describeTopology(t).c_str());
  if (!o.dump.empty()) {
    Status st = writeTopologyFile(o.dump, t);
    if (!st.isOk()) {
      std::fprintf(stderr, "mixccl-topo: %s\n", st.message().c_str());
      return 1;
    }
    std::printf("# topology written to %s\n", o.dump.c_str());
  }
  if (!o.topologyOnly) printTables(t, o);
  return 0;
}

int runRank(const mixcclUniqueId& id, int rank, const Options& o) {
  mixcclComm_t comm = nullptr;
  mixcclResult_t r = mixcclCommInitRank(&comm, o.nprocs, id, rank);
  if (r != mixcclSuccess) {
    std::fprintf(stderr, "mixccl-topo: rank %d: mixcclCommInitRank failed: %s: %s\n", rank, mixcclGetErrorString(r),
                 mixcclGetLastError(nullptr));
    return 1;
  }
  Topology t = comm->tuner->topology();
  mixcclCommDestroy(comm);
  if (rank != 0) return 0;
  std::string origin = "this machine, " + std::to_string(o.nprocs) + " self-launched rank(s), " +
                       (std::getenv("MIXCCL_TOPO_FILE") ? "costs from MIXCCL_TOPO_FILE" : "costs as calibrated at init");
  return report(t, o, origin.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"mixccl-topo: the topology mixccl detects and the algorithm it picks for each collective and size"};
  app.add_option("--np,-n", o.nprocs, "launch N ranks on this host (fork), as a job would, and show what they detect")
      ->check(CLI::Range(1, 1024));
  app.add_option("--file,-f", o.file, "read this topology file instead of detecting (see docs/topology.md)");
  app.add_option("--dump", o.dump, "write the topology as a topology file to this path");
  app.add_option("--collectives,-c", o.collectives, "which tables: all, or names such as allreduce,broadcast");
  app.add_option("--minbytes,-b", o.minBytes, "smallest size of the tables (suffix K, M, G)");
  app.add_option("--maxbytes,-e", o.maxBytes, "largest size of the tables");
  app.add_option("--stepfactor", o.factor, "multiply the size by this each row")->check(CLI::Range(2, 1024));
  app.add_option("--element-bytes", o.elementBytes, "element size: 4 for float, 2 for bfloat16...")
      ->check(CLI::IsMember({1, 2, 4, 8}));
  app.add_flag("--topology-only", o.topologyOnly, "print the topology, not the decision tables");
  app.add_flag("--all", o.allCandidates, "list every candidate, not just the runner-up");
  app.add_flag("--list-algorithms", o.listAlgorithms, "print \"collective algorithm\" for every registered algorithm");
  // CLI11 short options are one letter: accept mixccl-perf's "-np 4" by rewriting it first.
  std::vector<std::string> args;
  for (int i = argc - 1; i >= 1; --i) {  // CLI11 takes the arguments reversed
    std::string a = argv[i];
    if (a == "-np") a = "--np";
    else if (a.rfind("-np=", 0) == 0) a = "--np=" + a.substr(4);
    args.push_back(a);
  }
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  if (o.listAlgorithms) {
    for (const Algorithm& a : allAlgorithms()) std::printf("%s %s\n", collectiveName(a.collective), a.name);
    return 0;
  }

  if (!o.file.empty()) {
    Topology t;
    Status st = readTopologyFile(o.file, &t);
    if (!st.isOk()) {
      std::fprintf(stderr, "mixccl-topo: %s\n", st.message().c_str());
      return 1;
    }
    return report(t, o, ("topology file " + o.file).c_str());
  }

  setenv("MIXCCL_SOCKET_IFNAME", "lo", 0);  // every rank is on this host
  mixcclUniqueId id;
  if (mixcclGetUniqueId(&id) != mixcclSuccess) {
    std::fprintf(stderr, "mixccl-topo: mixcclGetUniqueId failed: %s\n", mixcclGetLastError(nullptr));
    return 1;
  }
  std::fflush(nullptr);
  std::vector<pid_t> children;
  for (int rank = 0; rank < o.nprocs; ++rank) {
    pid_t pid = fork();
    if (pid < 0) {
      std::perror("mixccl-topo: fork");
      return 1;
    }
    if (pid == 0) {
      int rc = runRank(id, rank, o);
      std::fflush(nullptr);
      _exit(rc);
    }
    children.push_back(pid);
  }
  int failed = 0;
  for (pid_t c : children) {
    int status = 0;
    waitpid(c, &status, 0);
    failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
  }
  return failed;
}
