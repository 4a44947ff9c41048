#include "core/shm_fastpath.h"

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <climits>
#include <cstring>
#include <string>

#include "algorithms/algorithm.h"
#include "backends/transports/setup_agreement.h"
#include "backends/transports/shm/doorbell.h"
#include "backends/transports/shm/shm_segment.h"
#include "backends/transports/shm/spin.h"
#include "core/comm.h"
#include "core/env.h"
#include "core/log.h"
#include "core/op_history.h"
#include "core/peer_liveness.h"
#include "core/tuner.h"

namespace mixccl {
namespace {

using spin::cpuRelax;
using spin::nowNs;

// Why two slots per rank are enough (slot k % 2 holds operation k's input, flag line k % 2 its
// sequence word; everything below holds for the flag lines as for the slots):
// rank r writes its slot for operation k only after it finished operation k-1, and finishing k-1
// took seeing every peer's sequence word at k-1 or more. A peer q publishes k-1 at the start of its
// operation k-1, after it finished operation k-2, the last one that read r's slot k % 2. q's reads
// of that slot come before q's release store of k-1, which r's acquire load saw: they happen
// before r's new write. Conversely q, while reading r's slot for operation k-2, cannot meet r's data
// for k: r cannot start k before q publishes k-1. And a peer is never more than one operation ahead
// of a rank that waits for it (starting k+1 needs this rank's k), so flag line k % 2 holds k-2 or k,
// and "word >= k" is the test.
constexpr uint32_t kMagic = 0x6d786670;  // "mxfp"
constexpr uint32_t kVersion = 1;
constexpr size_t kLine = 64;
constexpr size_t kHeaderBytes = 2 * kLine;  // header line, then the doorbell line
// Per rank: two flag lines (one per parity), each a sequence word plus room for a tiny input, then
// two slots. An input of up to kInlineBytes travels in its flag line: a peer then pulls one cache
// line per operation instead of two.
constexpr size_t kFlagLines = 2;
constexpr size_t kInlineOffset = 16;
constexpr size_t kInlineBytes = kLine - kInlineOffset;

struct alignas(kLine) SegmentHeader {
  uint32_t magic;
  uint32_t version;
  uint32_t nranks;
  uint32_t pad;
  uint64_t slotBytes;
};

// Publishers ring only when someone sleeps: the common case costs one load, no system call.
struct alignas(kLine) Bell {
  uint32_t word;
  uint32_t sleepers;
};

constexpr uint64_t kYieldBudgetNs = 2'000'000;      // as the shm transport: yield ~2 ms, then sleep
constexpr uint64_t kSleepSliceNs = 100'000'000;     // re-check abort, deadline and liveness this often
constexpr uint64_t kLivenessPeriodNs = 250'000'000;  // as the engine
constexpr uint64_t kDeathSettleNs = 100'000'000;     // let other exits settle before naming the dead

SegmentHeader* header(unsigned char* base) { return reinterpret_cast<SegmentHeader*>(base); }
Bell* bell(unsigned char* base) { return reinterpret_cast<Bell*>(base + kLine); }
std::atomic_ref<uint32_t> bellWord(unsigned char* base) { return std::atomic_ref<uint32_t>(bell(base)->word); }
std::atomic_ref<uint32_t> bellSleepers(unsigned char* base) { return std::atomic_ref<uint32_t>(bell(base)->sleepers); }

// What a call is, in one word: count (up to 2^40), data type, reduction, and whether the input was
// pre-scaled or the output divided (average, pre-multiplied sums).
uint64_t callSignature(size_t count, mixcclDataType_t type, ReduceOp op, bool preScaled, bool postDivide) {
  return (static_cast<uint64_t>(count) << 24) | (static_cast<uint64_t>(static_cast<uint8_t>(type)) << 16) |
         (static_cast<uint64_t>(static_cast<uint8_t>(op)) << 8) | (preScaled ? 2u : 0u) | (postDivide ? 1u : 0u);
}

std::string describeSignature(uint64_t sig) {
  const size_t count = static_cast<size_t>(sig >> 24);
  const auto type = static_cast<mixcclDataType_t>((sig >> 16) & 0xff);
  const auto op = static_cast<ReduceOp>((sig >> 8) & 0xff);
  std::string text = std::to_string(count) + " x " + dataTypeName(type) + ", " + reduceOpName(op);
  if (sig & 2) text += ", pre-scaled";
  if (sig & 1) text += ", averaged";
  return text;
}

Status signatureMismatch(const char* what, int peer, uint64_t theirs, uint64_t mine) {
  return errorStatus(mixcclInvalidUsage,
                     "%s: ranks disagree on the all-reduce: rank %d called it with %s, this rank with %s; every rank "
                     "must pass the same count, data type and reduction",
                     what, peer, describeSignature(theirs).c_str(), describeSignature(mine).c_str());
}

struct Eligibility {
  uint64_t slotBytes;
  uint8_t eligible;
  uint8_t pad[7];
};

// Why this rank cannot use the fast path, or "" when it can.
std::string localObstacle(const mixcclComm* comm, int64_t enabled) {
  if (enabled == 0) return "MIXCCL_FASTPATH=0";
  if (comm->nranks < 2) return "a single rank";
  if (comm->nranks > ShmFastPath::kMaxRanks) return strFormat("more than %d ranks", ShmFastPath::kMaxRanks);
  if (std::strcmp(comm->device->kind(), "cpu") != 0) return strFormat("device %s is not cpu", comm->device->kind());
  if (static_cast<int>(comm->localRanks.size()) != comm->nranks) return "ranks on other hosts";
  for (int p = 0; p < comm->nranks; ++p) {
    size_t i = static_cast<size_t>(p);
    if (std::strcmp(comm->peers[i].deviceKind, "cpu") != 0) return strFormat("rank %d's device is not cpu", p);
    if (p == comm->rank) continue;
    const Transport* t = comm->linkOwner[i];
    if (t == nullptr || std::strcmp(t->name(), "shm") != 0) {
      return strFormat("rank %d is reached over %s, not shm", p, t == nullptr ? "nothing" : t->name());
    }
  }
  return "";
}

}  // namespace

Status ShmFastPath::create(mixcclComm* comm, std::unique_ptr<ShmFastPath>* out) {
  out->reset();
  const int64_t enabled = env::getInt("FASTPATH", 1);
  const int64_t slotBytes = env::getInt("FASTPATH_BYTES", static_cast<int64_t>(kDefaultSlotBytes));
  if (slotBytes < 64 || slotBytes % 64 != 0 || slotBytes > (int64_t{1} << 24)) {
    return errorStatus(mixcclInvalidArgument, "MIXCCL_FASTPATH_BYTES=%lld must be a multiple of 64 between 64 and "
                       "16 MiB", static_cast<long long>(slotBytes));
  }
  // Every rank must agree, or one would wait in the fast path for peers that took the engine.
  std::string obstacle = localObstacle(comm, enabled);
  std::vector<Eligibility> all(static_cast<size_t>(comm->nranks));
  Eligibility& mine = all[static_cast<size_t>(comm->rank)];
  mine.slotBytes = static_cast<uint64_t>(slotBytes);
  mine.eligible = obstacle.empty() ? 1 : 0;
  MIXCCL_CHECK(comm->bootstrap->allGather(all.data(), sizeof(Eligibility)).withContext("shm fast path setup: "));
  for (int r = 0; r < comm->nranks && obstacle.empty(); ++r) {
    const Eligibility& e = all[static_cast<size_t>(r)];
    if (e.eligible == 0) obstacle = strFormat("rank %d cannot use it", r);
    else if (e.slotBytes != mine.slotBytes) obstacle = strFormat("rank %d sets another MIXCCL_FASTPATH_BYTES", r);
  }
  if (!obstacle.empty()) {
    MIXCCL_INFO("%s rank %d: shm fast path for small all-reduce off (%s)", comm->name.c_str(), comm->rank,
                obstacle.c_str());
    return Status::ok();
  }

  std::unique_ptr<ShmFastPath> fp(new ShmFastPath());
  fp->comm_ = comm;
  fp->rank_ = comm->rank;
  fp->nranks_ = comm->nranks;
  fp->slotBytes_ = static_cast<size_t>(slotBytes);
  fp->rankStride_ = kFlagLines * kLine + 2 * fp->slotBytes_;
  fp->oneshot_ = findAlgorithm(Collective::AllReduce, "oneshot");
  if (fp->oneshot_ == nullptr) return errorStatus(mixcclInternalError, "the oneshot all-reduce is not registered");
  const size_t bytes = kHeaderBytes + static_cast<size_t>(comm->nranks) * fp->rankStride_;
  const std::string name = strFormat("/mixccl-%016llx-fast", static_cast<unsigned long long>(comm->commHash));

  // Rank 0 creates and sizes the segment, the others map it, then rank 0 removes the name: /dev/shm
  // is clean as soon as init returns, however the processes end.
  Status created;
  if (comm->rank == 0) {
    created = ShmSegment::create(name, bytes, &fp->segment_);
    if (created.isOk()) {
      auto* h = header(static_cast<unsigned char*>(fp->segment_->data()));
      h->nranks = static_cast<uint32_t>(comm->nranks);
      h->slotBytes = fp->slotBytes_;
      h->version = kVersion;
      h->magic = kMagic;
    }
  }
  MIXCCL_CHECK(agreeOnSetup(comm->bootstrap.get(), created, "shm fast path", "creating its shared segment"));
  Status opened;
  if (comm->rank != 0) {
    opened = ShmSegment::open(name, &fp->segment_);
    if (opened.isOk()) {
      auto* h = header(static_cast<unsigned char*>(fp->segment_->data()));
      if (fp->segment_->size() != bytes || h->magic != kMagic || h->version != kVersion ||
          h->nranks != static_cast<uint32_t>(comm->nranks) || h->slotBytes != fp->slotBytes_) {
        opened = errorStatus(mixcclInternalError, "shared segment %s is not this communicator's fast-path segment "
                             "(%zu bytes, expected %zu; another mixccl version on rank 0?)", name.c_str(),
                             fp->segment_->size(), bytes);
      }
    }
  }
  Status agreed = agreeOnSetup(comm->bootstrap.get(), opened, "shm fast path", "mapping its shared segment");
  if (comm->rank == 0 && fp->segment_) fp->segment_->unlinkName();
  MIXCCL_CHECK(agreed);
  fp->base_ = static_cast<unsigned char*>(fp->segment_->data());

  // Waiting: as the shm transport (backends/transports/shm/doorbell.h). With more ranks than cores,
  // a spinning waiter only keeps the peer it waits for off the core: yield at once.
  fp->spinNs_ = doorbell::spinNsFor(comm->ranksOutnumberCpus());
  MIXCCL_INFO("%s rank %d: shm fast path for small all-reduce on (%zu-byte slots, spin %llu ns)", comm->name.c_str(),
              comm->rank, fp->slotBytes_, static_cast<unsigned long long>(fp->spinNs_));
  *out = std::move(fp);
  return Status::ok();
}

ShmFastPath::~ShmFastPath() = default;

void ShmFastPath::interrupt() {
  if (base_ == nullptr) return;
  bellWord(base_).fetch_add(1, std::memory_order_seq_cst);
  syscall(SYS_futex, &bell(base_)->word, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

double ShmFastPath::predictUs(size_t bytes, int nranks, double copyGBps, double reduceGBps, double shmAlphaUs,
                              double shmGBps, double oversubscription, double waitUs) {
  // Fixed cost: the API call, one cache-line round trip per peer for the sequence words, and the
  // bookkeeping, measured at 0.25 us for 2 ranks on dedicated cores (docs/performance.md); each
  // further peer adds a cache miss. Then the copy in, the n-1 reductions, and pulling n-1 peers'
  // slots across cores at shm bandwidth. Oversubscribed hosts stretch it all, and there the one
  // round waits for peers that must first get a core: priced as the engine's rounds are, the shm
  // link's calibrated latency (which then includes context switches) stretched by the
  // oversubscription, plus the host's fixed cost of a waiting round (HostInfo::waitUs).
  const double n = static_cast<double>(std::max(nranks, 2));
  const double b = static_cast<double>(bytes) / 1e3;  // GB/s -> bytes per us
  double us = 0.25 + 0.05 * (n - 2);
  if (copyGBps > 0) us += b / copyGBps;
  if (reduceGBps > 0) us += (n - 1) * b / reduceGBps;
  if (shmGBps > 0) us += (n - 1) * b / shmGBps;
  if (oversubscription > 1) us = (us + std::max(0.0, shmAlphaUs)) * oversubscription;
  return us + std::max(0.0, waitUs);
}

unsigned char* ShmFastPath::flagLine(int r, uint64_t seq) const {
  return base_ + kHeaderBytes + static_cast<size_t>(r) * rankStride_ + static_cast<size_t>(seq & 1) * kLine;
}

int ShmFastPath::firstMissing(uint64_t seq, int from) const {
  for (int r = from; r < nranks_; ++r) {
    if (r == rank_) continue;
    auto* word = reinterpret_cast<uint64_t*>(flagLine(r, seq));
    if (std::atomic_ref<uint64_t>(*word).load(std::memory_order_acquire) < seq) return r;
  }
  return -1;
}

Status ShmFastPath::decide(size_t count, mixcclDataType_t type, bool* use, AlgorithmChoice* trial) {
  *use = false;
  const size_t es = dataTypeSize(type);
  const size_t bytes = count * es;
  if (bytes > slotBytes_ || count == 0) return Status::ok();
  // Ask the tuner once per size bucket (as it caches its own decisions), then read the copy.
  const int bucket = static_cast<int>(std::bit_width(bytes));
  const int esLog = std::min(3, static_cast<int>(std::bit_width(es)) - 1);
  uint8_t& decided = decision_[bucket][esLog];
  if (decided == 0) {
    AlgorithmChoice choice;
    MIXCCL_CHECK(chooseAlgorithm(comm_, Collective::AllReduce, count, type, &choice, true));
    if (choice.trial) {  // not final: ask again next call
      *use = choice.algorithm == oneshot_;
      *trial = std::move(choice);
      return Status::ok();
    }
    decided = choice.algorithm == oneshot_ ? 1 : 2;
  }
  *use = decided == 1;
  return Status::ok();
}

Status ShmFastPath::allReduce(const void* sendbuf, void* recvbuf, size_t count, mixcclDataType_t type, ReduceOp op,
                              const void* preScale, bool postDivide, const char* what) {
  const size_t bytes = count * dataTypeSize(type);
  Device* dev = comm_->device.get();
  const uint64_t seq = ++seq_;
  const size_t parity = static_cast<size_t>(seq & 1);
  const bool inlined = bytes <= kInlineBytes;
  auto slot = [&](int r) {
    unsigned char* area = base_ + kHeaderBytes + static_cast<size_t>(r) * rankStride_;
    return inlined ? area + parity * kLine + kInlineOffset : area + kFlagLines * kLine + parity * slotBytes_;
  };
  // 1. My input into my slot (pre-scaled for average and pre-multiplied sums). In place is the same:
  // the output is written only in step 4, from the slots.
  if (preScale != nullptr) MIXCCL_CHECK(dev->scale(slot(rank_), sendbuf, count, type, preScale));
  else MIXCCL_CHECK(dev->copy(slot(rank_), sendbuf, bytes));
  // 2. Publish what this call is (count, type, reduction) beside the sequence word, then the word
  // (seq_cst: pairs with a sleeper's registration, see waitForPeers; it also releases the signature).
  const uint64_t signature = callSignature(count, type, op, preScale != nullptr, postDivide);
  auto* myWord = reinterpret_cast<uint64_t*>(flagLine(rank_, seq));
  std::atomic_ref<uint64_t>(myWord[1]).store(signature, std::memory_order_relaxed);
  std::atomic_ref<uint64_t>(*myWord).store(seq, std::memory_order_seq_cst);
  if (bellSleepers(base_).load(std::memory_order_seq_cst) != 0) interrupt();
  // 3. Every peer's input.
  if (firstMissing(seq, 0) >= 0) MIXCCL_CHECK(waitForPeers(seq, what));
  // Ranks that disagree on the call would otherwise read each other's slots past what was written:
  // every rank compares every peer's signature with its own, so all of them fail together (a peer's
  // signature for this operation stays until it publishes seq + 2, which needs ours for seq + 1).
  for (int r = 0; r < nranks_; ++r) {
    const uint64_t theirs =
        std::atomic_ref<uint64_t>(reinterpret_cast<uint64_t*>(flagLine(r, seq))[1]).load(std::memory_order_relaxed);
    if (theirs != signature) return signatureMismatch(what, r, theirs, signature);
  }
  // 4. Reduce in rank order: the same operand order, hence the same bits, on every rank.
  MIXCCL_CHECK(dev->reduce(recvbuf, slot(0), slot(1), count, type, op));
  for (int r = 2; r < nranks_; ++r) MIXCCL_CHECK(dev->reduce(recvbuf, recvbuf, slot(r), count, type, op));
  if (postDivide) MIXCCL_CHECK(dev->divide(recvbuf, recvbuf, count, type, static_cast<uint64_t>(nranks_)));
  ++completed_;
  return Status::ok();
}

Status ShmFastPath::waitForPeers(uint64_t seq, const char* what) {
  int missing = firstMissing(seq, 0);
  if (missing < 0) return Status::ok();
  // Spin: a peer running on another core answers within a few microseconds. The clock is first read
  // after 64 polls: most waits end before that, and a read costs a tenth of a small all-reduce.
  if (spinNs_ > 0) {
    uint64_t start = 0;
    for (int i = 1;; ++i) {
      missing = firstMissing(seq, missing);
      if (missing < 0) return Status::ok();
      cpuRelax();
      if (i % 64 != 0) continue;
      if (start == 0) start = nowNs();
      else if (nowNs() - start >= spinNs_) break;
    }
  }
  // Yield: the peer may be queued behind us on our core.
  uint64_t start = nowNs();
  for (int i = 1;; ++i) {
    sched_yield();
    missing = firstMissing(seq, missing);
    if (missing < 0) return Status::ok();
    if (i % 16 == 0) {
      if (comm_->aborted.load(std::memory_order_acquire)) break;
      if (nowNs() - start >= kYieldBudgetNs) break;
    }
  }
  // Sleep on the futex in slices, re-checking abort, the deadline (no progress for the communicator
  // timeout) and that the peers on this host still live.
  OpHistory* history = comm_->history.get();
  bool published = false;
  const uint64_t timeoutNs = static_cast<uint64_t>(comm_->timeoutSeconds) * 1000000000ull;
  uint64_t lastProgress = start, nextLiveness = nowNs() + kLivenessPeriodNs;
  for (;;) {
    if (comm_->aborted.load(std::memory_order_acquire)) {
      return errorStatus(mixcclSystemError, "rank %d: the communicator was aborted (mixcclCommAbort) during %s "
                         "(oneshot, shm fast path)", rank_, what);
    }
    uint64_t now = nowNs();
    if (now - lastProgress >= timeoutNs) return timedOut(seq, what);
    if (now >= nextLiveness) {
      if (!deadPeers(seq, what).isOk()) {
        struct timespec settle = {0, static_cast<long>(kDeathSettleNs)};
        nanosleep(&settle, nullptr);
        return deadPeers(seq, what);
      }
      nextLiveness = now + kLivenessPeriodNs;
    }
    if (!published && history != nullptr) {
      history->setAlgorithm("oneshot (shm fast path)", 1);
      std::vector<std::pair<int, bool>> waiting;
      for (int r = missing; r >= 0; r = firstMissing(seq, r + 1)) waiting.emplace_back(r, false);
      history->setWaiting(waiting);
      published = true;
    }
    uint32_t seen = bellWord(base_).load(std::memory_order_seq_cst);
    bellSleepers(base_).fetch_add(1, std::memory_order_seq_cst);
    int stillMissing = firstMissing(seq, missing);
    if (stillMissing >= 0 && !comm_->aborted.load(std::memory_order_seq_cst)) {
      uint64_t sliceNs = std::min(kSleepSliceNs, timeoutNs - std::min(timeoutNs, now - lastProgress));
      struct timespec ts = {static_cast<time_t>(sliceNs / 1000000000ull), static_cast<long>(sliceNs % 1000000000ull)};
      syscall(SYS_futex, &bell(base_)->word, FUTEX_WAIT, seen, &ts, nullptr, 0);
    }
    bellSleepers(base_).fetch_sub(1, std::memory_order_seq_cst);
    int next = firstMissing(seq, missing);
    if (next < 0) return Status::ok();
    if (next != missing) {
      missing = next;
      lastProgress = nowNs();
      published = false;
    }
  }
}

Status ShmFastPath::deadPeers(uint64_t seq, const char* what) const {
  std::string dead;
  for (int p = 0; p < nranks_; ++p) {
    size_t i = static_cast<size_t>(p);
    if (!comm_->watchPid[i] || processAlive(comm_->peers[i].pid)) continue;
    dead += strFormat("%srank %d (pid %d)", dead.empty() ? "peer " : ", ", p, comm_->peers[i].pid);
  }
  if (dead.empty()) return Status::ok();
  std::string waiting;
  for (int r = firstMissing(seq, 0); r >= 0; r = firstMissing(seq, r + 1)) {
    waiting += strFormat("%s%d", waiting.empty() ? "" : ", ", r);
  }
  return errorStatus(mixcclSystemError, "%s on this host died or exited (process gone) while rank %d was waiting "
                     "in %s (oneshot, shm fast path) for rank(s) %s; the communicator cannot complete collectives "
                     "any more: abort it (mixcclCommAbort)", dead.c_str(), rank_, what,
                     waiting.empty() ? "none" : waiting.c_str());
}

Status ShmFastPath::timedOut(uint64_t seq, const char* what) const {
  std::string waiting;
  for (int r = firstMissing(seq, 0); r >= 0; r = firstMissing(seq, r + 1)) {
    waiting += strFormat("%srank %d", waiting.empty() ? "" : ", ", r);
  }
  if (comm_->history) MIXCCL_WARN("%s", comm_->history->describe("MIXCCL_TIMEOUT expired").c_str());
  return errorStatus(mixcclSystemError,
                     "rank %d made no progress for %d s (MIXCCL_TIMEOUT) in %s (oneshot, shm fast path) waiting "
                     "for %s to arrive: did those ranks call the same collective with the same arguments, and are "
                     "they still alive? (the last operations of this rank are printed to the log; set "
                     "MIXCCL_CHECK=1 to compare calls)", rank_, comm_->timeoutSeconds, what,
                     waiting.empty() ? "no rank" : waiting.c_str());
}

}  // namespace mixccl
