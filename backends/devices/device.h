// The device backend interface: everything the core may do with a rank's memory. The core never
// dereferences a buffer itself; it asks the rank's Device to copy, reduce or scale it. Backends know
// nothing about collectives or peers.
//
// Reductions here are binary and elementwise. What makes a collective's operator (average,
// pre-multiplied sum) is composed by the core from these: pre-multiplied sum = scale each input, then
// sum; integer average = sum, then divide; float average = scale by 1/n, then sum (as NCCL does).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "core/status.h"
#include "mixccl.h"

namespace mixccl {

// The binary operators a backend implements. Avg and PreMulSum are built from these by the core.
enum class ReduceOp : uint8_t { Sum, Prod, Max, Min };
const char* reduceOpName(ReduceOp op);

// Size in bytes of one element of a data type; 0 for a value outside the enum.
size_t dataTypeSize(mixcclDataType_t type);
// Writes `value` as one element of `type` (rounded to nearest even; integers truncate toward zero).
// Used for operator constants such as the 1/n of a floating-point average.
void encodeScalar(double value, mixcclDataType_t type, void* out);
const char* dataTypeName(mixcclDataType_t type);
bool isFloatingType(mixcclDataType_t type);

// Where a stream-ordered collective sits in the user's stream (core/stream_proxy.h). The
// collective's thread waits for the stream to reach it (inputs ready), runs, then releases the
// stream, which meanwhile waits on the device without the host blocking.
class StreamGate {
 public:
  virtual ~StreamGate() = default;
  // Blocks until the user's stream has reached the collective; fails on `aborted` or after
  // timeoutSeconds, naming the stream.
  virtual Status waitReady(const std::atomic<bool>& aborted, int timeoutSeconds) = 0;
  // Lets the user's stream go past the collective. Gates of one device are released in the order
  // they were opened (the proxy runs operations in call order).
  virtual void release() = 0;
};

// An IPC handle as bytes (cudaIpcMemHandle_t, cudaIpcEventHandle_t and HIP's are 64 bytes).
struct DeviceIpcHandle {
  unsigned char bytes[64] = {};
};

class Device {
 public:
  virtual ~Device() = default;

  virtual const char* kind() const = 0;  // "cpu", "cuda", ...
  virtual int ordinal() const = 0;

  // True when host code may read and write this device's buffers directly (then transports may move
  // bytes straight from and into them instead of staging through a copy).
  virtual bool hostAccessible() const = 0;
  // True when ptr lies in memory this device owns. The cpu backend answers true for any pointer
  // that no other backend claims.
  virtual bool owns(const void* ptr) const = 0;

  // Memory for buffers and scratch space.
  virtual Status allocate(size_t bytes, void** ptr) = 0;
  virtual void release(void* ptr) = 0;

  // dst <- src, bytes long. Regions may not overlap unless dst == src (then nothing happens).
  virtual Status copy(void* dst, const void* src, size_t bytes) = 0;
  // dst[i] = a[i] op b[i] for i < count. dst may equal a or b; no other overlap is allowed.
  virtual Status reduce(void* dst, const void* a, const void* b, size_t count,
                        mixcclDataType_t type, ReduceOp op) = 0;
  // dst[i] = src[i] * scalar, where *scalar is one element of `type` (a pre-multiplied sum's factor).
  // Low-precision floats are multiplied in float and rounded to nearest even once.
  virtual Status scale(void* dst, const void* src, size_t count, mixcclDataType_t type,
                       const void* scalar) = 0;
  // dst[i] = src[i] / divisor: integer average (sum, then divide, truncating toward zero).
  virtual Status divide(void* dst, const void* src, size_t count, mixcclDataType_t type,
                        uint64_t divisor) = 0;

  // Stream ordering, for devices that have streams (cuda, hip, plugins). Called on the API
  // thread: marks the current end of `userStream` and makes it wait for the gate's release. A
  // device without streams leaves *gate empty: its collectives run before the call returns.
  virtual Status openGate(void* userStream, std::unique_ptr<StreamGate>* gate) {
    (void)userStream;
    gate->reset();
    return Status::ok();
  }

  // Blocks the host until `userStream` has passed everything queued on it (what NULL means is the
  // device's choice, as in openGate). For callers that hold no runtime of their own (tests, tools).
  virtual Status synchronizeStream(void* userStream) {
    (void)userStream;
    return Status::ok();
  }

  // ---- Staging through host memory (core/staged_message.h), for devices the host cannot touch ----
  // Host memory the device copies to and from fastest: page-locked where the device has such memory
  // (cuda, hip, a plugin's hostAlloc), so that its copies run at the bus's rate and truly in the
  // background. The default is plain page-aligned host memory. Host-accessible either way.
  // (Defined here, not in a .cc: the GPU modules link no more of libmixccl than device_types.cc.)
  virtual Status allocateHost(size_t bytes, void** ptr) {
    *ptr = nullptr;
    if (bytes == 0) {
      return errorStatus(mixcclInvalidArgument, "device %s:%d: cannot allocate 0 bytes of host memory", kind(), ordinal());
    }
    if (posix_memalign(ptr, 4096, bytes) != 0) {
      *ptr = nullptr;
      return errorStatus(mixcclSystemError, "device %s:%d: could not allocate %zu bytes of host memory for staging",
                         kind(), ordinal(), bytes);
    }
    return Status::ok();
  }
  virtual void releaseHost(void* ptr) { std::free(ptr); }
  // The same work as copy() and reduce(), enqueued on the device's own stream behind everything
  // queued there before, and returning at once with a ticket; waitTicket(t) blocks until the device
  // has done the work of every ticket up to t (kAllTickets: everything queued so far) and reports the
  // first error any of it met. Host memory passed in must stay untouched until then. Tickets
  // increase by one per call; 0 means "nothing to wait for". The default runs the work before
  // returning (ticket 0), which is right for a device without streams.
  static constexpr uint64_t kAllTickets = UINT64_MAX;
  virtual Status copyAsync(void* dst, const void* src, size_t bytes, uint64_t* ticket) {
    *ticket = 0;
    return copy(dst, src, bytes);
  }
  virtual Status reduceAsync(void* dst, const void* a, const void* b, size_t count, mixcclDataType_t type,
                             ReduceOp op, uint64_t* ticket) {
    *ticket = 0;
    return reduce(dst, a, b, count, type, op);
  }
  virtual Status waitTicket(uint64_t ticket) {
    (void)ticket;
    return Status::ok();
  }

  // ---- Sharing memory and completion events with other processes of this host (the cuda_ipc
  // transport; backends/transports/cuda_ipc). A device without IPC keeps these defaults. Handles are
  // opaque bytes the core ships through the bootstrap; the importing process gets its own mapping.
  virtual bool supportsIpc() const { return false; }
  // A handle for memory this device allocated (allocate()); the memory stays owned by this process.
  virtual Status exportMemory(void* ptr, DeviceIpcHandle* handle) {
    (void)ptr, (void)handle;
    return ipcUnsupported();
  }
  // Maps another process's exported memory; undo with closeImported.
  virtual Status importMemory(const DeviceIpcHandle& handle, void** ptr) {
    (void)handle, (void)ptr;
    return ipcUnsupported();
  }
  virtual void closeImported(void* ptr) { (void)ptr; }
  // An interprocess event: recorded by one process on its device's own stream, waited on by another
  // on its own stream (the GPU orders the two; no kernel spins and the host does not block).
  virtual Status createIpcEvent(DeviceIpcHandle* handle, void** event) {
    (void)handle, (void)event;
    return ipcUnsupported();
  }
  virtual Status importIpcEvent(const DeviceIpcHandle& handle, void** event) {
    (void)handle, (void)event;
    return ipcUnsupported();
  }
  // Records `event` after everything this device has enqueued so far.
  virtual Status recordIpcEvent(void* event) {
    (void)event;
    return ipcUnsupported();
  }
  // This device's later work waits for the event's last record.
  virtual Status waitIpcEvent(void* event) {
    (void)event;
    return ipcUnsupported();
  }
  virtual void destroyIpcEvent(void* event) { (void)event; }

 private:
  Status ipcUnsupported() const {
    return errorStatus(mixcclInvalidUsage, "device %s:%d cannot share memory with other processes (no IPC)", kind(),
                       ordinal());
  }
};

// The cpu backend. `threads` bounds how many threads one large reduction may use (1: the caller's
// thread only); the core passes cores-per-local-rank so that ranks on one host do not oversubscribe.
std::unique_ptr<Device> createCpuDevice(int ordinal, int threads);

}  // namespace mixccl
