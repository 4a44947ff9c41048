// PluginDevice: the Device interface on top of the C plugin table.
//
// The Device interface is host-synchronous (a call returns when its work is done), so each call
// enqueues on the device's own plugin stream and synchronizes it once at the end. The core hands a
// Device pointers of two residences: device memory (user buffers, scratch) and host memory (the
// transports' slots and staging buffers, operator scalars). Plugin reductions take device operands
// only, so host operands are first copied into a device staging buffer, on the same stream: the
// H2D copy, the reduction and any D2H copy back are queued together and waited for once.
#include "backends/devices/plugin/plugin_device.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "backends/devices/plugin/plugin_loader.h"
#include "mixccl_device_plugin.h"
#include "core/host_copy.h"

namespace mixccl {
namespace {

mixcclResult_t resultFor(mixcclPluginResult_t r) {
  switch (r) {
    case MIXCCL_PLUGIN_INVALID: return mixcclInvalidArgument;
    case MIXCCL_PLUGIN_OUT_OF_MEMORY: return mixcclSystemError;
    case MIXCCL_PLUGIN_UNSUPPORTED: return mixcclInvalidUsage;
    default: return mixcclUnhandledDeviceError;
  }
}

// Calls poll(&done) until done (napping 20 us growing to 1 ms), abort or the timeout.
template <class Poll>
Status pollUntil(Poll poll, const std::atomic<bool>& aborted, int timeoutSeconds, const char* what) {
  auto giveUp = std::chrono::steady_clock::now() + std::chrono::seconds(timeoutSeconds);
  auto nap = std::chrono::microseconds(20);
  for (;;) {
    bool done = false;
    MIXCCL_CHECK(poll(&done));
    if (done) return Status::ok();
    if (aborted.load(std::memory_order_acquire)) {
      return errorStatus(mixcclSystemError, "the communicator was aborted while waiting for %s", what);
    }
    if (std::chrono::steady_clock::now() > giveUp) {
      return errorStatus(mixcclSystemError, "%s did not happen within %d s (MIXCCL_TIMEOUT): is work queued before "
                         "the collective on that stream waiting for something that never comes?", what, timeoutSeconds);
    }
    std::this_thread::sleep_for(nap);
    nap = std::min(nap * 2, std::chrono::microseconds(1000));
  }
}

// A collective's place in a user's plugin stream: an event recorded there (the inputs are ready
// once the stream passes it) and a host-written counter the stream waits on (released = done).
class PluginGate final : public StreamGate {
 public:
  PluginGate(const mixccl_device_plugin_v1* p, mixcclPluginEvent_t ev, volatile uint32_t* flag, uint32_t seq)
      : p_(p), ev_(ev), flag_(flag), seq_(seq) {}
  ~PluginGate() override {
    release();  // a user's stream is never left waiting, whatever happened to the collective
    (void)p_->eventDestroy(ev_);
  }
  Status waitReady(const std::atomic<bool>& aborted, int timeoutSeconds) override {
    return pollUntil(
        [&](bool* done) -> Status {
          int d = 0;
          if (p_->eventQuery(ev_, &d) != MIXCCL_PLUGIN_OK) {
            return errorStatus(mixcclUnhandledDeviceError, "%s: eventQuery on the user's stream failed: %s", p_->name,
                               p_->lastError());
          }
          *done = d != 0;
          return Status::ok();
        },
        aborted, timeoutSeconds, "the user's stream to reach the collective");
  }
  void release() override {
    if (released_) return;
    released_ = true;
    // Gates are released in the order they were opened, so the counter only grows.
    __atomic_store_n(flag_, seq_, __ATOMIC_RELEASE);
  }

 private:
  const mixccl_device_plugin_v1* p_;
  mixcclPluginEvent_t ev_;
  volatile uint32_t* flag_;
  uint32_t seq_;
  bool released_ = false;
};

class PluginDevice final : public Device {
 public:
  PluginDevice(const LoadedPlugin* plugin, int ordinal, const mixcclPluginDeviceInfo_t& info)
      : p_(plugin->table), path_(plugin->path), ordinal_(ordinal), info_(info) {}

  ~PluginDevice() override {
    if (stream_ != nullptr) {
      (void)p_->streamSynchronize(stream_);
      (void)p_->streamDestroy(stream_);
    }
    for (auto& t : inFlight_) (void)p_->eventDestroy(t.event);
    for (auto* ev : spareEvents_) (void)p_->eventDestroy(ev);
    if (staging_ != nullptr) (void)p_->memFree(ordinal_, staging_);
    if (flag_ != nullptr) (void)p_->hostFree(ordinal_, const_cast<uint32_t*>(flag_));
  }

  Status openGate(void* userStream, std::unique_ptr<StreamGate>* gate) override {
    gate->reset();
    if (userStream == nullptr) return Status::ok();  // no stream: the collective runs before the call returns
    auto* s = static_cast<mixcclPluginStream_t>(userStream);
    std::lock_guard<std::mutex> lock(gateMutex_);
    if (flag_ == nullptr) {
      void* mem = nullptr;
      MIXCCL_CHECK(check(p_->hostAlloc(ordinal_, 64, &mem), "hostAlloc (stream release counter)"));
      flag_ = static_cast<volatile uint32_t*>(mem);
      *flag_ = 0;
    }
    mixcclPluginEvent_t ev = nullptr;
    MIXCCL_CHECK(check(p_->eventCreate(ordinal_, &ev), "eventCreate"));
    Status st = check(p_->eventRecord(ev, s), "eventRecord on the user's stream");
    uint32_t seq = issued_ + 1;
    if (st.isOk()) st = check(p_->streamWaitHostValue(s, flag_, seq), "streamWaitHostValue on the user's stream");
    if (!st.isOk()) {
      (void)p_->eventDestroy(ev);
      return st;
    }
    issued_ = seq;
    *gate = std::make_unique<PluginGate>(p_, ev, flag_, seq);
    return Status::ok();
  }

  Status init() { return check(p_->streamCreate(ordinal_, &stream_), "streamCreate"); }

  const char* kind() const override { return p_->name; }
  int ordinal() const override { return ordinal_; }
  bool hostAccessible() const override { return info_.hostAccessible != 0; }
  bool owns(const void* ptr) const override { return ownerOf(ptr) == ordinal_; }

  Status allocate(size_t bytes, void** ptr) override {
    *ptr = nullptr;
    if (bytes == 0) return errorStatus(mixcclInvalidArgument, "%s:%d: cannot allocate 0 bytes", kind(), ordinal_);
    return check(p_->memAlloc(ordinal_, bytes, ptr), "memAlloc");
  }

  void release(void* ptr) override {
    if (ptr != nullptr) (void)p_->memFree(ordinal_, ptr);
  }

  Status copy(void* dst, const void* src, size_t bytes) override {
    std::lock_guard<std::mutex> lock(mutex_);
    bool queued = false;
    MIXCCL_CHECK(queueCopy(dst, src, bytes, &queued));
    return queued ? sync() : Status::ok();
  }

  Status reduce(void* dst, const void* a, const void* b, size_t count, mixcclDataType_t type, ReduceOp op) override {
    if (count == 0) return Status::ok();
    std::lock_guard<std::mutex> lock(mutex_);
    MIXCCL_CHECK(queueReduce(dst, a, b, count, type, op));
    return sync();
  }

  Status allocateHost(size_t bytes, void** ptr) override {
    *ptr = nullptr;
    if (bytes == 0) return errorStatus(mixcclInvalidArgument, "%s:%d: cannot allocate 0 bytes of host memory", kind(), ordinal_);
    return check(p_->hostAlloc(ordinal_, bytes, ptr), "hostAlloc (staging blocks)");
  }

  void releaseHost(void* ptr) override {
    if (ptr != nullptr) (void)p_->hostFree(ordinal_, ptr);
  }

  Status copyAsync(void* dst, const void* src, size_t bytes, uint64_t* ticket) override {
    *ticket = 0;
    std::lock_guard<std::mutex> lock(mutex_);
    bool queued = false;
    MIXCCL_CHECK(queueCopy(dst, src, bytes, &queued));
    return queued ? markTicket(ticket) : Status::ok();
  }

  Status reduceAsync(void* dst, const void* a, const void* b, size_t count, mixcclDataType_t type, ReduceOp op,
                     uint64_t* ticket) override {
    *ticket = 0;
    if (count == 0) return Status::ok();
    std::lock_guard<std::mutex> lock(mutex_);
    MIXCCL_CHECK(queueReduce(dst, a, b, count, type, op));
    return markTicket(ticket);
  }

  Status waitTicket(uint64_t ticket) override {
    std::lock_guard<std::mutex> lock(mutex_);
    bool waited = false;
    while (!inFlight_.empty() && inFlight_.front().ticket <= ticket) {
      Ticket t = inFlight_.front();
      inFlight_.pop_front();
      waited = true;
      Status st = check(p_->eventSynchronize(t.event), "eventSynchronize (staging copy)");
      spareEvents_.push_back(t.event);
      MIXCCL_CHECK(st);
    }
    // Errors of queued work are sticky on the stream and reported by its synchronization; once the
    // last ticket has been waited for that costs nothing, so do it then (and not on the engine's
    // per-round check that nothing is left, which finds nothing in flight).
    return waited && inFlight_.empty() ? sync() : Status::ok();
  }

  Status scale(void* dst, const void* src, size_t count, mixcclDataType_t type, const void* scalar) override {
    if (count == 0) return Status::ok();
    size_t bytes = count * dataTypeSize(type);
    std::lock_guard<std::mutex> lock(mutex_);
    Operands o;
    MIXCCL_CHECK(stageInputs(dst, src, nullptr, bytes, &o));
    MIXCCL_CHECK(check(p_->scaleAsync(o.dst, o.a, count, static_cast<mixcclPluginDataType_t>(type), scalar, stream_),
                       "scaleAsync"));
    return finish(dst, o, bytes);
  }

  Status divide(void* dst, const void* src, size_t count, mixcclDataType_t type, uint64_t divisor) override {
    if (count == 0) return Status::ok();
    size_t bytes = count * dataTypeSize(type);
    std::lock_guard<std::mutex> lock(mutex_);
    Operands o;
    MIXCCL_CHECK(stageInputs(dst, src, nullptr, bytes, &o));
    MIXCCL_CHECK(check(p_->divideAsync(o.dst, o.a, count, static_cast<mixcclPluginDataType_t>(type), divisor, stream_),
                       "divideAsync"));
    return finish(dst, o, bytes);
  }

 private:
  struct Operands {
    void* dst = nullptr;
    const void* a = nullptr;
    const void* b = nullptr;
    bool dstStaged = false;
  };

  int ownerOf(const void* ptr) const {
    int ord = -1;
    if (p_->pointerOwner(ptr, &ord) != MIXCCL_PLUGIN_OK) return -1;
    return ord;
  }
  bool isDevice(const void* ptr) const { return ownerOf(ptr) >= 0; }

  Status check(mixcclPluginResult_t r, const char* call) const {
    if (r == MIXCCL_PLUGIN_OK) return Status::ok();
    const char* why = p_->lastError();
    return errorStatus(resultFor(r), "device %s:%d (plugin %s): %s failed: %s", p_->name, ordinal_, path_.c_str(), call,
                       why != nullptr && *why != '\0' ? why : "the plugin gave no reason");
  }

  Status sync() { return check(p_->streamSynchronize(stream_), "streamSynchronize"); }

  // Queues dst <- src on the device's stream (mutex_ held); a copy between two host buffers is done
  // at once, and *queued stays false.
  Status queueCopy(void* dst, const void* src, size_t bytes, bool* queued) {
    *queued = false;
    if (bytes == 0 || dst == src) return Status::ok();
    bool d = isDevice(dst), s = isDevice(src);
    if (!d && !s) {
      copyHostMemory(dst, src, bytes);  // host to host: both are memory the core may touch
      return Status::ok();
    }
    mixcclPluginCopyKind_t k = d && s ? MIXCCL_PLUGIN_DEVICE_TO_DEVICE
                               : d    ? MIXCCL_PLUGIN_HOST_TO_DEVICE
                                      : MIXCCL_PLUGIN_DEVICE_TO_HOST;
    MIXCCL_CHECK(check(p_->memcpyAsync(dst, src, bytes, k, stream_), "memcpyAsync"));
    *queued = true;
    return Status::ok();
  }

  // Queues dst = a op b (mutex_ held): host operands are copied into the staging buffer first, and a
  // host dst gets the result copied back. The stream runs in order, so the next call's staging copy
  // cannot overwrite the buffer before this reduction has read it.
  Status queueReduce(void* dst, const void* a, const void* b, size_t count, mixcclDataType_t type, ReduceOp op) {
    size_t bytes = count * dataTypeSize(type);
    Operands o;
    MIXCCL_CHECK(stageInputs(dst, a, b, bytes, &o));
    MIXCCL_CHECK(check(p_->reduceAsync(o.dst, o.a, o.b, count, static_cast<mixcclPluginDataType_t>(type),
                                       static_cast<mixcclPluginReduceOp_t>(op), stream_),
                       "reduceAsync"));
    if (o.dstStaged) {
      MIXCCL_CHECK(check(p_->memcpyAsync(dst, o.dst, bytes, MIXCCL_PLUGIN_DEVICE_TO_HOST, stream_), "memcpyAsync (unstage)"));
    }
    return Status::ok();
  }

  // Records an event behind the work just queued: the next ticket. Called with mutex_ held.
  Status markTicket(uint64_t* ticket) {
    mixcclPluginEvent_t ev = nullptr;
    if (!spareEvents_.empty()) {
      ev = spareEvents_.back();
      spareEvents_.pop_back();
    } else {
      MIXCCL_CHECK(check(p_->eventCreate(ordinal_, &ev), "eventCreate (staging copy)"));
    }
    Status st = check(p_->eventRecord(ev, stream_), "eventRecord (staging copy)");
    if (!st.isOk()) {
      spareEvents_.push_back(ev);
      return st;
    }
    inFlight_.push_back({++lastTicket_, ev});
    *ticket = lastTicket_;
    return Status::ok();
  }

  // Device staging space for up to three operands of `bytes` each, grown on demand.
  Status stagingFor(size_t bytes, char** base) {
    size_t need = 3 * bytes;
    if (stagingBytes_ < need) {
      if (staging_ != nullptr) {
        MIXCCL_CHECK(sync());  // queued work may still read the old buffer
        (void)p_->memFree(ordinal_, staging_);
        staging_ = nullptr;
        stagingBytes_ = 0;
      }
      size_t want = std::max(need, stagingBytes_ * 2);
      MIXCCL_CHECK(check(p_->memAlloc(ordinal_, want, &staging_), "memAlloc (staging for host operands)"));
      stagingBytes_ = want;
    }
    *base = static_cast<char*>(staging_);
    return Status::ok();
  }

  // Host operands are queued for copying into staging; a host destination is computed in staging.
  Status stageInputs(void* dst, const void* a, const void* b, size_t bytes, Operands* o) {
    o->dst = dst;
    o->a = a;
    o->b = b;
    bool hostA = !isDevice(a), hostB = b != nullptr && !isDevice(b), hostDst = !isDevice(dst);
    if (!hostA && !hostB && !hostDst) return Status::ok();
    char* base = nullptr;
    MIXCCL_CHECK(stagingFor(bytes, &base));
    if (hostA) {
      MIXCCL_CHECK(check(p_->memcpyAsync(base, a, bytes, MIXCCL_PLUGIN_HOST_TO_DEVICE, stream_), "memcpyAsync (stage)"));
      o->a = base;
    }
    if (hostB) {
      MIXCCL_CHECK(check(p_->memcpyAsync(base + bytes, b, bytes, MIXCCL_PLUGIN_HOST_TO_DEVICE, stream_),
                         "memcpyAsync (stage)"));
      o->b = base + bytes;
    }
    if (hostDst) {
      o->dst = base + 2 * bytes;
      o->dstStaged = true;
    }
    return Status::ok();
  }

  Status finish(void* dst, const Operands& o, size_t bytes) {
    if (o.dstStaged) {
      MIXCCL_CHECK(check(p_->memcpyAsync(dst, o.dst, bytes, MIXCCL_PLUGIN_DEVICE_TO_HOST, stream_), "memcpyAsync (unstage)"));
    }
    return sync();
  }

  const mixccl_device_plugin_v1* p_;
  std::string path_;
  int ordinal_;
  mixcclPluginDeviceInfo_t info_;
  std::mutex mutex_;  // one stream: calls from several threads are serialized
  mixcclPluginStream_t stream_ = nullptr;
  std::mutex gateMutex_;
  volatile uint32_t* flag_ = nullptr;  // released-up-to counter the users' streams wait on
  uint32_t issued_ = 0;                // gates opened so far
  void* staging_ = nullptr;
  size_t stagingBytes_ = 0;
  // Work queued by copyAsync/reduceAsync not yet waited for, oldest first (guarded by mutex_).
  struct Ticket {
    uint64_t ticket;
    mixcclPluginEvent_t event;
  };
  std::deque<Ticket> inFlight_;
  std::vector<mixcclPluginEvent_t> spareEvents_;
  uint64_t lastTicket_ = 0;
};

// The plugin ABI copies mixccl's numbering; a change on either side must be caught here.
static_assert(int(MIXCCL_PLUGIN_FP8_E5M2) == int(mixcclFloat8e5m2) && int(MIXCCL_PLUGIN_BFLOAT16) == int(mixcclBfloat16) &&
              int(MIXCCL_PLUGIN_NUM_TYPES) == int(mixcclNumTypes) && int(MIXCCL_PLUGIN_FLOAT16) == int(mixcclFloat16));
static_assert(int(MIXCCL_PLUGIN_MIN) == int(ReduceOp::Min) && int(MIXCCL_PLUGIN_PROD) == int(ReduceOp::Prod));

}  // namespace

Status createPluginDevice(const std::string& kind, int ordinal, const std::string& spec, std::unique_ptr<Device>* out) {
  const LoadedPlugin* plugin = nullptr;
  MIXCCL_CHECK(loadDevicePlugin(kind, spec, &plugin));
  const mixccl_device_plugin_v1* t = plugin->table;
  int count = 0;
  if (t->deviceCount(&count) != MIXCCL_PLUGIN_OK) {
    return errorStatus(mixcclUnhandledDeviceError, "device plugin %s: deviceCount failed: %s", plugin->path.c_str(),
                       t->lastError());
  }
  if (ordinal < 0 || ordinal >= count) {
    return errorStatus(mixcclInvalidArgument, "device %s:%d does not exist: the %s plugin reports %d device(s) "
                       "(ordinals 0..%d)", kind.c_str(), ordinal, kind.c_str(), count, count - 1);
  }
  mixcclPluginDeviceInfo_t info;
  std::memset(&info, 0, sizeof(info));
  if (t->identify(ordinal, &info) != MIXCCL_PLUGIN_OK) {
    return errorStatus(mixcclUnhandledDeviceError, "device plugin %s: identify(%d) failed: %s", plugin->path.c_str(),
                       ordinal, t->lastError());
  }
  auto dev = std::make_unique<PluginDevice>(plugin, ordinal, info);
  MIXCCL_CHECK(dev->init());
  *out = std::move(dev);
  return Status::ok();
}

}  // namespace mixccl
