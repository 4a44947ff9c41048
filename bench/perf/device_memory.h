// Buffers in a rank's device memory for mixccl-perf, and copies in and out of them. A benchmark
// user on a GPU allocates with the vendor's runtime; so does this: host memory for "cpu", the CUDA
// runtime for "cuda" (where built with it), and for any other kind the device plugin's own table,
// loaded through the public plugin ABI (include/mixccl_device_plugin.h), the same library mixccl
// itself loads. Inputs are written and results checked in host memory and copied across, outside
// the timed region.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace mixcclperf {

class DeviceMemory {
 public:
  virtual ~DeviceMemory() = default;
  virtual char* allocate(size_t bytes) = 0;  // throws std::bad_alloc or std::runtime_error
  virtual void release(char* p) = 0;
  virtual void toDevice(void* dst, const void* src, size_t bytes) = 0;
  virtual void toHost(void* dst, const void* src, size_t bytes) = 0;
};

// The memory of device `ordinal` of `kind`; throws std::runtime_error with a sentence when the
// kind cannot be opened here.
std::unique_ptr<DeviceMemory> openDeviceMemory(const std::string& kind, int ordinal);

// A zeroed buffer of `bytes` (at least one page) in a DeviceMemory.
class DeviceBuffer {
 public:
  DeviceBuffer(DeviceMemory& mem, size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  char* get() const { return ptr_; }

 private:
  DeviceMemory& mem_;
  char* ptr_;
};

}  // namespace mixcclperf
