#include "backends/devices/emu/emu_pool.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mixccl::emu {
namespace {

constexpr size_t kAlign = 256;
// Frees at least this large give their pages back to the kernel (a hole punched in the memfd).
constexpr size_t kPunchBytes = 1 << 20;

size_t roundUp(size_t v, size_t a) { return (v + a - 1) / a * a; }

std::string sysError(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

}  // namespace

EmuPool* EmuPool::create(int ordinal, size_t capacity, std::string* error) {
  capacity = roundUp(capacity, static_cast<size_t>(sysconf(_SC_PAGESIZE)));
  std::string name = "mixccl-emu-" + std::to_string(ordinal);
  int fd = memfd_create(name.c_str(), MFD_CLOEXEC);
  if (fd < 0) {
    *error = sysError("memfd_create");
    return nullptr;
  }
  if (ftruncate(fd, static_cast<off_t>(capacity)) != 0) {
    *error = sysError("ftruncate of the emu device memory file");
    close(fd);
    return nullptr;
  }
  // MAP_NORESERVE: the pool is sparse; only pages the plugin writes are ever backed.
  void* dev = mmap(nullptr, capacity, PROT_NONE, MAP_SHARED | MAP_NORESERVE, fd, 0);
  if (dev == MAP_FAILED) {
    *error = sysError("mmap of the emu device range");
    close(fd);
    return nullptr;
  }
  void* sh = mmap(nullptr, capacity, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
  if (sh == MAP_FAILED) {
    *error = sysError("mmap of the emu shadow range");
    munmap(dev, capacity);
    close(fd);
    return nullptr;
  }
  auto* p = new EmuPool;
  p->ordinal_ = ordinal;
  p->fd_ = fd;
  p->capacity_ = capacity;
  p->device_ = static_cast<char*>(dev);
  p->shadow_ = static_cast<char*>(sh);
  p->free_[0] = capacity;
  return p;
}

bool EmuPool::allocate(size_t bytes, void** ptr) {
  size_t want = roundUp(bytes == 0 ? 1 : bytes, kAlign);
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto it = free_.begin(); it != free_.end(); ++it) {
    if (it->second < want) continue;
    size_t off = it->first, len = it->second;
    free_.erase(it);
    if (len > want) free_[off + want] = len - want;
    used_[off] = want;
    *ptr = device_ + off;
    return true;
  }
  return false;
}

bool EmuPool::release(void* ptr) {
  if (!contains(ptr)) return false;
  size_t off = offsetOf(ptr);
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = used_.find(off);
  if (it == used_.end()) return false;
  size_t len = it->second;
  used_.erase(it);
  if (len >= kPunchBytes) fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(off),
                                    static_cast<off_t>(len));
  // Insert and coalesce with the neighbours.
  auto next = free_.lower_bound(off);
  if (next != free_.end() && off + len == next->first) {
    len += next->second;
    next = free_.erase(next);
  }
  if (next != free_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second == off) {
      prev->second += len;
      return true;
    }
  }
  free_[off] = len;
  return true;
}

size_t EmuPool::allocationSize(const void* ptr) const {
  if (!contains(ptr)) return 0;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = used_.find(offsetOf(ptr));
  return it == used_.end() ? 0 : it->second;
}

bool EmuPool::contains(const void* ptr, size_t bytes) const {
  auto p = reinterpret_cast<uintptr_t>(ptr), base = reinterpret_cast<uintptr_t>(device_);
  return p >= base && p < base + capacity_ && bytes <= base + capacity_ - p;
}

bool importRegion(pid_t pid, int fd, size_t offset, size_t bytes, EmuImport* out, std::string* error) {
  std::string path = "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(fd);
  int local = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (local < 0) {
    *error = sysError(("open " + path).c_str());
    return false;
  }
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  size_t start = offset / page * page;
  size_t skew = offset - start;
  size_t len = roundUp(skew + bytes, page);
  void* dev = mmap(nullptr, len, PROT_NONE, MAP_SHARED | MAP_NORESERVE, local, static_cast<off_t>(start));
  void* sh = dev == MAP_FAILED ? MAP_FAILED
                               : mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, local,
                                      static_cast<off_t>(start));
  int savedErrno = errno;
  close(local);  // the mappings keep the file alive
  if (sh == MAP_FAILED) {
    errno = savedErrno;
    *error = sysError(("mmap of " + path).c_str());
    if (dev != MAP_FAILED) munmap(dev, len);
    return false;
  }
  out->device = static_cast<char*>(dev) + skew;
  out->shadow = static_cast<char*>(sh) + skew;
  out->bytes = bytes;
  out->mapped = len;
  out->pageSkew = skew;
  return true;
}

void closeImport(const EmuImport& imp) {
  munmap(imp.device - imp.pageSkew, imp.mapped);
  munmap(imp.shadow - imp.pageSkew, imp.mapped);
}

}  // namespace mixccl::emu
