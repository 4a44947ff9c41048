#include "core/op.h"

#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "algorithms/algorithm.h"
#include "backends/devices/device.h"
#include "core/comm.h"
#include "core/engine.h"
#include "core/log.h"
#include "core/op_history.h"
#include "core/op_signature.h"
#include "core/shm_fastpath.h"
#include "core/stream_proxy.h"
#include "core/tuner.h"

namespace mixccl {
namespace {

// How a collective's operator is made from a backend's binary ones.
struct Reduction {
  ReduceOp op = ReduceOp::Sum;
  bool preScale = false;                // multiply each input by `scalar` first
  alignas(8) unsigned char scalar[8] = {};  // one element of the op's type
  bool postDivide = false;              // divide the result by nranks (integer average)
};

bool reduces(Collective c) {
  return c == Collective::AllReduce || c == Collective::Reduce || c == Collective::ReduceScatter;
}

Status resolveReduction(mixcclComm* comm, const Op& op, Reduction* out) {
  switch (op.redop) {
    case mixcclSum: out->op = ReduceOp::Sum; return Status::ok();
    case mixcclProd: out->op = ReduceOp::Prod; return Status::ok();
    case mixcclMax: out->op = ReduceOp::Max; return Status::ok();
    case mixcclMin: out->op = ReduceOp::Min; return Status::ok();
    case mixcclAvg:
      out->op = ReduceOp::Sum;
      // As NCCL: floats are scaled by 1/n before summing (keeps half precision from overflowing);
      // integers are summed, then divided.
      if (isFloatingType(op.type)) {
        out->preScale = true;
        encodeScalar(1.0 / comm->nranks, op.type, out->scalar);
      } else {
        out->postDivide = true;
      }
      return Status::ok();
    default: break;
  }
  PreMulSumOp def;
  if (op.preMulSum) {
    def = *op.preMulSum;  // captured when the operation was queued
  } else {
    std::lock_guard<std::mutex> lock(comm->redOpMutex);
    auto it = comm->redOps.find(static_cast<int>(op.redop));
    if (it == comm->redOps.end()) {
      return errorStatus(mixcclInvalidArgument, "reduction operator %d is neither built in nor created on this "
                         "communicator (or it was destroyed)", static_cast<int>(op.redop));
    }
    def = it->second;
  }
  out->op = ReduceOp::Sum;
  out->preScale = true;
  size_t es = dataTypeSize(op.type);
  if (def.deviceScalar != nullptr) {
    MIXCCL_CHECK(comm->device->copy(out->scalar, def.deviceScalar, es));
  } else {
    std::memcpy(out->scalar, def.scalar.data(), es);
  }
  return Status::ok();
}

// Elements of the Input buffer a collective reads (what a pre-scale must cover).
size_t inputCount(const mixcclComm* comm, const Op& op) {
  return op.collective == Collective::ReduceScatter ? op.count * static_cast<size_t>(comm->nranks) : op.count;
}

bool isInPlace(const mixcclComm* comm, const Op& op) {
  size_t blockBytes = op.count * dataTypeSize(op.type);
  auto send = static_cast<const char*>(op.sendbuf);
  auto recv = static_cast<const char*>(op.recvbuf);
  size_t offset = static_cast<size_t>(comm->rank) * blockBytes;
  switch (op.collective) {
    case Collective::AllGather:
    case Collective::Gather: return recv != nullptr && send == recv + offset;
    case Collective::ReduceScatter:
    case Collective::Scatter: return send != nullptr && recv == send + offset;
    default: return send == recv;
  }
}

// The region that holds this rank's reduced result (for the integer-average division).
size_t resultCount(const mixcclComm* comm, const Op& op) {
  if (op.collective == Collective::Reduce && comm->rank != op.root) return 0;
  return op.count;
}

double nowUs() {
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// After a measured trial's last call (core/tuner.h): the ranks agree on each candidate's time, the
// mean over ranks of each rank's median call of it (an all-reduce of one double per candidate, by
// ring, which every size and rank count runs), and the tuner settles the bucket. Every rank gets here
// at the same call, since every rank takes the trial's turns in the same order.
Status agreeOnTrial(mixcclComm* comm, const AlgorithmChoice& choice) {
  std::vector<double> times = comm->tuner->trialTimes(choice);
  const Algorithm* ring = findAlgorithm(Collective::AllReduce, "ring");
  if (ring == nullptr || times.empty()) {
    return errorStatus(mixcclInternalError, "the tuner's trial has %zu candidate times and no ring all-reduce to "
                       "agree on them", times.size());
  }
  CollectiveArgs args;
  args.collective = Collective::AllReduce;
  args.nranks = comm->nranks;
  args.rank = comm->rank;
  args.count = times.size();
  args.inPlace = true;
  args.chunkCount = times.size();
  std::shared_ptr<const Schedule> built = comm->tuner->schedule(ring, args);
  ExecArgs exec;
  exec.type = mixcclFloat64;
  exec.op = ReduceOp::Sum;
  exec.what = "the tuner's agreement on measured times";
  exec.buffers = {times.data(), times.data(), nullptr};
  if (built->scratchCount > 0) {
    MIXCCL_CHECK(commScratch(comm, 0, built->scratchCount * sizeof(double), &exec.buffers[static_cast<size_t>(Buf::Scratch)]));
  }
  exec.schedule = built.get();
  MIXCCL_CHECK(runSchedule(comm, exec));
  for (double& t : times) t /= comm->nranks;
  comm->tuner->settleTrial(choice, times);
  return Status::ok();
}

// A trial call ended: hand the tuner its time, and settle the trial after its last call.
Status endTrialCall(mixcclComm* comm, const AlgorithmChoice& choice, double startUs) {
  if (!comm->tuner->recordTrial(choice, nowUs() - startUs)) return Status::ok();
  return agreeOnTrial(comm, choice);
}

// choice: the tuner's choice for this call, set as soon as it is made (the caller needs it on failure).
Status runCollectiveChosen(mixcclComm* comm, const Op& op, uint64_t seq, AlgorithmChoice& choice) {
  if (op.count == 0) return Status::ok();  // every rank agrees on this: nothing moves
  // "AllReduce #12" for errors, without printf: this runs on every call of the small-message path.
  char what[64];
  {
    size_t len = std::strlen(collectiveName(op.collective));
    std::memcpy(what, collectiveName(op.collective), len);
    what[len++] = ' ';
    what[len++] = '#';
    auto end = std::to_chars(what + len, what + sizeof(what) - 1, seq).ptr;
    *end = '\0';
  }
  Reduction red;
  if (reduces(op.collective)) MIXCCL_CHECK(resolveReduction(comm, op, &red));
  // A measured trial's turn (core/tuner.h), when the tuner gave one: this call is timed.
  double trialStart = 0;
  if (op.collective == Collective::AllReduce && op.ungrouped && comm->fastPath) {  // the tuner's "oneshot", over shared memory
    bool use = false;
    MIXCCL_CHECK(comm->fastPath->decide(op.count, op.type, &use, &choice));
    if (choice.trial) trialStart = nowUs();
    if (use) {
      MIXCCL_CHECK(comm->fastPath->allReduce(op.sendbuf, op.recvbuf, op.count, op.type, red.op,
                                             red.preScale ? red.scalar : nullptr, red.postDivide, what));
      return choice.trial ? endTrialCall(comm, choice, trialStart) : Status::ok();
    }
  }

  CollectiveArgs args;
  args.collective = op.collective;
  args.nranks = comm->nranks;
  args.rank = comm->rank;
  args.count = op.count;
  args.root = op.root;
  args.inPlace = isInPlace(comm, op) && !red.preScale;  // a pre-scaled input is a separate copy

  if (!choice.trial) {  // (the fast path's trial turn stands: every rank must take the same one)
    MIXCCL_CHECK(chooseAlgorithm(comm, op.collective, op.count, op.type, &choice, op.ungrouped));
    if (choice.trial) trialStart = nowUs();
  }
  args.chunkCount = choice.chunkCount;

  size_t es = dataTypeSize(op.type);
  ExecArgs exec;
  exec.type = op.type;
  exec.op = red.op;
  exec.what = what;
  exec.buffers = {const_cast<void*>(op.sendbuf), op.recvbuf, nullptr};

  if (red.preScale) {
    // Scale a copy of the input: the user's input must not change, and in place it is the output.
    void* scaled = nullptr;
    size_t n = inputCount(comm, op);
    MIXCCL_CHECK(commScratch(comm, 1, n * es, &scaled));
    MIXCCL_CHECK(comm->device->scale(scaled, op.sendbuf, n, op.type, red.scalar));
    exec.buffers[static_cast<size_t>(Buf::Input)] = scaled;
  }

  // Built once per (algorithm, collective, count, root, in place, chunk), then reused.
  std::shared_ptr<const Schedule> built = comm->tuner->schedule(choice.algorithm, args);
  const Schedule& schedule = *built;
  if (schedule.scratchCount > 0) {
    MIXCCL_CHECK(commScratch(comm, 0, schedule.scratchCount * es, &exec.buffers[static_cast<size_t>(Buf::Scratch)]));
  }
  exec.schedule = &schedule;
  MIXCCL_TRACE("%s rank %d: %s count %zu %s root %d in-place %d algorithm %s, %zu rounds", comm->name.c_str(),
               comm->rank, what, op.count, dataTypeName(op.type), op.root, args.inPlace ? 1 : 0,
               schedule.algorithm.c_str(), schedule.rounds.size());
  MIXCCL_CHECK(runSchedule(comm, exec));

  size_t results = resultCount(comm, op);
  if (red.postDivide && results > 0) {
    MIXCCL_CHECK(comm->device->divide(op.recvbuf, op.recvbuf, results, op.type, static_cast<uint64_t>(comm->nranks)));
  }
  return choice.trial ? endTrialCall(comm, choice, trialStart) : Status::ok();
}

Status runCollective(mixcclComm* comm, const Op& op, uint64_t seq) {
  AlgorithmChoice choice;
  Status st = runCollectiveChosen(comm, op, seq, choice);
  // A call that failed gives its trial turn back. Ranks that disagree on a call fail together (the
  // fast path compares every rank's call), and each had taken a turn of its own bucket's trial:
  // giving them back keeps every rank's turns in step for the calls after.
  if (!st.isOk() && choice.trial) comm->tuner->returnTurn(choice);
  return st;
}

bool overlaps(const void* a, size_t aBytes, const void* b, size_t bBytes) {
  auto pa = reinterpret_cast<uintptr_t>(a), pb = reinterpret_cast<uintptr_t>(b);
  return aBytes > 0 && bBytes > 0 && pa < pb + bBytes && pb < pa + aBytes;
}

Status runPointToPoint(mixcclComm* comm, const std::vector<const Op*>& p2p) {
  std::vector<P2POp> plan;
  ExecArgs exec;
  exec.type = mixcclUint8;  // point-to-point moves bytes; counts below are in bytes
  exec.what = "send/recv group";
  exec.buffers = {nullptr, nullptr, nullptr};
  for (const Op* op : p2p) {
    size_t bytes = op->count * dataTypeSize(op->type);
    plan.push_back({op->isSend, op->peer, bytes});
    exec.buffers.push_back(op->isSend ? const_cast<void*>(op->sendbuf) : op->recvbuf);
  }
  // All operations of a group run at once, so a receive may land before a send from the same
  // memory has left (in-place send/recv, as nccl-tests does it). Such sends go from a copy.
  std::vector<size_t> staged;
  size_t stagedBytes = 0;
  for (size_t i = 0; i < plan.size(); ++i) {
    if (!plan[i].isSend) continue;
    for (size_t j = 0; j < plan.size(); ++j) {
      if (!plan[j].isSend && overlaps(exec.buffers[kFirstUserBuf + i], plan[i].count, exec.buffers[kFirstUserBuf + j],
                                      plan[j].count)) {
        staged.push_back(i);
        stagedBytes += plan[i].count;
        break;
      }
    }
  }
  if (!staged.empty()) {
    void* copy = nullptr;
    MIXCCL_CHECK(commScratch(comm, 1, stagedBytes, &copy));
    auto* at = static_cast<char*>(copy);
    for (size_t i : staged) {
      MIXCCL_CHECK(comm->device->copy(at, exec.buffers[kFirstUserBuf + i], plan[i].count));
      exec.buffers[kFirstUserBuf + i] = at;
      at += plan[i].count;
    }
  }
  Schedule schedule = buildP2PSchedule(plan);
  exec.schedule = &schedule;
  return runSchedule(comm, exec);
}

}  // namespace

Status runOps(mixcclComm* comm, std::span<const Op> ops) {
  // Stream-ordered when the device has streams: one gate per distinct stream, then the proxy thread
  // runs the operations (core/stream_proxy.h). The device decides what a NULL stream means (cuda:
  // the legacy default stream, as NCCL; cpu and plugins: no gate, the call runs to completion).
  std::vector<std::unique_ptr<StreamGate>> gates;
  for (size_t i = 0; i < ops.size(); ++i) {
    mixcclStream_t s = ops[i].stream;
    bool seen = false;
    for (size_t j = 0; j < i && !seen; ++j) seen = ops[j].stream == s;
    if (seen) continue;
    std::unique_ptr<StreamGate> gate;
    MIXCCL_CHECK(comm->device->openGate(s, &gate));
    if (gate) gates.push_back(std::move(gate));
  }
  if (gates.empty()) {
    // No stream (a plugin's NULL stream): runs here, after any earlier call still on the proxy.
    std::shared_ptr<StreamProxy> proxy;
    if (comm->hasProxy.load(std::memory_order_acquire)) {  // no lock on the cpu's calls, which never make one
      std::lock_guard<std::mutex> lock(comm->errorMutex);
      proxy = comm->proxy;
    }
    if (proxy) MIXCCL_CHECK(proxy->waitIdle(comm->aborted, comm->timeoutSeconds));
    return runOpsNow(comm, ops);
  }
  {
    std::lock_guard<std::mutex> lock(comm->errorMutex);
    if (!comm->fatalError.empty()) {  // refuse now, while the caller can still be told
      return errorStatus(mixcclInvalidUsage, "%s rank %d cannot run more operations after an earlier failure: %s",
                         comm->name.c_str(), comm->rank, comm->fatalError.c_str());
    }
    if (!comm->proxy) {
      comm->proxy = std::make_shared<StreamProxy>(comm);
      comm->hasProxy.store(true, std::memory_order_release);
    }
  }
  // The operators the queued operations use are copied now: the user may destroy them on return.
  std::vector<Op> queued(ops.begin(), ops.end());
  for (Op& op : queued) {
    if (!reduces(op.collective) || static_cast<int>(op.redop) < mixcclNumOps) continue;
    std::lock_guard<std::mutex> lock(comm->redOpMutex);
    auto it = comm->redOps.find(static_cast<int>(op.redop));
    if (it == comm->redOps.end()) {
      return errorStatus(mixcclInvalidArgument, "reduction operator %d is neither built in nor created on this "
                         "communicator (or it was destroyed)", static_cast<int>(op.redop));
    }
    op.preMulSum = std::make_shared<const PreMulSumOp>(it->second);
  }
  comm->proxy->enqueue(queued, std::move(gates));
  return Status::ok();
}

Status runOpsNow(mixcclComm* comm, std::span<const Op> ops) {
  if (comm->hasFatalError.load(std::memory_order_acquire)) {
    std::lock_guard<std::mutex> lock(comm->errorMutex);
    if (!comm->fatalError.empty()) {
      return errorStatus(mixcclInvalidUsage, "%s rank %d cannot run more operations after an earlier failure: %s",
                         comm->name.c_str(), comm->rank, comm->fatalError.c_str());
    }
  }
  ActiveOp active(comm);
  Status st;
  std::vector<const Op*> p2p;
  for (const Op& op : ops) {
    if (op.collective == Collective::SendRecv) {
      p2p.push_back(&op);
      continue;
    }
    uint64_t seq = ++comm->opCount;
    if (comm->checkSignatures) {  // MIXCCL_CHECK=1 (off: this test is all it costs)
      st = checkSignatures(comm, op, seq);
      if (!st.isOk()) break;
    }
    if (comm->history) comm->history->begin(seq, op.collective, op.count, op.type, op.redop, op.root);
    st = runCollective(comm, op, seq);
    if (comm->history) comm->history->end(st.isOk());
    if (!st.isOk()) break;
  }
  if (st.isOk() && !p2p.empty()) {
    if (comm->history) {
      size_t bytes = 0;
      for (const Op* op : p2p) bytes += op->count * dataTypeSize(op->type);
      comm->history->begin(comm->opCount, Collective::SendRecv, bytes, mixcclUint8, mixcclSum, -1);
    }
    if (comm->checkSignatures) st = checkPointToPointSignatures(comm, p2p);  // MIXCCL_CHECK=1
    if (st.isOk()) st = runPointToPoint(comm, p2p);
    if (comm->history) comm->history->end(st.isOk());
  }
  if (!st.isOk()) {
    st = st.withContext(comm->name + ": ");
    bool fatal = st.code() == mixcclSystemError || st.code() == mixcclInternalError || st.code() == mixcclRemoteError;
    std::lock_guard<std::mutex> lock(comm->errorMutex);
    comm->lastError = st.message();
    if (fatal && comm->fatalError.empty()) {
      comm->fatalError = st.message();
      comm->hasFatalError.store(true, std::memory_order_release);
    }
    if (fatal) {
      int expected = mixcclSuccess;
      comm->asyncError.compare_exchange_strong(expected, st.code());
    }
  }
  return st;
}

}  // namespace mixccl
