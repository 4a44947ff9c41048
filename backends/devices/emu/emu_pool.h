// The memory of one emulated device: one memfd mapped twice. The address range handed out to mixccl
// (the "device pointers") is mapped PROT_NONE, so any load or store through it, by mixccl's core or
// anyone else, faults at once. The plugin itself reaches the same pages through a second,
// read-write mapping of the same file at another address, and translates every device pointer it
// is given. IPC: another process maps the same memfd (through /proc/<pid>/fd) the same two ways.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace mixccl::emu {

class EmuPool {
 public:
  // Reserves `capacity` bytes of address space (twice) backed by a sparse memfd: pages cost memory
  // only once written. Returns nullptr and sets *error on failure.
  static EmuPool* create(int ordinal, size_t capacity, std::string* error);

  int ordinal() const { return ordinal_; }
  // First-fit allocation, 256-byte aligned; false when no free range is large enough.
  bool allocate(size_t bytes, void** ptr);
  // false if ptr is not the start of a live allocation here.
  bool release(void* ptr);
  // Size of the live allocation starting at ptr, 0 if none.
  size_t allocationSize(const void* ptr) const;

  // True if [ptr, ptr+bytes) lies inside this pool's device range.
  bool contains(const void* ptr, size_t bytes = 1) const;
  // The plugin's read-write address for a device pointer of this pool (contains() must hold).
  void* shadow(const void* ptr) const { return shadow_ + (static_cast<const char*>(ptr) - device_); }

  int fd() const { return fd_; }
  size_t offsetOf(const void* ptr) const { return static_cast<size_t>(static_cast<const char*>(ptr) - device_); }

 private:
  EmuPool() = default;
  int ordinal_ = 0;
  int fd_ = -1;
  size_t capacity_ = 0;
  char* device_ = nullptr;  // PROT_NONE: what mixccl sees
  char* shadow_ = nullptr;  // PROT_READ|PROT_WRITE: what the plugin uses
  mutable std::mutex mutex_;
  std::map<size_t, size_t> free_;  // offset -> length, coalesced
  std::map<size_t, size_t> used_;  // offset -> length
};

// A region of another process's pool mapped into this one (ipcImport).
struct EmuImport {
  char* device = nullptr;  // PROT_NONE
  char* shadow = nullptr;  // read-write
  size_t bytes = 0;
  size_t mapped = 0;       // page-rounded length of both mappings
  size_t pageSkew = 0;     // device - mapping start
};
// Maps `bytes` at `offset` of the memfd `fd` of process `pid`; false with *error on failure.
bool importRegion(pid_t pid, int fd, size_t offset, size_t bytes, EmuImport* out, std::string* error);
void closeImport(const EmuImport& imp);

}  // namespace mixccl::emu
