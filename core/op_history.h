// Hang diagnosis: what each communicator did last and what it is doing now.
//
// Every communicator keeps its last K operations (MIXCCL_DIAG_OPS, default 16) and, for the one
// running, the algorithm, the round it is in and the peers that round still waits for. The text is
// printed when a wait times out, and on SIGUSR1 when MIXCCL_DEBUG is set: the signal handler only
// writes one byte to a pipe (async-signal-safe); a watcher thread reads it and prints every live
// communicator's history to stderr. So `kill -USR1 <pid>` on a hung rank says where it hangs.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "algorithms/schedule.h"
#include "mixccl.h"

namespace mixccl {

class OpHistory {
 public:
  static constexpr size_t kDefaultDepth = 16;

  OpHistory(std::string commName, int rank, int nranks, size_t depth);

  // The collective `seq` starts (point-to-point groups pass Collective::SendRecv).
  void begin(uint64_t seq, Collective collective, size_t count, mixcclDataType_t type, int redop, int root);
  // The running operation's schedule: algorithm name and number of rounds.
  void setAlgorithm(const std::string& algorithm, size_t rounds);
  // Cheap (one relaxed store): called at every round.
  void setRound(size_t round) { round_.store(round, std::memory_order_relaxed); }
  // The peers the current round still waits for ("recv from 3", "send to 1"), published only when
  // a wait goes to sleep, so the fast path never takes the lock.
  void setWaiting(const std::vector<std::pair<int, bool>>& peerIsSend);
  void end(bool ok);

  // Multi-line text: header, the operation in progress (algorithm, round, peers waited for) and
  // the last K operations, oldest first.
  std::string describe(const char* why) const;

 private:
  struct Record {
    uint64_t seq = 0;
    Collective collective = Collective::AllReduce;
    size_t count = 0;
    mixcclDataType_t type = mixcclFloat32;
    int redop = 0;
    int root = 0;
    std::string algorithm;
    size_t rounds = 0;
    enum class State { Running, Done, Failed } state = State::Running;
    double startSeconds = 0;  // since the history was made
    double durationMs = 0;
  };

  std::string name_;
  int rank_;
  int nranks_;
  size_t depth_;
  double epoch_;  // steady clock seconds at construction
  mutable std::mutex mutex_;
  std::vector<Record> ring_;  // the last depth_ records; next_ is where the next one goes
  size_t next_ = 0;
  size_t total_ = 0;
  bool running_ = false;
  std::vector<std::pair<int, bool>> waiting_;
  std::atomic<size_t> round_{0};
};

// Remembers a history for SIGUSR1 dumps for as long as it lives (comm init to destroy). Installs the
// SIGUSR1 handler and the watcher thread the first time it is called with MIXCCL_DEBUG set.
void registerHistory(const std::shared_ptr<OpHistory>& history);
void unregisterHistory(const OpHistory* history);
// Prints every registered history to stderr (what the watcher does on SIGUSR1).
void dumpAllHistories(const char* why);

}  // namespace mixccl
