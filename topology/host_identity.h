// Which host a rank runs on. Ranks with the same identity share memory (shm transport) and form
// islands; ranks with different ones talk over the network. MIXCCL_HOST_ID overrides the detected
// identity (used to make network namespaces on one machine look like separate hosts).
#pragma once

#include <cstdint>
#include <string>

namespace mixccl {

std::string hostName();
// A stable 64-bit identity: hash of MIXCCL_HOST_ID if set, else of host name and kernel boot id.
uint64_t hostIdentity();
// FNV-1a, used for identities and communicator hashes.
uint64_t hash64(const void* data, size_t bytes, uint64_t seed = 0xcbf29ce484222325ull);

}  // namespace mixccl
