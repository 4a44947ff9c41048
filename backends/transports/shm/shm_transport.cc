// The shared-memory transport: ranks on one host, one ring per direction per peer pair, futex
// doorbells for wake-ups. Setup creates every name, lets every peer map it, then unlinks it, so
// /dev/shm is clean as soon as the communicator is up, whatever happens to the processes later.
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "backends/transports/setup_agreement.h"
#include "backends/transports/shm/cross_memory.h"
#include "backends/transports/shm/doorbell.h"
#include "backends/transports/shm/shm_link.h"
#include "backends/transports/shm/shm_ring.h"
#include "backends/transports/shm/shm_segment.h"
#include "backends/transports/transport.h"
#include "core/env.h"
#include "core/log.h"

namespace mixccl {
namespace {

constexpr int64_t kDefaultSlots = 8;
constexpr int64_t kDefaultSlotBytes = 256 * 1024;
constexpr size_t kControlBytes = 4096;
// Messages from this size up are read straight from the sender's memory where the kernel allows it
// (one copy instead of two; below it the system call costs more than the copy it saves).
constexpr int64_t kDefaultDirectReadBytes = 64 * 1024;

// MIXCCL_SHM_CMA_BYTES unset: kDefaultDirectReadBytes where this host's kernel read is measured to
// pay (cross_memory::readPays), else 0. Measured and said once per process.
int64_t defaultDirectReadBytes() {
  static const int64_t bytes = [] {
    const cross_memory::ReadCost& cost = cross_memory::measuredReadCost();
    const bool pays = cross_memory::readPays(cost);
    if (!cost.measured) {
      MIXCCL_INFO("shm transport: process_vm_readv failed on this process's own memory: every message goes "
                  "through the shared rings");
    } else {
      MIXCCL_INFO("shm transport: reading %zu KiB from another process costs %.1f us here, a memcpy %.1f us "
                  "(%.1fx): %s (MIXCCL_SHM_CMA_BYTES overrides)",
                  cross_memory::kProbeBytes >> 10, cost.readUs, cost.memcpyUs, cost.readUs / cost.memcpyUs,
                  pays ? "messages of 64 KiB and more are read from the sender's memory"
                       : "slower than the rings' two copies, so every message goes through the rings");
    }
    return pays ? kDefaultDirectReadBytes : int64_t{0};
  }();
  return bytes;
}

// A rank's control segment: its doorbell, which every shm peer maps to ring it.
struct ShmControlBlock {
  DoorbellWord bell;
  int32_t pid;
  uint64_t pidAddress;  // where `pid` lies in the owner's own address space: peers probe it (cross_memory.h)
};

std::string controlName(uint64_t commHash, int rank) {
  return strFormat("/mixccl-%016llx-ctl-%d", static_cast<unsigned long long>(commHash), rank);
}

std::string ringName(uint64_t commHash, int src, int dst) {
  return strFormat("/mixccl-%016llx-%d-%d", static_cast<unsigned long long>(commHash), src, dst);
}

class ShmTransport final : public Transport {
 public:
  ShmTransport(const TransportContext& ctx, std::vector<int> peers)
      : rank_(ctx.rank), commHash_(ctx.commHash), peers_(std::move(peers)),
        links_(static_cast<size_t>(ctx.nranks)) {
    wake_.ownBell = &localBell_;
    // More ranks on this host than CPUs they may run on together: skip the pure spin and yield at
    // once, so that the peer we wait for gets the core (see doorbell.cc).
    spinNs_ = doorbell::spinNsFor(ctx.ranksOutnumberCpus);
  }

  const char* name() const override { return "shm"; }

  Link* link(int peer) override {
    if (peer < 0 || static_cast<size_t>(peer) >= links_.size()) return nullptr;
    return links_[static_cast<size_t>(peer)].get();
  }

  void waitForActivity(uint64_t timeoutNs) override {
    // An interrupt since the last return must not be slept through, whenever it came.
    uint64_t interrupts = interrupts_.load(std::memory_order_acquire);
    uint32_t seen = wake_.sweepSeenValid ? wake_.sweepSeen : doorbell::sequence(wake_.ownBell);
    wake_.sweepSeenValid = false;
    if (interrupts != interruptsSeen_) {
      interruptsSeen_ = interrupts;
      return;
    }
    doorbell::sleep(wake_.ownBell, seen, timeoutNs, spinNs_);
    interruptsSeen_ = interrupts_.load(std::memory_order_acquire);
  }

  void interrupt() override {
    interrupts_.fetch_add(1, std::memory_order_release);
    doorbell::ring(wake_.ownBell);
  }

  Status checkConfig();
  Status createOwnSegments();
  Status openPeerSegments();
  void unlinkOwnNames() {
    for (auto& s : segments_) s->unlinkName();
  }

 private:
  Status openRing(int src, ShmRingView* view);

  int rank_;
  uint64_t commHash_;
  std::vector<int> peers_;
  uint32_t slots_ = 0;
  size_t slotBytes_ = 0;
  std::vector<std::unique_ptr<ShmSegment>> segments_;  // every mapping; outlives the links
  std::vector<std::unique_ptr<ShmLink>> links_;        // by peer rank
  std::vector<ShmRingView> outRings_;                  // by position in peers_
  DoorbellWord localBell_{};                           // used when this rank has no shm peers
  ShmWakeState wake_;
  std::atomic<uint64_t> interrupts_{0};
  uint64_t interruptsSeen_ = 0;
  uint64_t spinNs_ = doorbell::kDedicatedSpinNs;
  size_t directReadBytes_ = 0;
};

Status ShmTransport::checkConfig() {
  int64_t directBytes = env::getInt("SHM_CMA_BYTES", -1);
  if (directBytes < 0 && env::get("SHM_CMA_BYTES")) {
    return errorStatus(mixcclInvalidArgument,
                       "MIXCCL_SHM_CMA_BYTES=%lld must be 0 (never read a peer's memory directly) or a size in bytes",
                       static_cast<long long>(directBytes));
  }
  if (directBytes < 0) directBytes = defaultDirectReadBytes();
  directReadBytes_ = static_cast<size_t>(directBytes);
  int64_t slots = env::getInt("SHM_SLOTS", kDefaultSlots);
  int64_t slotBytes = env::getInt("SHM_SLOT_BYTES", kDefaultSlotBytes);
  if (slots < 1 || slots > 4096) {
    return errorStatus(mixcclInvalidArgument, "MIXCCL_SHM_SLOTS=%lld must be between 1 and 4096",
                       static_cast<long long>(slots));
  }
  if (slotBytes < 64 || slotBytes % 64 != 0 || slotBytes > (int64_t{1} << 30)) {
    return errorStatus(mixcclInvalidArgument,
                       "MIXCCL_SHM_SLOT_BYTES=%lld must be a multiple of 64 between 64 and 1 GiB",
                       static_cast<long long>(slotBytes));
  }
  slots_ = static_cast<uint32_t>(slots);
  slotBytes_ = static_cast<size_t>(slotBytes);
  for (int p : peers_) {
    if (p < 0 || static_cast<size_t>(p) >= links_.size() || p == rank_) {
      return errorStatus(mixcclInternalError, "shm transport: rank %d asked to serve peer %d of %zu ranks",
                         rank_, p, links_.size());
    }
  }
  return Status::ok();
}

Status ShmTransport::createOwnSegments() {
  MIXCCL_CHECK(checkConfig());
  if (peers_.empty()) return Status::ok();
  std::unique_ptr<ShmSegment> control;
  MIXCCL_CHECK(ShmSegment::create(controlName(commHash_, rank_), kControlBytes, &control));
  auto* block = static_cast<ShmControlBlock*>(control->data());
  block->pid = static_cast<int32_t>(getpid());
  block->pidAddress = reinterpret_cast<uintptr_t>(&block->pid);
  wake_.ownBell = &block->bell;
  segments_.push_back(std::move(control));

  const size_t ringBytes = shmRingBytes(slots_, slotBytes_);
  for (int peer : peers_) {
    std::unique_ptr<ShmSegment> ring;
    MIXCCL_CHECK(ShmSegment::create(ringName(commHash_, rank_, peer), ringBytes, &ring));
    auto* ctl = static_cast<ShmRingControl*>(ring->data());
    ctl->header.magic = kShmRingMagic;
    ctl->header.version = kShmRingVersion;
    ctl->header.slots = slots_;
    ctl->header.slotBytes = slotBytes_;
    ctl->header.dataOffset = shmRingDataOffset(slots_);
    ctl->header.senderRank = rank_;
    ctl->header.receiverRank = peer;
    ShmRingView view;
    view.control = ctl;
    view.data = static_cast<unsigned char*>(ring->data()) + ctl->header.dataOffset;
    view.slots = slots_;
    view.slotBytes = slotBytes_;
    outRings_.push_back(view);
    segments_.push_back(std::move(ring));
  }
  if (directReadBytes_ == 0) {
    MIXCCL_INFO("shm transport: rank %d created %zu rings of %u x %zu bytes; every message goes through them",
                rank_, peers_.size(), slots_, slotBytes_);
  } else {
    MIXCCL_INFO("shm transport: rank %d created %zu rings of %u x %zu bytes; messages of %zu bytes and more are "
                "read from the sender's memory where the kernel allows (MIXCCL_SHM_CMA_BYTES, 0: never)",
                rank_, peers_.size(), slots_, slotBytes_, directReadBytes_);
  }
  return Status::ok();
}

Status ShmTransport::openRing(int src, ShmRingView* view) {
  std::unique_ptr<ShmSegment> ring;
  MIXCCL_CHECK(ShmSegment::open(ringName(commHash_, src, rank_), &ring));
  auto* ctl = static_cast<ShmRingControl*>(ring->data());
  const std::string& name = ring->name();
  if (ring->size() < sizeof(ShmRingControl) || ctl->header.magic != kShmRingMagic ||
      ctl->header.version != kShmRingVersion) {
    return errorStatus(mixcclInternalError,
                       "shared memory segment %s is not a mixccl ring of this version (another "
                       "library version on rank %d?)", name.c_str(), src);
  }
  const ShmRingHeader& h = ctl->header;
  if (h.slots == 0 || h.slotBytes == 0 || h.slotBytes % 64 != 0 || h.senderRank != src ||
      h.receiverRank != rank_ || h.dataOffset != shmRingDataOffset(h.slots) ||
      ring->size() != shmRingBytes(h.slots, h.slotBytes)) {
    return errorStatus(mixcclInternalError,
                       "shared memory segment %s has an inconsistent header (%u slots of %llu bytes, "
                       "%zu bytes in all, from rank %d to rank %d)", name.c_str(), h.slots,
                       static_cast<unsigned long long>(h.slotBytes), ring->size(), h.senderRank,
                       h.receiverRank);
  }
  view->control = ctl;
  view->data = static_cast<unsigned char*>(ring->data()) + h.dataOffset;
  view->slots = h.slots;
  view->slotBytes = h.slotBytes;
  segments_.push_back(std::move(ring));
  return Status::ok();
}

Status ShmTransport::openPeerSegments() {
  for (size_t i = 0; i < peers_.size(); ++i) {
    const int peer = peers_[i];
    std::unique_ptr<ShmSegment> control;
    Status s = ShmSegment::open(controlName(commHash_, peer), &control);
    if (s.isOk() && control->size() < sizeof(ShmControlBlock)) {
      s = errorStatus(mixcclInternalError, "shared memory segment %s is too small", control->name().c_str());
    }
    ShmRingView in;
    if (s.isOk()) s = openRing(peer, &in);
    if (!s.isOk()) {
      return s.withContext(strFormat("shm transport: rank %d connecting to rank %d (does rank %d use shm "
                                     "for rank %d too?): ", rank_, peer, peer, rank_));
    }
    auto* peerBlock = static_cast<ShmControlBlock*>(control->data());
    segments_.push_back(std::move(control));
    ShmDirectReads direct;
    direct.bytes = directReadBytes_;
    if (directReadBytes_ > 0) {
      const char* why = "";
      if (cross_memory::probe(peerBlock->pid, peerBlock->pidAddress, peerBlock->pid, &why)) {
        direct.peerPid = peerBlock->pid;
        std::atomic_ref<uint64_t>(in.control->receiverReadsSender.value).store(1, std::memory_order_release);
      } else {
        MIXCCL_INFO("shm transport: rank %d cannot read rank %d's memory directly (%s; kernel.yama.ptrace_scope "
                    "above 0?), so its messages of any size come through the shared rings",
                    rank_, peer, why);
      }
    }
    links_[static_cast<size_t>(peer)] =
        std::make_unique<ShmLink>(peer, outRings_[i], in, &peerBlock->bell, &wake_, direct);
  }
  return Status::ok();
}

}  // namespace

Status createShmTransport(const TransportContext& ctx, const std::vector<int>& peers,
                          std::unique_ptr<Transport>* out) {
  auto transport = std::make_unique<ShmTransport>(ctx, peers);
  MIXCCL_CHECK(agreeOnSetup(ctx.bootstrap, transport->createOwnSegments(), "shm",
                            "creating their shared memory segments"));
  Status opened = agreeOnSetup(ctx.bootstrap, transport->openPeerSegments(), "shm",
                               "mapping their peers' shared memory segments");
  // Every peer has mapped what it needs (or setup failed everywhere): the names can go now.
  transport->unlinkOwnNames();
  MIXCCL_CHECK(opened);
  *out = std::move(transport);
  return Status::ok();
}

}  // namespace mixccl
