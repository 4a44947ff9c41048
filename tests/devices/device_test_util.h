// Helpers for the device tests: buffers in a rank's device memory, filled and read back only
// through the Device interface (the test itself never touches emu memory either).
#pragma once

#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "backends/devices/device.h"
#include "tests/mp_harness.h"

namespace mixccl_test {

class DeviceBuffer {
 public:
  DeviceBuffer(mixccl::Device* dev, size_t bytes) : dev_(dev), bytes_(bytes) {
    if (bytes_ == 0) return;
    mixccl::Status st = dev_->allocate(bytes_, &ptr_);
    MP_CHECK(st.isOk(), "allocate %zu bytes on %s: %s", bytes_, dev_->kind(), st.message().c_str());
  }
  ~DeviceBuffer() {
    if (ptr_ != nullptr) dev_->release(ptr_);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* get() const { return ptr_; }
  char* at(size_t byteOffset) const { return static_cast<char*>(ptr_) + byteOffset; }
  size_t bytes() const { return bytes_; }

  void upload(const std::vector<unsigned char>& host) {
    MP_CHECK(host.size() == bytes_, "upload size %zu != %zu", host.size(), bytes_);
    if (bytes_ == 0) return;
    mixccl::Status st = dev_->copy(ptr_, host.data(), bytes_);
    MP_CHECK(st.isOk(), "upload: %s", st.message().c_str());
  }
  void fill(unsigned char byte) { upload(std::vector<unsigned char>(bytes_, byte)); }
  std::vector<unsigned char> download() const {
    std::vector<unsigned char> host(bytes_);
    if (bytes_ == 0) return host;
    // Collectives given a NULL stream are ordered on cuda's legacy default stream: wait for them
    // (the copy below runs on the device's own stream, which does not wait for that one).
    mixccl::Status st = dev_->synchronizeStream(nullptr);
    MP_CHECK(st.isOk(), "download: %s", st.message().c_str());
    st = dev_->copy(host.data(), ptr_, bytes_);
    MP_CHECK(st.isOk(), "download: %s", st.message().c_str());
    return host;
  }

 private:
  mixccl::Device* dev_;
  size_t bytes_;
  void* ptr_ = nullptr;
};

}  // namespace mixccl_test
