// The emu accelerator: a device plugin (include/mixccl_device_plugin.h) whose memory the host
// cannot touch. It exists to prove, in every test on every machine, that mixccl's core reaches
// device memory only through the plugin ABI: a stray load or store through an emu pointer faults.
//
// Built as its own shared library (libmixccl-emu.so) that exports only the v1 getter; mixccl loads
// it exactly as it would load a vendor's plugin. Compute runs on the host, in the plugin's stream
// threads, with the same vectorized kernels as the cpu backend, on the plugin's private read-write
// view of device memory (emu_pool.h).
//
// Environment (read once, when the library is first used):
//   MIXCCL_EMU_DEVICES    emulated devices per process (default 4); ordinals 0 .. N-1
//   MIXCCL_EMU_MEMORY_GB  address space per device (default 8; pages cost memory only when written)
//   MIXCCL_EMU_GBPS       throttle: a copy or reduction of N bytes takes at least N / GBPS ns
//                         (unset or 0: as fast as the host can go)
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "backends/devices/cpu/cpu_kernels.h"
#include "backends/devices/emu/emu_pool.h"
#include "backends/devices/emu/emu_stream.h"
#include "mixccl_device_plugin.h"

namespace mixccl::emu {
namespace {

constexpr int kMaxDevices = 64;
constexpr int kSyncTimeoutSeconds = 600;  // a stream that does not drain in this long is broken

thread_local std::string tLastError;

mixcclPluginResult_t fail(mixcclPluginResult_t code, std::string message) {
  tLastError = "emu: " + std::move(message);
  return code;
}

double envDouble(const char* name, double dflt) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return dflt;
  char* end = nullptr;
  double d = std::strtod(v, &end);
  if (end == v || *end != '\0' || !(d >= 0)) {
    std::fprintf(stderr, "mixccl emu: %s=%s is not a non-negative number; using %g\n", name, v, dflt);
    return dflt;
  }
  return d;
}

struct Config {
  int devices = 4;
  size_t capacity = size_t{8} << 30;
  double gbps = 0;  // 0: unthrottled
};

const Config& config() {
  static const Config c = [] {
    Config c;
    c.devices = static_cast<int>(envDouble("MIXCCL_EMU_DEVICES", 4));
    if (c.devices < 1 || c.devices > kMaxDevices) c.devices = 4;
    c.capacity = static_cast<size_t>(envDouble("MIXCCL_EMU_MEMORY_GB", 8) * double(size_t{1} << 30));
    if (c.capacity < (size_t{1} << 20)) c.capacity = size_t{1} << 20;
    c.gbps = envDouble("MIXCCL_EMU_GBPS", 0);
    return c;
  }();
  return c;
}

// Process-wide state: one pool per ordinal (made on first use) and the imported regions.
std::mutex gMutex;
std::array<EmuPool*, kMaxDevices> gPools{};
std::map<uintptr_t, EmuImport> gImports;  // by device address

mixcclPluginResult_t checkOrdinal(int ordinal) {
  if (ordinal < 0 || ordinal >= config().devices) {
    return fail(MIXCCL_PLUGIN_INVALID, "device ordinal " + std::to_string(ordinal) + " does not exist (this process has " +
                                           std::to_string(config().devices) + " emu devices: MIXCCL_EMU_DEVICES)");
  }
  return MIXCCL_PLUGIN_OK;
}

mixcclPluginResult_t poolOf(int ordinal, EmuPool** out) {
  if (auto r = checkOrdinal(ordinal); r != MIXCCL_PLUGIN_OK) return r;
  std::lock_guard<std::mutex> lock(gMutex);
  if (gPools[static_cast<size_t>(ordinal)] == nullptr) {
    std::string err;
    gPools[static_cast<size_t>(ordinal)] = EmuPool::create(ordinal, config().capacity, &err);
    if (gPools[static_cast<size_t>(ordinal)] == nullptr) {
      return fail(MIXCCL_PLUGIN_OUT_OF_MEMORY, "cannot create the memory of device " + std::to_string(ordinal) + ": " + err);
    }
  }
  *out = gPools[static_cast<size_t>(ordinal)];
  return MIXCCL_PLUGIN_OK;
}

// The device (or -1) and the plugin's read-write address for [ptr, ptr+bytes) of device memory.
int locate(const void* ptr, size_t bytes, char** shadow) {
  std::lock_guard<std::mutex> lock(gMutex);
  for (EmuPool* p : gPools) {
    if (p != nullptr && p->contains(ptr, bytes)) {
      if (shadow) *shadow = static_cast<char*>(p->shadow(ptr));
      return p->ordinal();
    }
  }
  auto addr = reinterpret_cast<uintptr_t>(ptr);
  auto it = gImports.upper_bound(addr);
  if (it != gImports.begin()) {
    --it;
    const EmuImport& imp = it->second;
    if (addr >= it->first && addr - it->first <= imp.bytes && bytes <= imp.bytes - (addr - it->first) && bytes > 0) {
      if (shadow) *shadow = imp.shadow + (addr - it->first);
      return 0;  // imported regions are reported on device 0 of this process
    }
  }
  return -1;
}

// Sleeps so that `bytes` of work begun at t0 lasts as long as it would at MIXCCL_EMU_GBPS.
void throttle(std::chrono::steady_clock::time_point t0, size_t bytes) {
  double gbps = config().gbps;
  if (gbps <= 0 || bytes == 0) return;
  std::this_thread::sleep_until(t0 + std::chrono::nanoseconds(static_cast<int64_t>(double(bytes) / gbps)));
}

EmuStream* asStream(mixcclPluginStream_t s) { return reinterpret_cast<EmuStream*>(s); }
EmuEvent* asEvent(mixcclPluginEvent_t e) { return reinterpret_cast<EmuEvent*>(e); }

const cpu::DataTypeKernels* kernels(mixcclPluginDataType_t type) {
  return static_cast<int>(type) < 0 || type >= MIXCCL_PLUGIN_NUM_TYPES
             ? nullptr
             : cpu::kernelsFor(static_cast<mixcclDataType_t>(type));
}

// ---- the table's functions ----------------------------------------------------------------------

const char* lastError() { return tLastError.c_str(); }

mixcclPluginResult_t deviceCount(int* count) {
  if (count == nullptr) return fail(MIXCCL_PLUGIN_INVALID, "deviceCount: count is NULL");
  *count = config().devices;
  return MIXCCL_PLUGIN_OK;
}

mixcclPluginResult_t identify(int ordinal, mixcclPluginDeviceInfo_t* info) {
  if (info == nullptr) return fail(MIXCCL_PLUGIN_INVALID, "identify: info is NULL");
  if (auto r = checkOrdinal(ordinal); r != MIXCCL_PLUGIN_OK) return r;
  std::memset(info, 0, sizeof(*info));
  std::snprintf(info->kind, sizeof(info->kind), "emu");
  if (config().gbps > 0) {
    std::snprintf(info->vendor, sizeof(info->vendor), "mixccl emulated accelerator (%.3g GB/s)", config().gbps);
  } else {
    std::snprintf(info->vendor, sizeof(info->vendor), "mixccl emulated accelerator");
  }
  info->ordinal = ordinal;
  info->deviceCount = config().devices;
  // The same ordinal on one host is "the same device" (as several ranks on one GPU would be).
  std::memcpy(info->uuid, "mixccl-emu-dev", 14);
  info->uuid[14] = static_cast<uint8_t>(ordinal);
  info->hostAccessible = 0;
  info->supportsIpc = 1;
  return MIXCCL_PLUGIN_OK;
}

mixcclPluginResult_t memAlloc(int ordinal, size_t bytes, void** ptr) {
  if (ptr == nullptr || bytes == 0) return fail(MIXCCL_PLUGIN_INVALID, "memAlloc: ptr is NULL or bytes is 0");
  *ptr = nullptr;
  EmuPool* pool = nullptr;
  if (auto r = poolOf(ordinal, &pool); r != MIXCCL_PLUGIN_OK) return r;
  if (!pool->allocate(bytes, ptr)) {
    return fail(MIXCCL_PLUGIN_OUT_OF_MEMORY, "device " + std::to_string(ordinal) + " has no free range of " +
                                                 std::to_string(bytes) + " bytes (raise MIXCCL_EMU_MEMORY_GB)");
  }
  return MIXCCL_PLUGIN_OK;
}

mixcclPluginResult_t memFree(int ordinal, void* ptr) {
  EmuPool* pool = nullptr;
  if (auto r = poolOf(ordinal, &pool); r != MIXCCL_PLUGIN_OK) return r;
  if (!pool->release(ptr)) {
    char buf[96];
    std::snprintf(buf, sizeof(buf), "memFree: %p is not a live allocation of device %d", ptr, ordinal);
    return fail(MIXCCL_PLUGIN_INVALID, buf);
  }
  return MIXCCL_PLUGIN_OK;
}

mixcclPluginResult_t hostAlloc(int ordinal, size_t bytes, void** ptr) {
  if (ptr == nullptr || bytes == 0) return fail(MIXCCL_PLUGIN_INVALID, "hostAlloc: ptr is NULL or bytes is 0");
  if (auto r = checkOrdinal(ordinal); r != MIXCCL_PLUGIN_OK) return r;
  // Emulated: there is no DMA engine to pin for, so page-aligned host memory is the fast kind.
  if (posix_memalign(ptr, 4096, bytes) != 0) {
    *ptr = nullptr;
    return fail(MIXCCL_PLUGIN_OUT_OF_MEMORY, "hostAlloc of " + std::to_string(bytes) + " bytes failed");
  }
  return MIXCCL_PLUGIN_OK;
}

mixcclPluginResult_t hostFree(int, void* ptr) {
  std::free(ptr);
  return MIXCCL_PLUGIN_OK;
}

mixcclPluginResult_t pointerOwner(const void* ptr, int* ordinal) {
  if (ordinal == nullptr) return fail(MIXCCL_PLUGIN_INVALID, "pointerOwner: ordinal is NULL");
  *ordinal = locate(ptr, 1, nullptr);
  return MIXCCL_PLUGIN_OK;
}

mixcclPluginResult_t streamCreate(int ordinal, mixcclPluginStream_t* stream) {
  if (stream == nullptr) return fail(MIXCCL_PLUGIN_INVALID, "streamCreate: stream is NULL");
  if (auto r = checkOrdinal(ordinal); r != MIXCCL_PLUGIN_OK) return r;
  *stream = reinterpret_cast<mixcclPluginStream_t>(new EmuStream(ordinal));
  return MIXCCL_PLUGIN_OK;
}

mixcclPluginResult_t streamDestroy(mixcclPluginStream_t stream) {
  delete asStream(stream);
  return MIXCCL_PLUGIN_OK;
}

mixcclPluginResult_t streamSynchronize(mixcclPluginStream_t stream) {
  if (stream == nullptr) return fail(MIXCCL_PLUGIN_INVALID, "streamSynchronize: stream is NULL");
  EmuStream* s = asStream(stream);
  if (!s->waitFor(s->enqueued(), kSyncTimeoutSeconds)) {
    return fail(MIXCCL_PLUGIN_ERROR, "stream did not drain within " + std::to_string(kSyncTimeoutSeconds) + " s");
  }
  std::string err = s->takeError();
  return err.empty() ? MIXCCL_PLUGIN_OK : fail(MIXCCL_PLUGIN_ERROR, err);
}

mixcclPluginResult_t eventCreate(int ordinal, mixcclPluginEvent_t* event) {
  if (event == nullptr) return fail(MIXCCL_PLUGIN_INVALID, "eventCreate: event is NULL");
  if (auto r = checkOrdinal(ordinal); r != MIXCCL_PLUGIN_OK) return r;
  auto* e = new EmuEvent;
  e->ordinal = ordinal;
  *event = reinterpret_cast<mixcclPluginEvent_t>(e);
  return MIXCCL_PLUGIN_OK;
}

mixcclPluginResult_t eventDestroy(mixcclPluginEvent_t event) {
  delete asEvent(event);
  return MIXCCL_PLUGIN_OK;
}

mixcclPluginResult_t eventRecord(mixcclPluginEvent_t event, mixcclPluginStream_t stream) {
  if (event == nullptr || stream == nullptr) return fail(MIXCCL_PLUGIN_INVALID, "eventRecord: event or stream is NULL");
  asEvent(event)->stream = asStream(stream);
  asEvent(event)->seq = asStream(stream)->enqueued();
  return MIXCCL_PLUGIN_OK;
}

mixcclPluginResult_t eventQuery(mixcclPluginEvent_t event, int* done) {
  if (event == nullptr || done == nullptr) return fail(MIXCCL_PLUGIN_INVALID, "eventQuery: event or done is NULL");
  EmuEvent* e = asEvent(event);
  *done = e->stream == nullptr || e->stream->reached(e->seq) ? 1 : 0;
  return MIXCCL_PLUGIN_OK;
}

mixcclPluginResult_t eventSynchronize(mixcclPluginEvent_t event) {
  if (event == nullptr) return fail(MIXCCL_PLUGIN_INVALID, "eventSynchronize: event is NULL");
  EmuEvent* e = asEvent(event);
  if (e->stream != nullptr && !e->stream->waitFor(e->seq, kSyncTimeoutSeconds)) {
    return fail(MIXCCL_PLUGIN_ERROR, "event not reached within " + std::to_string(kSyncTimeoutSeconds) + " s");
  }
  return MIXCCL_PLUGIN_OK;
}

mixcclPluginResult_t streamWaitEvent(mixcclPluginStream_t stream, mixcclPluginEvent_t event) {
  if (event == nullptr || stream == nullptr) {
    return fail(MIXCCL_PLUGIN_INVALID, "streamWaitEvent: event or stream is NULL");
  }
  EmuEvent snapshot = *asEvent(event);  // the position recorded now, as a device would capture it
  if (snapshot.stream == nullptr || snapshot.stream == asStream(stream)) return MIXCCL_PLUGIN_OK;
  asStream(stream)->enqueue([snapshot]() -> std::string {
    if (!snapshot.stream->waitFor(snapshot.seq, kSyncTimeoutSeconds)) return "emu: streamWaitEvent timed out";
    return {};
  });
  return MIXCCL_PLUGIN_OK;
}

mixcclPluginResult_t streamWaitHostValue(mixcclPluginStream_t stream, const volatile uint32_t* flag, uint32_t value) {
  if (stream == nullptr || flag == nullptr) {
    return fail(MIXCCL_PLUGIN_INVALID, "streamWaitHostValue: stream or flag is NULL");
  }
  // The stream's worker sleeps in short slices (a device would poll its memory the same way);
  // bounded like every other wait.
  asStream(stream)->enqueue([flag, value]() -> std::string {
    auto give = std::chrono::steady_clock::now() + std::chrono::seconds(kSyncTimeoutSeconds);
    auto nap = std::chrono::microseconds(20);
    while (static_cast<int32_t>(__atomic_load_n(flag, __ATOMIC_ACQUIRE) - value) < 0) {
      if (std::chrono::steady_clock::now() > give) return "emu: streamWaitHostValue: the host never released the stream";
      std::this_thread::sleep_for(nap);
      nap = std::min(nap * 2, std::chrono::microseconds(1000));
    }
    return {};
  });
  return MIXCCL_PLUGIN_OK;
}

mixcclPluginResult_t memcpyAsync(void* dst, const void* src, size_t bytes, mixcclPluginCopyKind_t kind,
                                 mixcclPluginStream_t stream) {
  if (stream == nullptr) return fail(MIXCCL_PLUGIN_INVALID, "memcpyAsync: stream is NULL");
  if (bytes == 0) return MIXCCL_PLUGIN_OK;
  if (dst == nullptr || src == nullptr) return fail(MIXCCL_PLUGIN_INVALID, "memcpyAsync: dst or src is NULL");
  char* d = static_cast<char*>(dst);
  char* s = const_cast<char*>(static_cast<const char*>(src));
  bool dstDev = locate(dst, bytes, &d) >= 0;
  bool srcDev = locate(src, bytes, &s) >= 0;
  bool wantDst = kind != MIXCCL_PLUGIN_DEVICE_TO_HOST, wantSrc = kind != MIXCCL_PLUGIN_HOST_TO_DEVICE;
  if (kind < MIXCCL_PLUGIN_HOST_TO_DEVICE || kind > MIXCCL_PLUGIN_DEVICE_TO_DEVICE) {
    return fail(MIXCCL_PLUGIN_INVALID, "memcpyAsync: unknown copy kind " + std::to_string(static_cast<int>(kind)));
  }
  if (dstDev != wantDst || srcDev != wantSrc) {
    char buf[200];
    std::snprintf(buf, sizeof(buf), "memcpyAsync: copy kind %d, but dst %p is %s and src %p is %s (%zu bytes)",
                  static_cast<int>(kind), dst, dstDev ? "device memory" : "not (wholly) device memory", src,
                  srcDev ? "device memory" : "not (wholly) device memory", bytes);
    return fail(MIXCCL_PLUGIN_INVALID, buf);
  }
  asStream(stream)->enqueue([d, s, bytes]() -> std::string {
    auto t0 = std::chrono::steady_clock::now();
    std::memmove(d, s, bytes);
    throttle(t0, bytes);
    return {};
  });
  return MIXCCL_PLUGIN_OK;
}

// Translates the device operands of an arithmetic call; fails naming the first that is not.
mixcclPluginResult_t deviceOperand(const char* call, const char* which, const void* p, size_t bytes, char** shadow) {
  if (locate(p, bytes, shadow) >= 0) return MIXCCL_PLUGIN_OK;
  char buf[160];
  std::snprintf(buf, sizeof(buf), "%s: %s %p (%zu bytes) is not emu device memory", call, which, p, bytes);
  return fail(MIXCCL_PLUGIN_INVALID, buf);
}

mixcclPluginResult_t reduceAsync(void* dst, const void* a, const void* b, size_t count, mixcclPluginDataType_t type,
                                 mixcclPluginReduceOp_t op, mixcclPluginStream_t stream) {
  const cpu::DataTypeKernels* k = kernels(type);
  if (k == nullptr) return fail(MIXCCL_PLUGIN_INVALID, "reduceAsync: unknown data type " + std::to_string(int(type)));
  if (op < MIXCCL_PLUGIN_SUM || op > MIXCCL_PLUGIN_MIN) {
    return fail(MIXCCL_PLUGIN_INVALID, "reduceAsync: unknown operator " + std::to_string(int(op)));
  }
  if (stream == nullptr) return fail(MIXCCL_PLUGIN_INVALID, "reduceAsync: stream is NULL");
  if (count == 0) return MIXCCL_PLUGIN_OK;
  size_t bytes = count * k->elementSize;
  char *d, *sa, *sb;
  if (auto r = deviceOperand("reduceAsync", "dst", dst, bytes, &d); r != MIXCCL_PLUGIN_OK) return r;
  if (auto r = deviceOperand("reduceAsync", "a", a, bytes, &sa); r != MIXCCL_PLUGIN_OK) return r;
  if (auto r = deviceOperand("reduceAsync", "b", b, bytes, &sb); r != MIXCCL_PLUGIN_OK) return r;
  cpu::ReduceFn fn = k->reduce[static_cast<int>(op)];
  asStream(stream)->enqueue([=]() -> std::string {
    auto t0 = std::chrono::steady_clock::now();
    fn(d, sa, sb, count);
    throttle(t0, bytes);
    return {};
  });
  return MIXCCL_PLUGIN_OK;
}

mixcclPluginResult_t scaleAsync(void* dst, const void* src, size_t count, mixcclPluginDataType_t type,
                                const void* scalar, mixcclPluginStream_t stream) {
  const cpu::DataTypeKernels* k = kernels(type);
  if (k == nullptr) return fail(MIXCCL_PLUGIN_INVALID, "scaleAsync: unknown data type " + std::to_string(int(type)));
  if (stream == nullptr || scalar == nullptr) return fail(MIXCCL_PLUGIN_INVALID, "scaleAsync: stream or scalar is NULL");
  if (count == 0) return MIXCCL_PLUGIN_OK;
  size_t bytes = count * k->elementSize;
  char *d, *s;
  if (auto r = deviceOperand("scaleAsync", "dst", dst, bytes, &d); r != MIXCCL_PLUGIN_OK) return r;
  if (auto r = deviceOperand("scaleAsync", "src", src, bytes, &s); r != MIXCCL_PLUGIN_OK) return r;
  std::array<unsigned char, 8> value{};
  std::memcpy(value.data(), scalar, k->elementSize);  // read now: the caller's scalar may change after return
  cpu::ScaleFn fn = k->scale;
  asStream(stream)->enqueue([=]() -> std::string {
    auto t0 = std::chrono::steady_clock::now();
    fn(d, s, count, value.data());
    throttle(t0, bytes);
    return {};
  });
  return MIXCCL_PLUGIN_OK;
}

mixcclPluginResult_t divideAsync(void* dst, const void* src, size_t count, mixcclPluginDataType_t type,
                                 uint64_t divisor, mixcclPluginStream_t stream) {
  const cpu::DataTypeKernels* k = kernels(type);
  if (k == nullptr) return fail(MIXCCL_PLUGIN_INVALID, "divideAsync: unknown data type " + std::to_string(int(type)));
  if (stream == nullptr || divisor == 0) return fail(MIXCCL_PLUGIN_INVALID, "divideAsync: stream is NULL or divisor 0");
  if (count == 0) return MIXCCL_PLUGIN_OK;
  size_t bytes = count * k->elementSize;
  char *d, *s;
  if (auto r = deviceOperand("divideAsync", "dst", dst, bytes, &d); r != MIXCCL_PLUGIN_OK) return r;
  if (auto r = deviceOperand("divideAsync", "src", src, bytes, &s); r != MIXCCL_PLUGIN_OK) return r;
  cpu::DivideFn fn = k->divide;
  asStream(stream)->enqueue([=]() -> std::string {
    auto t0 = std::chrono::steady_clock::now();
    fn(d, s, count, divisor);
    throttle(t0, bytes);
    return {};
  });
  return MIXCCL_PLUGIN_OK;
}

// An IPC handle: which process's memfd, and where in it.
struct IpcWire {
  char magic[8];  // "mxemuipc"
  int32_t pid;
  int32_t fd;
  uint64_t offset;
  uint64_t bytes;
};
static_assert(sizeof(IpcWire) <= MIXCCL_PLUGIN_IPC_HANDLE_BYTES);

mixcclPluginResult_t ipcExport(int ordinal, void* ptr, mixcclPluginIpcHandle_t* handle) {
  if (handle == nullptr) return fail(MIXCCL_PLUGIN_INVALID, "ipcExport: handle is NULL");
  EmuPool* pool = nullptr;
  if (auto r = poolOf(ordinal, &pool); r != MIXCCL_PLUGIN_OK) return r;
  size_t bytes = pool->allocationSize(ptr);
  if (bytes == 0) return fail(MIXCCL_PLUGIN_INVALID, "ipcExport: pointer is not the start of an allocation of this device");
  IpcWire w{};
  std::memcpy(w.magic, "mxemuipc", 8);
  w.pid = static_cast<int32_t>(getpid());
  w.fd = pool->fd();
  w.offset = pool->offsetOf(ptr);
  w.bytes = bytes;
  std::memset(handle, 0, sizeof(*handle));
  std::memcpy(handle->bytes, &w, sizeof(w));
  return MIXCCL_PLUGIN_OK;
}

mixcclPluginResult_t ipcImport(int ordinal, const mixcclPluginIpcHandle_t* handle, void** ptr, size_t* bytes) {
  if (handle == nullptr || ptr == nullptr) return fail(MIXCCL_PLUGIN_INVALID, "ipcImport: handle or ptr is NULL");
  if (auto r = checkOrdinal(ordinal); r != MIXCCL_PLUGIN_OK) return r;
  IpcWire w;
  std::memcpy(&w, handle->bytes, sizeof(w));
  if (std::memcmp(w.magic, "mxemuipc", 8) != 0) return fail(MIXCCL_PLUGIN_INVALID, "ipcImport: not an emu IPC handle");
  EmuImport imp;
  std::string err;
  if (!importRegion(w.pid, w.fd, w.offset, w.bytes, &imp, &err)) return fail(MIXCCL_PLUGIN_ERROR, "ipcImport: " + err);
  {
    std::lock_guard<std::mutex> lock(gMutex);
    gImports[reinterpret_cast<uintptr_t>(imp.device)] = imp;
  }
  *ptr = imp.device;
  if (bytes != nullptr) *bytes = w.bytes;
  return MIXCCL_PLUGIN_OK;
}

mixcclPluginResult_t ipcClose(int, void* ptr) {
  std::lock_guard<std::mutex> lock(gMutex);
  auto it = gImports.find(reinterpret_cast<uintptr_t>(ptr));
  if (it == gImports.end()) return fail(MIXCCL_PLUGIN_INVALID, "ipcClose: pointer was not returned by ipcImport");
  closeImport(it->second);
  gImports.erase(it);
  return MIXCCL_PLUGIN_OK;
}

const mixccl_device_plugin_v1 kTable = {
    MIXCCL_DEVICE_PLUGIN_ABI_VERSION,
    sizeof(mixccl_device_plugin_v1),
    "emu",
    lastError,
    deviceCount,
    identify,
    memAlloc,
    memFree,
    hostAlloc,
    hostFree,
    pointerOwner,
    streamCreate,
    streamDestroy,
    streamSynchronize,
    eventCreate,
    eventDestroy,
    eventRecord,
    eventQuery,
    eventSynchronize,
    streamWaitEvent,
    streamWaitHostValue,
    memcpyAsync,
    reduceAsync,
    scaleAsync,
    divideAsync,
    ipcExport,
    ipcImport,
    ipcClose,
};

}  // namespace
}  // namespace mixccl::emu

extern "C" __attribute__((visibility("default"))) const mixccl_device_plugin_v1* mixcclDevicePluginGetV1(void) {
  return &mixccl::emu::kTable;
}
