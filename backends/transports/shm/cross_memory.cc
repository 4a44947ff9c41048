#include "backends/transports/shm/cross_memory.h"

#include <sys/uio.h>

#include <cerrno>
#include <cstring>

namespace mixccl::cross_memory {

bool probe(pid_t pid, uint64_t address, int32_t expected, const char** why) {
  int32_t value = 0;
  struct iovec local = {&value, sizeof(value)};
  struct iovec remote = {reinterpret_cast<void*>(static_cast<uintptr_t>(address)), sizeof(value)};
  ssize_t got = process_vm_readv(pid, &local, 1, &remote, 1, 0);
  if (got != static_cast<ssize_t>(sizeof(value))) {
    *why = got < 0 ? strerror(errno) : "short read";
    return false;
  }
  if (value != expected) {
    *why = "the word read back differs (not the process that published it)";
    return false;
  }
  return true;
}

Status read(pid_t pid, int peerRank, uint64_t address, void* dst, size_t len) {
  auto* out = static_cast<unsigned char*>(dst);
  size_t done = 0;
  // The kernel may stop short (at a page it could not pin); go on from there.
  while (done < len) {
    struct iovec local = {out + done, len - done};
    struct iovec remote = {reinterpret_cast<void*>(static_cast<uintptr_t>(address + done)), len - done};
    ssize_t got = process_vm_readv(pid, &local, 1, &remote, 1, 0);
    if (got <= 0) {
      const int err = got < 0 ? errno : EFAULT;
      if (err == ESRCH) {
        return errorStatus(mixcclSystemError, "rank %d (pid %d) exited while this rank was reading its message",
                           peerRank, static_cast<int>(pid));
      }
      return errorStatus(mixcclSystemError,
                         "reading %zu bytes of rank %d's message from its memory (pid %d, address 0x%llx) "
                         "failed after %zu bytes: %s (MIXCCL_SHM_CMA_BYTES=0 sends every message through "
                         "the shared rings instead)",
                         len, peerRank, static_cast<int>(pid), static_cast<unsigned long long>(address), done,
                         strerror(err));
    }
    done += static_cast<size_t>(got);
  }
  return Status::ok();
}

}  // namespace mixccl::cross_memory
