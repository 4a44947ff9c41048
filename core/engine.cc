#include "core/engine.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <thread>

#include "core/comm.h"
#include "core/deadline.h"
#include "core/log.h"
#include "core/op_history.h"
#include "core/peer_liveness.h"
#include "core/staged_message.h"

namespace mixccl {
namespace {

constexpr int64_t kWaitSliceNs = 100'000'000;  // re-check abort and deadline at least this often
constexpr int64_t kMixedWaitSliceNs = 200'000;
// How long a wait without progress goes before it checks that the peers on this host still live
// (a read of /proc/<pid>/stat per local peer: cheap next to a wait that has stalled this long).
constexpr std::chrono::milliseconds kLivenessPeriod{250};
// Once a peer is found gone (or a connection closed), how long to let other exits settle before
// naming the dead: the rank killed first may still be tearing down when a survivor that gave up
// because of it has already exited, and the error should name both, not just the survivor.
constexpr std::chrono::milliseconds kDeathSettle{100};

struct InFlight {
  std::unique_ptr<Transfer> transfer;
  int peer;
  bool isSend;
  Transport* transport;
};

class RoundRunner {
 public:
  RoundRunner(mixcclComm* comm, const ExecArgs& args)
      : comm_(comm), args_(args), dev_(comm->device.get()), es_(dataTypeSize(args.type)) {}

  Status run() {
    const auto& rounds = args_.schedule->rounds;
    history_ = comm_->history.get();
    if (history_ != nullptr) history_->setAlgorithm(args_.schedule->algorithm, rounds.size());
    for (size_t r = 0; r < rounds.size(); ++r) {
      if (history_ != nullptr) history_->setRound(r);
      Status st = runRound(rounds[r]);
      if (!st.isOk()) {
        return st.withContext(strFormat("%s (%s, round %zu of %zu): ", args_.what,
                                        args_.schedule->algorithm.c_str(), r + 1, rounds.size()));
      }
    }
    return Status::ok();
  }

 private:
  char* at(const Region& r) const {
    return static_cast<char*>(args_.buffers[static_cast<size_t>(r.buf)]) + r.offset * es_;
  }

  Status runLocal(const Step& s) {
    if (s.dst.count == 0) return Status::ok();
    if (s.kind == StepKind::Copy) return dev_->copy(at(s.dst), at(s.src), s.dst.count * es_);
    return dev_->reduce(at(s.dst), at(s.src), at(s.src2), s.dst.count, args_.type, args_.op);
  }

  // Messages a rank sends to itself in a round are matched to its receives from itself, in order.
  Status runSelf(const Round& round) {
    std::vector<const Step*> sends, recvs;
    for (const Step& s : round.steps) {
      if (s.peer != comm_->rank) continue;
      if (s.kind == StepKind::Send && s.src.count > 0) sends.push_back(&s);
      if ((s.kind == StepKind::Recv || s.kind == StepKind::RecvReduce) && s.dst.count > 0) recvs.push_back(&s);
    }
    if (sends.size() != recvs.size()) {
      return errorStatus(mixcclInvalidUsage,
                         "rank %d posted %zu send(s) to itself but %zu receive(s) from itself in one group",
                         comm_->rank, sends.size(), recvs.size());
    }
    for (size_t i = 0; i < sends.size(); ++i) {
      const Step& snd = *sends[i];
      const Step& rcv = *recvs[i];
      if (snd.src.count != rcv.dst.count) {
        return errorStatus(mixcclInvalidUsage, "rank %d sent %zu elements to itself but receives %zu", comm_->rank,
                           snd.src.count, rcv.dst.count);
      }
      if (rcv.kind == StepKind::Recv) {
        MIXCCL_CHECK(dev_->copy(at(rcv.dst), at(snd.src), rcv.dst.count * es_));
      } else {
        MIXCCL_CHECK(dev_->reduce(at(rcv.dst), at(rcv.src), at(snd.src), rcv.dst.count, args_.type, args_.op));
      }
    }
    return Status::ok();
  }

  // The communicator's host blocks for staged messages, made on first use (cpu ranks never stage).
  StagingBlocks* stagingBlocks() {
    if (!comm_->stagingBlocks) comm_->stagingBlocks = std::make_shared<StagingBlocks>(dev_);
    return comm_->stagingBlocks.get();
  }

  Status post(const Step& s, std::vector<InFlight>* out) {
    if (s.peer < 0 || s.peer >= comm_->nranks) {
      return errorStatus(mixcclInternalError, "schedule names peer %d of %d", s.peer, comm_->nranks);
    }
    Link* link = comm_->links[static_cast<size_t>(s.peer)];
    Transport* owner = comm_->linkOwner[static_cast<size_t>(s.peer)];
    Device* dev = dev_;
    bool direct = dev_->hostAccessible();
    if (!direct && !owner->movesDeviceMemory()) {  // device memory over a host transport: in blocks
      const size_t bytes = (s.kind == StepKind::Send ? s.src.count : s.dst.count) * es_;
      StagingPair blocks;
      MIXCCL_CHECK(stagingBlocks()->take(bytes, &blocks));
      if (s.kind == StepKind::Send) {
        out->push_back({link->send(stagedSource(dev, at(s.src), bytes, blocks)), s.peer, true, owner});
      } else {
        const char* reduceInput = s.kind == StepKind::RecvReduce ? at(s.src) : nullptr;
        out->push_back({link->recv(stagedSink(dev, at(s.dst), bytes, es_, blocks, reduceInput, args_.type, args_.op)),
                        s.peer, false, owner});
      }
      return Status::ok();
    }
    if (s.kind == StepKind::Send) {
      const char* src = at(s.src);
      MessageSource m;
      m.bytes = s.src.count * es_;
      m.hostPtr = direct ? src : nullptr;
      m.read = [dev, src](void* dst, size_t off, size_t len) { return dev->copy(dst, src + off, len); };
      out->push_back({link->send(std::move(m)), s.peer, true, owner});
    } else {
      char* dst = at(s.dst);
      MessageSink m;
      m.bytes = s.dst.count * es_;
      m.granule = es_;
      if (s.kind == StepKind::Recv) {
        m.hostPtr = direct ? dst : nullptr;
        m.consume = [dev, dst](const void* src, size_t off, size_t len) { return dev->copy(dst + off, src, len); };
      } else {
        const char* a = at(s.src);
        size_t es = es_;
        mixcclDataType_t type = args_.type;
        ReduceOp op = args_.op;
        m.consume = [=](const void* src, size_t off, size_t len) {
          return dev->reduce(dst + off, a + off, src, len / es, type, op);
        };
      }
      out->push_back({link->recv(std::move(m)), s.peer, false, owner});
    }
    return Status::ok();
  }

  Status runRound(const Round& round) {
    for (const Step& s : round.steps) {
      if (s.kind == StepKind::Copy || s.kind == StepKind::Reduce) MIXCCL_CHECK(runLocal(s));
    }
    MIXCCL_CHECK(runSelf(round));
    if (comm_->stagingBlocks) MIXCCL_CHECK(comm_->stagingBlocks->reset());  // the previous round's transfers are all done
    std::vector<InFlight> flights;
    flights.reserve(round.steps.size());  // latency (h-topo): one allocation per round, not one per growth
    for (const Step& s : round.steps) {
      bool isComm = s.kind == StepKind::Send || s.kind == StepKind::Recv || s.kind == StepKind::RecvReduce;
      size_t count = s.kind == StepKind::Send ? s.src.count : s.dst.count;
      if (!isComm || count == 0 || s.peer == comm_->rank) continue;
      MIXCCL_CHECK(post(s, &flights));
    }
    return waitAll(flights);
  }

  Status waitAll(std::vector<InFlight>& flights) {
    auto noProgressFor = std::chrono::seconds(comm_->timeoutSeconds);
    Deadline deadline = Deadline::in(noProgressFor);
    Deadline livenessCheck = Deadline::in(kLivenessPeriod);
    bool published = false;  // the peers waited for, for hang diagnosis
    bool stalled = false;    // a sleep ended without progress: only then is publishing worth a lock
    bool deathSeen = false;  // a peer this round waits on was found gone; one more pass drains what it left
    for (;;) {
      bool moved = false, allDone = true;
      for (auto& f : flights) {
        if (f.transfer->done()) continue;
        Status st = f.transfer->progress(&moved);
        if (!st.isOk()) {
          // A connection that closed is most often a peer that died: if a rank on this host is gone,
          // name it (the closed connection may be a survivor that gave up because of it).
          if (st.code() == mixcclSystemError) {
            std::this_thread::sleep_for(kDeathSettle);
            Status dead = checkPeersAlive(flights);
            if (!dead.isOk()) return dead.withContext(st.message() + "; ");
          }
          return st;
        }
        if (!f.transfer->done()) allDone = false;
      }
      if (allDone) return Status::ok();
      if (comm_->aborted.load(std::memory_order_acquire)) {
        return errorStatus(mixcclSystemError, "rank %d: the communicator was aborted (mixcclCommAbort)", comm_->rank);
      }
      if (moved) {
        deadline = Deadline::in(noProgressFor);
        stalled = false;
        deathSeen = false;
        continue;
      }
      if (deadline.expired()) return timeoutError(flights);
      if (livenessCheck.expired()) {
        // Only a gone peer that this round still waits on is fatal here. A rank that is not in this
        // round (a send/recv group) or that has finished the collective, destroyed its communicator
        // and exited (ranks leave the last collective at different times) owes this rank nothing.
        // A dead rank that others wait on reaches this rank through them: their connections close,
        // or they exit, and the transfer error above names every dead rank. Before calling it fatal,
        // one more progress pass after a pause takes whatever the peer sent before it exited.
        if (!checkPeersAlive(flights, /*waitedForOnly=*/true).isOk()) {
          if (deathSeen) MIXCCL_CHECK(checkPeersAlive(flights, /*waitedForOnly=*/true));
          deathSeen = true;
          std::this_thread::sleep_for(kDeathSettle);
          continue;
        }
        livenessCheck = Deadline::in(kLivenessPeriod);
        published = false;  // transfers may have finished since: publish again
      }
      if (stalled && !published && history_ != nullptr) {
        publishWaiting(flights);
        published = true;
      }
      sleepUntilActivity(flights, deadline);
      stalled = true;
    }
  }

  void sleepUntilActivity(const std::vector<InFlight>& flights, const Deadline& deadline) {
    Transport* only = nullptr;
    bool mixed = false;
    for (const auto& f : flights) {
      if (f.transfer->done()) continue;
      if (only == nullptr) only = f.transport;
      else if (only != f.transport) mixed = true;
    }
    if (only == nullptr) return;
    if (!mixed) {
      only->waitForActivity(static_cast<uint64_t>(deadline.nsLeft(kWaitSliceNs)));
      return;
    }
    // Transfers on several transports: no single thing to sleep on; look at each in turn briefly.
    for (auto& t : comm_->transports) t->waitForActivity(static_cast<uint64_t>(deadline.nsLeft(kMixedWaitSliceNs)));
  }

  void publishWaiting(const std::vector<InFlight>& flights) {
    std::vector<std::pair<int, bool>> waiting;
    for (const auto& f : flights)
      if (!f.transfer->done()) waiting.emplace_back(f.peer, f.isSend);
    history_->setWaiting(waiting);
  }

  // Names every rank on this host that is gone, not just the one waited for: when a transfer with
  // an innocent rank fails because that rank gave up on a dead one, the dead one is the news. With
  // waitedForOnly, it is an error only when one of the gone ranks has a transfer of this round
  // still open with this rank.
  Status checkPeersAlive(const std::vector<InFlight>& flights, bool waitedForOnly = false) const {
    std::string dead;
    int firstDead = -1;
    bool waitedFor = false;
    for (int p = 0; p < comm_->nranks; ++p) {
      size_t i = static_cast<size_t>(p);
      if (!comm_->watchPid[i] || processAlive(comm_->peers[i].pid)) continue;
      if (firstDead < 0) firstDead = p;
      dead += strFormat("%srank %d (pid %d)", dead.empty() ? "peer " : ", ", p, comm_->peers[i].pid);
      for (const auto& f : flights) waitedFor = waitedFor || (f.peer == p && !f.transfer->done());
    }
    if (firstDead < 0 || (waitedForOnly && !waitedFor)) return Status::ok();
    std::string waiting;
    for (const auto& f : flights) {
      if (f.transfer->done()) continue;
      waiting += strFormat("%s%s rank %d", waiting.empty() ? "" : ", ", f.isSend ? "send to" : "receive from", f.peer);
    }
    return errorStatus(mixcclSystemError, "%s on this host died or exited (process gone) while rank %d was waiting "
                       "to %s; the communicator cannot complete collectives any more: abort it (mixcclCommAbort)",
                       dead.c_str(), comm_->rank, waiting.empty() ? "finish" : waiting.c_str());
  }

  Status timeoutError(const std::vector<InFlight>& flights) {
    std::string waiting;
    for (const auto& f : flights) {
      if (f.transfer->done()) continue;
      waiting += strFormat("%srank %d (%s)", waiting.empty() ? "" : ", ", f.peer, f.isSend ? "send" : "receive");
    }
    if (history_ != nullptr) {
      publishWaiting(flights);
      MIXCCL_WARN("%s", history_->describe("MIXCCL_TIMEOUT expired").c_str());
    }
    return errorStatus(mixcclSystemError,
                       "rank %d made no progress for %d s (MIXCCL_TIMEOUT) waiting for %s: did those ranks call "
                       "the same collective with the same arguments, and are they still alive? (the last "
                       "operations of this rank are printed to the log; set MIXCCL_CHECK=1 to compare calls)",
                       comm_->rank, comm_->timeoutSeconds, waiting.c_str());
  }

  mixcclComm* comm_;
  OpHistory* history_ = nullptr;
  const ExecArgs& args_;
  Device* dev_;
  size_t es_;
};

}  // namespace

Status runSchedule(mixcclComm* comm, const ExecArgs& args) {
  RoundRunner runner(comm, args);
  return runner.run();
}

}  // namespace mixccl
