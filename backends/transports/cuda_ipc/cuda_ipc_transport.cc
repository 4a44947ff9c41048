#include "backends/transports/cuda_ipc/cuda_ipc_transport.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "backends/devices/device.h"
#include "backends/transports/shm/doorbell.h"
#include "backends/transports/shm/shm_segment.h"
#include "backends/transports/sink_feeder.h"
#include "core/env.h"

namespace mixccl {
namespace {

constexpr uint32_t kMaxSlots = 16;

// What the sender says about a posted slot; the receiver checks it against what it expects, so
// ranks that disagree on a collective get an error instead of each other's bytes.
struct SlotInfo {
  uint64_t messageBytes;
  uint64_t offset;
  uint64_t len;
};

// The messages from one sender into one receiver. Lives in the receiver's control segment; the
// sender writes `posted` and the slot infos, the receiver writes `consumed` and, once at setup,
// where the sender's ring starts in its device buffer.
struct Channel {
  alignas(64) std::atomic<uint64_t> posted;
  alignas(64) std::atomic<uint64_t> consumed;
  alignas(64) uint64_t ringOffset;
  SlotInfo slot[kMaxSlots];
};
static_assert(std::atomic<uint64_t>::is_always_lock_free, "shared-memory counters must be lock-free");

struct ControlHeader {
  DoorbellWord bell;  // rung by any peer that posted or freed a slot for this rank
};

size_t controlBytes(int nranks) { return sizeof(ControlHeader) + static_cast<size_t>(nranks) * sizeof(Channel); }
Channel* channelFrom(void* segment, int sender) {
  return reinterpret_cast<Channel*>(static_cast<char*>(segment) + sizeof(ControlHeader)) + sender;
}
DoorbellWord* bellOf(void* segment) { return &static_cast<ControlHeader*>(segment)->bell; }

std::string controlName(uint64_t commHash, int rank) {
  return strFormat("/mixccl-%016llx-ipc-%d", static_cast<unsigned long long>(commHash), rank);
}

// What every rank publishes while connecting (one bootstrap allGather).
struct Hello {
  int32_t ok = 0;      // 0: this rank failed to set up; its own error says why
  int32_t serves = 0;  // 1: it has cuda_ipc peers (a buffer, an event and a control segment)
  uint64_t slotBytes = 0;
  uint32_t slots = 0;
  uint32_t pad = 0;
  DeviceIpcHandle memory;
  DeviceIpcHandle event;
};

class CudaIpcTransport;

struct PeerPath {
  int peer = -1;
  char* recvRing = nullptr;       // in this rank's buffer: where the peer's chunks land
  char* peerBase = nullptr;       // the peer's buffer, mapped here (closeImported at the end)
  char* sendRing = nullptr;       // in the peer's buffer: where this rank's chunks go
  Channel* in = nullptr;          // peer -> this rank (in this rank's segment)
  Channel* out = nullptr;         // this rank -> peer (in the peer's segment)
  DoorbellWord* peerBell = nullptr;
  void* peerEvent = nullptr;      // the peer's interprocess event, imported
  std::unique_ptr<ShmSegment> peerSegment;
  uint64_t sendSeq = 0, recvSeq = 0;          // next chunk in each direction
  uint64_t sendTickets = 0, sendTurn = 0;     // transfers complete in the order posted
  uint64_t recvTickets = 0, recvTurn = 0;
};

class CudaIpcTransport final : public Transport {
 public:
  CudaIpcTransport(const TransportContext& ctx, CudaIpcGeometry g) : ctx_(ctx), geo_(g) {}
  ~CudaIpcTransport() override;

  const char* name() const override { return "cuda_ipc"; }
  bool movesDeviceMemory() const override { return true; }
  Link* link(int peer) override;
  void waitForActivity(uint64_t timeoutNs) override {
    uint64_t interrupts = interrupts_.load(std::memory_order_acquire);
    if (bell_ == nullptr) return;
    uint32_t seen = sweepValid_ ? sweepSeen_ : doorbell::sequence(bell_);
    sweepValid_ = false;
    if (interrupts != interruptsSeen_) {
      interruptsSeen_ = interrupts;
      return;
    }
    doorbell::sleep(bell_, seen, timeoutNs);
    interruptsSeen_ = interrupts_.load(std::memory_order_acquire);
  }
  void interrupt() override {
    interrupts_.fetch_add(1, std::memory_order_release);
    if (bell_ != nullptr) doorbell::ring(bell_);
  }

  // `setting` is the geometry read from the environment: when it failed, this rank fails the setup.
  Status connect(const std::vector<int>& peers, const Status& setting);

  // Called at the start of every transfer's progress: the doorbell value the next wait sleeps on
  // is the one seen before the first check, so a ring during the sweep is never slept through.
  void noteSweep() {
    if (!sweepValid_ && bell_ != nullptr) {
      sweepSeen_ = doorbell::sequence(bell_);
      sweepValid_ = true;
    }
  }
  Device* device() const { return ctx_.device; }
  const CudaIpcGeometry& geometry() const { return geo_; }
  void* ownEvent() const { return ownEvent_; }
  int rank() const { return ctx_.rank; }
  const std::atomic<bool>* aborted() const { return ctx_.aborted; }

 private:
  Status setUpOwn(const std::vector<int>& peers, Hello* hello);
  Status attachPeers(const std::vector<Hello>& hellos);

  TransportContext ctx_;
  CudaIpcGeometry geo_;
  std::vector<std::unique_ptr<PeerPath>> paths_;       // by peer rank (null: not served)
  std::vector<std::unique_ptr<Link>> links_;
  std::unique_ptr<ShmSegment> control_;
  DoorbellWord* bell_ = nullptr;
  void* buffer_ = nullptr;
  void* ownEvent_ = nullptr;
  bool sweepValid_ = false;
  uint32_t sweepSeen_ = 0;
  std::atomic<uint64_t> interrupts_{0};
  uint64_t interruptsSeen_ = 0;
};

class SendTransfer final : public Transfer {
 public:
  SendTransfer(CudaIpcTransport* t, PeerPath* p, MessageSource src)
      : t_(t), p_(p), src_(std::move(src)), ticket_(p->sendTickets++) {}
  bool done() const override { return done_; }
  Status progress(bool* moved) override {
    t_->noteSweep();
    if (done_ || p_->sendTurn != ticket_) return Status::ok();  // an earlier send to this peer goes first
    const CudaIpcGeometry& g = t_->geometry();
    while (offset_ < src_.bytes) {
      uint64_t seq = p_->sendSeq;
      if (seq - p_->out->consumed.load(std::memory_order_acquire) >= g.slots) return Status::ok();  // ring full
      size_t len = static_cast<size_t>(std::min<uint64_t>(g.slotBytes, src_.bytes - offset_));
      char* dst = p_->sendRing + (seq % g.slots) * g.slotBytes;
      Status st = src_.hostPtr != nullptr ? t_->device()->copy(dst, static_cast<const char*>(src_.hostPtr) + offset_, len)
                                          : src_.read(dst, offset_, len);
      // The event follows the copy on this rank's stream: the receiver's stream waits for it.
      if (st.isOk()) st = t_->device()->recordIpcEvent(t_->ownEvent());
      if (!st.isOk()) return st.withContext(strFormat("cuda_ipc send to rank %d: ", p_->peer));
      p_->out->slot[seq % g.slots] = {src_.bytes, offset_, len};
      p_->out->posted.store(seq + 1, std::memory_order_release);
      doorbell::ring(p_->peerBell);
      ++p_->sendSeq;
      offset_ += len;
      *moved = true;
    }
    done_ = true;
    ++p_->sendTurn;
    return Status::ok();
  }

 private:
  CudaIpcTransport* t_;
  PeerPath* p_;
  MessageSource src_;
  uint64_t ticket_;
  size_t offset_ = 0;
  bool done_ = false;
};

class RecvTransfer final : public Transfer {
 public:
  RecvTransfer(CudaIpcTransport* t, PeerPath* p, MessageSink sink)
      : t_(t), p_(p), sink_(std::move(sink)), ticket_(p->recvTickets++) {}
  bool done() const override { return done_; }
  Status progress(bool* moved) override {
    t_->noteSweep();
    if (done_ || p_->recvTurn != ticket_) return Status::ok();
    const CudaIpcGeometry& g = t_->geometry();
    if (offset_ == 0) {
      MIXCCL_CHECK(checkSink(sink_, p_->peer, "cuda_ipc"));
      if (g.slotBytes % sink_.granule != 0) {
        return errorStatus(mixcclInternalError, "cuda_ipc: slot size %llu is not a multiple of the element size %zu",
                           static_cast<unsigned long long>(g.slotBytes), sink_.granule);
      }
    }
    while (offset_ < sink_.bytes) {
      uint64_t seq = p_->recvSeq;
      if (p_->in->posted.load(std::memory_order_acquire) <= seq) return Status::ok();  // nothing new yet
      SlotInfo info = p_->in->slot[seq % g.slots];
      if (info.messageBytes != sink_.bytes || info.offset != offset_ || info.len == 0 || info.len > g.slotBytes) {
        return errorStatus(mixcclInvalidUsage, "cuda_ipc: rank %d sent a message of %llu bytes (piece at %llu) where "
                           "rank %d expects %zu bytes (piece at %zu): the ranks disagree on the sequence of "
                           "collectives or their counts", p_->peer, static_cast<unsigned long long>(info.messageBytes),
                           static_cast<unsigned long long>(info.offset), t_->rank(), sink_.bytes, offset_);
      }
      const char* src = p_->recvRing + (seq % g.slots) * g.slotBytes;
      // This rank's stream waits (on the GPU) for the peer's copy into the slot, then consumes it.
      Status st = t_->device()->waitIpcEvent(p_->peerEvent);
      if (st.isOk()) st = sink_.consume(src, offset_, static_cast<size_t>(info.len));
      if (!st.isOk()) return st.withContext(strFormat("cuda_ipc receive from rank %d: ", p_->peer));
      // consume() returned: the device is done reading the slot (the Device calls are host-synchronous).
      p_->in->consumed.store(seq + 1, std::memory_order_release);
      doorbell::ring(p_->peerBell);
      ++p_->recvSeq;
      offset_ += static_cast<size_t>(info.len);
      *moved = true;
    }
    done_ = true;
    ++p_->recvTurn;
    return Status::ok();
  }

 private:
  CudaIpcTransport* t_;
  PeerPath* p_;
  MessageSink sink_;
  uint64_t ticket_;
  size_t offset_ = 0;
  bool done_ = false;
};

class CudaIpcLink final : public Link {
 public:
  CudaIpcLink(CudaIpcTransport* t, PeerPath* p) : t_(t), p_(p) {}
  int peer() const override { return p_->peer; }
  std::unique_ptr<Transfer> send(MessageSource source) override {
    return std::make_unique<SendTransfer>(t_, p_, std::move(source));
  }
  std::unique_ptr<Transfer> recv(MessageSink sink) override {
    return std::make_unique<RecvTransfer>(t_, p_, std::move(sink));
  }

 private:
  CudaIpcTransport* t_;
  PeerPath* p_;
};

Link* CudaIpcTransport::link(int peer) {
  if (peer < 0 || static_cast<size_t>(peer) >= links_.size()) return nullptr;
  return links_[static_cast<size_t>(peer)].get();
}

CudaIpcTransport::~CudaIpcTransport() {
  Device* d = ctx_.device;
  for (auto& p : paths_) {
    if (!p) continue;
    if (p->peerBase != nullptr) d->closeImported(p->peerBase);
    if (p->peerEvent != nullptr) d->destroyIpcEvent(p->peerEvent);
  }
  if (ownEvent_ != nullptr) d->destroyIpcEvent(ownEvent_);
  if (buffer_ != nullptr) d->release(buffer_);
}

// This rank's half: the receive rings (one buffer for all peers), its event and its control segment.
Status CudaIpcTransport::setUpOwn(const std::vector<int>& peers, Hello* hello) {
  hello->slotBytes = geo_.slotBytes;
  hello->slots = geo_.slots;
  if (peers.empty()) return Status::ok();
  hello->serves = 1;
  Device* d = ctx_.device;
  if (d == nullptr || !d->supportsIpc()) {
    return errorStatus(mixcclInternalError, "cuda_ipc was chosen for this rank but its device %s cannot share memory",
                       d ? d->kind() : "(none)");
  }
  uint64_t ringBytes = geo_.slotBytes * geo_.slots;
  MIXCCL_CHECK(d->allocate(ringBytes * peers.size(), &buffer_)
                   .withContext(strFormat("cuda_ipc: allocating %zu receive ring(s) of %llu bytes: ", peers.size(),
                                          static_cast<unsigned long long>(ringBytes))));
  MIXCCL_CHECK(d->exportMemory(buffer_, &hello->memory).withContext("cuda_ipc: "));
  MIXCCL_CHECK(d->createIpcEvent(&hello->event, &ownEvent_).withContext("cuda_ipc: "));
  MIXCCL_CHECK(ShmSegment::create(controlName(ctx_.commHash, ctx_.rank), controlBytes(ctx_.nranks), &control_)
                   .withContext("cuda_ipc control: "));
  bell_ = bellOf(control_->data());
  for (size_t i = 0; i < peers.size(); ++i) {
    auto path = std::make_unique<PeerPath>();
    path->peer = peers[i];
    path->in = channelFrom(control_->data(), peers[i]);
    path->in->ringOffset = i * ringBytes;
    path->recvRing = static_cast<char*>(buffer_) + i * ringBytes;
    paths_[static_cast<size_t>(peers[i])] = std::move(path);
  }
  return Status::ok();
}

// The other half: each peer's segment, ring and event, mapped here.
Status CudaIpcTransport::attachPeers(const std::vector<Hello>& hellos) {
  Device* d = ctx_.device;
  for (auto& p : paths_) {
    if (!p) continue;
    const Hello& h = hellos[static_cast<size_t>(p->peer)];
    if (h.serves == 0) {
      return errorStatus(mixcclInternalError, "cuda_ipc: rank %d does not serve rank %d, but rank %d serves it (the "
                         "transport choice differs between ranks)", p->peer, ctx_.rank, ctx_.rank);
    }
    MIXCCL_CHECK(ShmSegment::open(controlName(ctx_.commHash, p->peer), &p->peerSegment)
                     .withContext(strFormat("cuda_ipc: rank %d's control: ", p->peer)));
    if (p->peerSegment->size() < controlBytes(ctx_.nranks)) {
      return errorStatus(mixcclInternalError, "cuda_ipc: rank %d's control segment is %zu bytes, expected %zu",
                         p->peer, p->peerSegment->size(), controlBytes(ctx_.nranks));
    }
    p->out = channelFrom(p->peerSegment->data(), ctx_.rank);
    p->peerBell = bellOf(p->peerSegment->data());
    void* base = nullptr;
    MIXCCL_CHECK(d->importMemory(h.memory, &base).withContext(strFormat("cuda_ipc: rank %d's rings: ", p->peer)));
    p->peerBase = static_cast<char*>(base);
    p->sendRing = p->peerBase + p->out->ringOffset;
    MIXCCL_CHECK(d->importIpcEvent(h.event, &p->peerEvent).withContext(strFormat("cuda_ipc: rank %d's event: ", p->peer)));
  }
  return Status::ok();
}

Status CudaIpcTransport::connect(const std::vector<int>& peersIn, const Status& setting) {
  std::vector<int> peers = peersIn;
  std::sort(peers.begin(), peers.end());
  paths_.resize(static_cast<size_t>(ctx_.nranks));
  links_.resize(static_cast<size_t>(ctx_.nranks));
  std::vector<Hello> hellos(static_cast<size_t>(ctx_.nranks));
  Hello& mine = hellos[static_cast<size_t>(ctx_.rank)];
  Status own = setting.isOk() ? setUpOwn(peers, &mine) : setting;
  mine.ok = own.isOk() ? 1 : 0;
  // Every rank takes part even when it failed, so that the others learn it at once.
  MIXCCL_CHECK(ctx_.bootstrap->allGather(hellos.data(), sizeof(Hello)).withContext("cuda_ipc setup exchange: "));
  Status attach = own;  // a failed rank still takes part in the second exchange
  for (int r = 0; r < ctx_.nranks && attach.isOk(); ++r) {
    const Hello& h = hellos[static_cast<size_t>(r)];
    if (h.ok == 0) {
      attach = errorStatus(mixcclInvalidUsage, "cuda_ipc: rank %d could not set up its side (its own error says why)", r);
    } else if (h.serves != 0 && mine.serves != 0 && (h.slotBytes != geo_.slotBytes || h.slots != geo_.slots)) {
      attach = errorStatus(mixcclInvalidUsage, "cuda_ipc: rank %d uses %u slots of %llu bytes, this rank %u of %llu: set "
                           "MIXCCL_CUDA_IPC_CHUNK and MIXCCL_CUDA_IPC_SLOTS the same on every rank", r, h.slots,
                           static_cast<unsigned long long>(h.slotBytes), geo_.slots,
                           static_cast<unsigned long long>(geo_.slotBytes));
    }
  }
  if (attach.isOk()) attach = attachPeers(hellos);
  // A second exchange: nobody starts (or unlinks its segment) before every rank has attached.
  std::vector<int32_t> attached(static_cast<size_t>(ctx_.nranks));
  attached[static_cast<size_t>(ctx_.rank)] = attach.isOk() ? 1 : 0;
  MIXCCL_CHECK(ctx_.bootstrap->allGather(attached.data(), sizeof(int32_t)).withContext("cuda_ipc attach exchange: "));
  if (control_) control_->unlinkName();
  MIXCCL_CHECK(attach);
  for (int r = 0; r < ctx_.nranks; ++r) {
    if (attached[static_cast<size_t>(r)] == 0) {
      return errorStatus(mixcclInvalidUsage, "cuda_ipc: rank %d could not map its peers' buffers (its own error says "
                         "why)", r);
    }
  }
  for (auto& p : paths_) {
    if (p) links_[static_cast<size_t>(p->peer)] = std::make_unique<CudaIpcLink>(this, p.get());
  }
  return Status::ok();
}

}  // namespace

Status readCudaIpcGeometry(CudaIpcGeometry* out) {
  int64_t chunk = env::getInt("CUDA_IPC_CHUNK", 4 << 20);
  int64_t slots = env::getInt("CUDA_IPC_SLOTS", 4);
  if (chunk < 4096 || chunk > (int64_t{1} << 30)) {
    return errorStatus(mixcclInvalidArgument, "MIXCCL_CUDA_IPC_CHUNK=%lld is out of range: give bytes from 4096 to 1 GiB",
                       static_cast<long long>(chunk));
  }
  if (slots < 2 || slots > kMaxSlots) {
    return errorStatus(mixcclInvalidArgument, "MIXCCL_CUDA_IPC_SLOTS=%lld is out of range: give 2 to %u",
                       static_cast<long long>(slots), kMaxSlots);
  }
  out->slotBytes = static_cast<uint64_t>(chunk) / 64 * 64;  // every element size divides it
  out->slots = static_cast<uint32_t>(slots);
  return Status::ok();
}

Status createCudaIpcTransport(const TransportContext& ctx, const std::vector<int>& peers,
                              std::unique_ptr<Transport>* out) {
  CudaIpcGeometry g;
  Status geo = readCudaIpcGeometry(&g);
  auto t = std::make_unique<CudaIpcTransport>(ctx, g);
  // A bad setting still takes part in the exchanges (failing), so that no other rank waits for this one.
  MIXCCL_CHECK(t->connect(peers, geo));
  *out = std::move(t);
  return Status::ok();
}

bool cudaIpcServesPair(const CudaIpcRankFacts& a, const CudaIpcRankFacts& b) {
  return a.sameHostAsOther && b.sameHostAsOther && a.deviceKind == "cuda" && b.deviceKind == "cuda" &&
         a.deviceSupportsIpc && b.deviceSupportsIpc && a.autoTransport && b.autoTransport && a.ipcEnabled &&
         b.ipcEnabled;
}

}  // namespace mixccl
