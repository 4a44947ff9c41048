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
  // begin(), setAlgorithm() and end() run on every call and take no lock: a mutex's two round trips
  // were about a tenth of a 2-rank 8-byte all-reduce. Each record is a seqlock instead. The calling
  // thread (operations on one communicator do not run concurrently) makes `version` odd, writes
  // the fields and makes it even again; describe(), on another thread, copies a record and keeps the
  // copy only if `version` was even and unchanged around it. Every field is an atomic, so a copy
  // that races a write is retried, never undefined.
  struct Record {
    std::atomic<uint64_t> version{0};
    std::atomic<uint64_t> seq{0};
    std::atomic<Collective> collective{Collective::AllReduce};
    std::atomic<size_t> count{0};
    std::atomic<mixcclDataType_t> type{mixcclFloat32};
    std::atomic<int> redop{0};
    std::atomic<int> root{0};
    std::atomic<const std::string*> algorithm{nullptr};  // one of names_, or none yet
    std::atomic<size_t> rounds{0};
    std::atomic<int> state{0};  // Snapshot::State
    std::atomic<double> startSeconds{0};  // since the history was made
    std::atomic<double> durationMs{0};
  };
  struct Snapshot {
    uint64_t seq = 0;
    Collective collective = Collective::AllReduce;
    size_t count = 0;
    mixcclDataType_t type = mixcclFloat32;
    int redop = 0;
    int root = 0;
    const std::string* algorithm = nullptr;
    size_t rounds = 0;
    enum State { Running = 0, Done = 1, Failed = 2 };
    int state = Running;
    double startSeconds = 0;
    double durationMs = 0;
  };
  static void startWrite(Record& r);
  static void finishWrite(Record& r);
  // A consistent copy of r; false if the writer kept changing it (it is then shown as busy).
  static bool read(const Record& r, Snapshot* out);
  // The stored name equal to `name` (names live as long as the history; a new one takes a lock).
  const std::string* intern(const std::string& name);

  std::string name_;
  int rank_;
  int nranks_;
  size_t depth_;
  double epoch_;  // steady clock seconds at construction
  // The last depth_ finished operations and the running one: depth_ + 1 records; next_ is where the
  // next operation's record goes.
  std::unique_ptr<Record[]> ring_;
  std::atomic<size_t> next_{0};
  std::atomic<size_t> total_{0};
  std::atomic<bool> running_{false};
  std::atomic<uint64_t> started_{0};  // operations begun: tells a published wait from an older one
  std::atomic<size_t> round_{0};
  std::mutex namesMutex_;
  std::vector<std::unique_ptr<std::string>> names_;  // under namesMutex_; never moved or freed
  std::atomic<const std::string*> lastName_{nullptr};
  mutable std::mutex waitingMutex_;
  std::vector<std::pair<int, bool>> waiting_;  // under waitingMutex_
  uint64_t waitingOp_ = 0;                     // under waitingMutex_: the value of started_ it belongs to
};

// Remembers a history for SIGUSR1 dumps for as long as it lives (comm init to destroy). Installs the
// SIGUSR1 handler and the watcher thread the first time it is called with MIXCCL_DEBUG set.
void registerHistory(const std::shared_ptr<OpHistory>& history);
void unregisterHistory(const OpHistory* history);
// Prints every registered history to stderr (what the watcher does on SIGUSR1).
void dumpAllHistories(const char* why);

}  // namespace mixccl
