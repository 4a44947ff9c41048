// Test double for the cuda_ipc transport: a Device whose "device memory" is shared host memory
// (memfd), exported as (pid, fd, size) and imported by opening /proc/<pid>/fd/<fd>, so that forked
// ranks really map each other's buffers as CUDA IPC would. Its copies are host-synchronous like the
// cuda backend's; its IPC events only count records and waits so that tests can check the
// transport's protocol (every received chunk waited on the sender's event first).
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <mutex>
#include <string>

#include "backends/devices/device.h"

namespace mixccl::test {

class ShmIpcDevice final : public Device {
 public:
  struct MemHandle {
    int32_t pid;
    int32_t fd;
    uint64_t bytes;
  };

  explicit ShmIpcDevice(bool ipc = true) : ipc_(ipc) {}
  ~ShmIpcDevice() override {
    for (auto& [p, r] : owned_) {
      munmap(p, r.bytes);
      close(r.fd);
    }
  }

  const char* kind() const override { return "cuda"; }
  int ordinal() const override { return 0; }
  bool hostAccessible() const override { return false; }  // the transport must not care
  bool owns(const void*) const override { return true; }

  Status allocate(size_t bytes, void** ptr) override {
    int fd = memfd_create("shm-ipc-device", 0);
    if (fd < 0 || ftruncate(fd, static_cast<off_t>(bytes)) != 0) return systemErrorStatus("memfd");
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) return systemErrorStatus("mmap");
    owned_[p] = {getpid(), fd, bytes};
    *ptr = p;
    return Status::ok();
  }
  void release(void* ptr) override {
    auto it = owned_.find(ptr);
    if (it == owned_.end()) return;
    munmap(ptr, it->second.bytes);
    close(it->second.fd);
    owned_.erase(it);
  }
  Status copy(void* dst, const void* src, size_t bytes) override {
    ++copies;
    if (dst != src) std::memmove(dst, src, bytes);
    return Status::ok();
  }
  Status reduce(void* dst, const void* a, const void* b, size_t count, mixcclDataType_t type, ReduceOp op) override {
    if (type != mixcclInt32 || op != ReduceOp::Sum) return errorStatus(mixcclInvalidArgument, "test device: int32 sum only");
    auto* d = static_cast<int32_t*>(dst);
    auto* x = static_cast<const int32_t*>(a);
    auto* y = static_cast<const int32_t*>(b);
    for (size_t i = 0; i < count; ++i) d[i] = x[i] + y[i];
    return Status::ok();
  }
  Status scale(void*, const void*, size_t, mixcclDataType_t, const void*) override {
    return errorStatus(mixcclInvalidArgument, "test device: no scale");
  }
  Status divide(void*, const void*, size_t, mixcclDataType_t, uint64_t) override {
    return errorStatus(mixcclInvalidArgument, "test device: no divide");
  }

  bool supportsIpc() const override { return ipc_; }
  Status exportMemory(void* ptr, DeviceIpcHandle* handle) override {
    auto it = owned_.find(ptr);
    if (it == owned_.end()) return errorStatus(mixcclInvalidArgument, "test device: export of unknown memory");
    std::memcpy(handle->bytes, &it->second, sizeof(MemHandle));
    return Status::ok();
  }
  Status importMemory(const DeviceIpcHandle& handle, void** ptr) override {
    MemHandle h;
    std::memcpy(&h, handle.bytes, sizeof(h));
    if (h.pid == getpid()) return errorStatus(mixcclInvalidUsage, "test device: a process cannot import its own memory");
    std::string path = "/proc/" + std::to_string(h.pid) + "/fd/" + std::to_string(h.fd);
    int fd = open(path.c_str(), O_RDWR);
    if (fd < 0) return systemErrorStatus("test device: open %s", path.c_str());
    void* p = mmap(nullptr, h.bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) return systemErrorStatus("test device: mmap");
    imported_[p] = h.bytes;
    *ptr = p;
    return Status::ok();
  }
  void closeImported(void* ptr) override {
    auto it = imported_.find(ptr);
    if (it != imported_.end()) munmap(ptr, it->second);
    imported_.erase(ptr);
  }
  Status createIpcEvent(DeviceIpcHandle* handle, void** event) override {
    int32_t pid = getpid();
    std::memcpy(handle->bytes, &pid, sizeof(pid));
    *event = &ownEvent_;
    return Status::ok();
  }
  Status importIpcEvent(const DeviceIpcHandle& handle, void** event) override {
    int32_t pid = 0;
    std::memcpy(&pid, handle.bytes, sizeof(pid));
    if (pid <= 0 || pid == getpid()) return errorStatus(mixcclInvalidUsage, "test device: bad event handle");
    ++importedEvents;
    *event = &peerEvent_;
    return Status::ok();
  }
  Status recordIpcEvent(void* event) override {
    if (event != &ownEvent_) return errorStatus(mixcclInvalidUsage, "test device: record of an event it does not own");
    ++records;
    return Status::ok();
  }
  Status waitIpcEvent(void* event) override {
    if (event != &peerEvent_) return errorStatus(mixcclInvalidUsage, "test device: wait on an event it did not import");
    ++waits;
    return Status::ok();
  }
  void destroyIpcEvent(void*) override { ++destroyedEvents; }

  int copies = 0, records = 0, waits = 0, importedEvents = 0, destroyedEvents = 0;
  size_t importedCount() const { return imported_.size(); }
  size_t ownedCount() const { return owned_.size(); }

 private:
  bool ipc_;
  std::map<void*, MemHandle> owned_;
  std::map<void*, size_t> imported_;
  char ownEvent_ = 0, peerEvent_ = 0;
};

}  // namespace mixccl::test
