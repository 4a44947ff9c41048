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

}  // namespace mixccl::cross_memory
