#include "backends/transports/shm/cross_memory.h"

#include <sys/uio.h>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <vector>

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

namespace {

// Best of kRounds timed calls of fn (after one untimed call that faults the pages in), in us.
template <class Fn>
double bestUs(Fn&& fn) {
  constexpr int kRounds = 4;
  if (!fn()) return -1;
  double best = 1e300;
  for (int i = 0; i < kRounds; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    if (!fn()) return -1;
    best = std::min(best, std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

ReadCost measure() {
  ReadCost cost;
  std::vector<unsigned char> from(kProbeBytes, 1), to(kProbeBytes, 2);
  cost.memcpyUs = bestUs([&] {
    std::memcpy(to.data(), from.data(), kProbeBytes);
    asm volatile("" : : "r"(to.data()) : "memory");  // the copy is used: keep it
    return true;
  });
  // Reading this process's own memory goes through the same pinning and copy as a peer's, and is
  // allowed whatever ptrace_scope says.
  cost.readUs = bestUs([&] {
    struct iovec local = {to.data(), kProbeBytes};
    struct iovec remote = {from.data(), kProbeBytes};
    return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == static_cast<ssize_t>(kProbeBytes);
  });
  cost.measured = cost.memcpyUs > 0 && cost.readUs > 0;
  return cost;
}

}  // namespace

const ReadCost& measuredReadCost() {
  static const ReadCost cost = measure();
  return cost;
}

bool readPays(const ReadCost& cost) { return cost.measured && cost.readUs <= kMaxReadSlowdown * cost.memcpyUs; }

}  // namespace mixccl::cross_memory
