// Single-copy reads from a peer process on this host (Linux cross-memory attach,
// process_vm_readv). A large shm message then costs one copy, the receiver's, instead of two
// (the sender's into a ring slot and the receiver's out of it). The kernel allows it only where
// the reader may ptrace the peer (same user; with Yama's ptrace_scope=1 only a parent), so every
// link tries it once at setup and falls back to the rings where it is refused.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>

#include "core/status.h"

namespace mixccl::cross_memory {

// Reads the 4-byte word at `address` in process `pid` and says whether it holds `expected`.
// On refusal *why gets the OS's reason (errno text), for the log.
bool probe(pid_t pid, uint64_t address, int32_t expected, const char** why);

// Copies `len` bytes at `address` in process `pid` (the peer, rank `peerRank`) to `dst`.
Status read(pid_t pid, int peerRank, uint64_t address, void* dst, size_t len);

// What one kernel read costs against one memcpy of the same bytes on this host, measured once per
// process (best of a few 1 MiB copies, a fraction of a millisecond). The kernel pins every page it
// reads; on some VMs that makes process_vm_readv 3-4x slower than memcpy, and then the rings' two
// copies (done by two cores at once) beat the one kernel copy.
struct ReadCost {
  double readUs = 0;    // process_vm_readv of kProbeBytes
  double memcpyUs = 0;  // memcpy of kProbeBytes
  bool measured = false;
};
inline constexpr size_t kProbeBytes = size_t{1} << 20;
const ReadCost& measuredReadCost();

// Whether reading by address pays on this host: the kernel read costs at most kMaxReadSlowdown
// memcpys. The rings cost two copies per message (the sender's and the receiver's), so up to 2x the
// single copy still saves work; 1.5 leaves room for what the probe does not see (pinning a cold
// buffer, a busy sender's pages).
inline constexpr double kMaxReadSlowdown = 1.5;
bool readPays(const ReadCost& cost);

}  // namespace mixccl::cross_memory
