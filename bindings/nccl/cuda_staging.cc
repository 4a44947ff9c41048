#include "bindings/nccl/cuda_staging.h"

#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <mutex>

#include "core/log.h"

namespace mixccl::nccl {
namespace {

// The few CUDA driver entry points used, with the driver's own types reduced to what the ABI is:
// CUresult is an int, CUdeviceptr a 64-bit integer, CUstream and CUcontext opaque pointers.
using CuResult = int;
using CuDevicePtr = unsigned long long;
constexpr int kAttrContext = 1;     // CU_POINTER_ATTRIBUTE_CONTEXT
constexpr int kAttrMemoryType = 2;  // CU_POINTER_ATTRIBUTE_MEMORY_TYPE
constexpr unsigned kMemoryTypeDevice = 2;
constexpr unsigned kMemoryTypeUnified = 4;

struct Driver {
  CuResult (*pointerGetAttribute)(void*, int, CuDevicePtr) = nullptr;
  CuResult (*memcpyDtoHAsync)(void*, CuDevicePtr, size_t, void*) = nullptr;
  CuResult (*memcpyHtoDAsync)(CuDevicePtr, const void*, size_t, void*) = nullptr;
  CuResult (*streamSynchronize)(void*) = nullptr;
  CuResult (*ctxPushCurrent)(void*) = nullptr;
  CuResult (*ctxPopCurrent)(void**) = nullptr;
  CuResult (*ctxGetDevice)(int*) = nullptr;
  CuResult (*getErrorString)(CuResult, const char**) = nullptr;
};

template <class F>
bool bind(void* lib, const char* name, F* fn) {
  *fn = reinterpret_cast<F>(dlsym(lib, name));
  return *fn != nullptr;
}

// The driver once the process has loaded it; nullptr before. Looked up again on each call until
// found, because a program loads CUDA whenever it first touches it.
const Driver* driver() {
  static std::atomic<const Driver*> found{nullptr};
  static std::mutex mutex;
  if (const Driver* d = found.load(std::memory_order_acquire)) return d;
  std::lock_guard<std::mutex> lock(mutex);
  if (const Driver* d = found.load(std::memory_order_acquire)) return d;
  void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
  if (lib == nullptr) return nullptr;
  auto* d = new Driver;  // lives as long as the process
  bool ok = bind(lib, "cuPointerGetAttribute", &d->pointerGetAttribute) &&
            bind(lib, "cuMemcpyDtoHAsync_v2", &d->memcpyDtoHAsync) &&
            bind(lib, "cuMemcpyHtoDAsync_v2", &d->memcpyHtoDAsync) &&
            bind(lib, "cuStreamSynchronize", &d->streamSynchronize) &&
            bind(lib, "cuCtxPushCurrent_v2", &d->ctxPushCurrent) &&
            bind(lib, "cuCtxPopCurrent_v2", &d->ctxPopCurrent) && bind(lib, "cuCtxGetDevice", &d->ctxGetDevice) &&
            bind(lib, "cuGetErrorString", &d->getErrorString);
  if (!ok) {
    MIXCCL_WARN("libcuda.so.1 is loaded but lacks a function mixccl needs (%s); CUDA buffers cannot be staged",
                dlerror());
    delete d;
    return nullptr;
  }
  MIXCCL_INFO("NCCL binding: CUDA driver found; collectives on CUDA device buffers are staged through host memory");
  found.store(d, std::memory_order_release);
  return d;
}

Status cudaError(const char* what, CuResult rc) {
  const char* text = nullptr;
  if (const Driver* d = driver()) d->getErrorString(rc, &text);
  return errorStatus(mixcclUnhandledDeviceError, "%s failed: CUDA error %d (%s)", what, rc,
                     text != nullptr ? text : "no description");
}

CuDevicePtr devicePtr(const void* p) { return static_cast<CuDevicePtr>(reinterpret_cast<uintptr_t>(p)); }

// Makes the buffers' context current on this thread for as long as it lives (the caller's thread
// may have none, e.g. a helper thread of the application).
class ContextScope {
 public:
  ContextScope(const Driver* d, void* ctx) : d_(d), pushed_(ctx != nullptr && d->ctxPushCurrent(ctx) == 0) {}
  ~ContextScope() {
    if (pushed_) {
      void* popped = nullptr;
      d_->ctxPopCurrent(&popped);
    }
  }
  ContextScope(const ContextScope&) = delete;
  ContextScope& operator=(const ContextScope&) = delete;

 private:
  const Driver* d_;
  bool pushed_;
};

}  // namespace

bool cudaDriverPresent() { return driver() != nullptr; }

bool isCudaDeviceMemory(const void* ptr) {
  if (ptr == nullptr) return false;
  const Driver* d = driver();
  if (d == nullptr) return false;
  unsigned type = 0;
  // Host memory CUDA does not know answers an error: that is "not device memory".
  if (d->pointerGetAttribute(&type, kAttrMemoryType, devicePtr(ptr)) != 0) return false;
  return type == kMemoryTypeDevice || type == kMemoryTypeUnified;
}

int currentCudaDevice() {
  const Driver* d = driver();
  int dev = -1;
  if (d == nullptr || d->ctxGetDevice(&dev) != 0) return -1;
  return dev;
}

Status StagedBuffers::stage(const void* sendbuff, size_t sendBytes, void* recvbuff, size_t recvBytes, void* stream,
                            std::unique_ptr<StagedBuffers>* out) {
  auto s = std::unique_ptr<StagedBuffers>(new StagedBuffers);
  s->hostSend_ = sendbuff;
  s->hostRecv_ = recvbuff;
  bool sendOnDevice = sendBytes > 0 && isCudaDeviceMemory(sendbuff);
  bool recvOnDevice = recvBytes > 0 && isCudaDeviceMemory(recvbuff);
  if (!sendOnDevice && !recvOnDevice) {
    *out = std::move(s);
    return Status::ok();
  }
  const Driver* d = driver();
  s->staged_ = true;
  s->stream_ = stream;
  void* ctx = nullptr;
  d->pointerGetAttribute(&ctx, kAttrContext, devicePtr(sendOnDevice ? sendbuff : recvbuff));
  s->context_ = ctx;
  ContextScope scope(d, ctx);

  auto sendAt = reinterpret_cast<uintptr_t>(sendbuff), recvAt = reinterpret_cast<uintptr_t>(recvbuff);
  bool overlap = sendOnDevice && recvOnDevice && sendAt < recvAt + recvBytes && recvAt < sendAt + sendBytes;
  unsigned char* hostSend = nullptr;
  if (overlap) {
    // In place: one host copy of the union keeps the aliasing the collective relies on.
    uintptr_t lo = std::min(sendAt, recvAt), hi = std::max(sendAt + sendBytes, recvAt + recvBytes);
    s->span_.resize(hi - lo);
    hostSend = s->span_.data() + (sendAt - lo);
    s->hostRecv_ = s->span_.data() + (recvAt - lo);
  } else {
    if (sendOnDevice) {
      s->sendCopy_.resize(sendBytes);
      hostSend = s->sendCopy_.data();
    }
    if (recvOnDevice) {
      s->recvCopy_.resize(recvBytes);
      s->hostRecv_ = s->recvCopy_.data();
    }
  }
  if (sendOnDevice) {
    s->hostSend_ = hostSend;
    if (CuResult rc = d->memcpyDtoHAsync(hostSend, devicePtr(sendbuff), sendBytes, stream); rc != 0)
      return cudaError("copying the send buffer to the host (cuMemcpyDtoHAsync)", rc);
  }
  if (recvOnDevice) {
    s->deviceRecv_ = recvbuff;
    s->recvBytes_ = recvBytes;
  }
  if (CuResult rc = d->streamSynchronize(stream); rc != 0)
    return cudaError("waiting for the stream before a staged collective (cuStreamSynchronize)", rc);
  *out = std::move(s);
  return Status::ok();
}

Status StagedBuffers::finish() {
  if (!staged_ || deviceRecv_ == nullptr) return Status::ok();
  const Driver* d = driver();
  ContextScope scope(d, context_);
  if (CuResult rc = d->memcpyHtoDAsync(devicePtr(deviceRecv_), hostRecv_, recvBytes_, stream_); rc != 0)
    return cudaError("copying the result to the device (cuMemcpyHtoDAsync)", rc);
  if (CuResult rc = d->streamSynchronize(stream_); rc != 0)
    return cudaError("waiting for the result copy (cuStreamSynchronize)", rc);
  deviceRecv_ = nullptr;
  return Status::ok();
}

StagedBuffers::~StagedBuffers() = default;

}  // namespace mixccl::nccl
