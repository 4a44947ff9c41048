// The bootstrap's messages on the wire. Fixed-size, packed, checked field by field on receipt:
// anything malformed is dropped, never trusted.
#pragma once

#include <cstdint>

#include "core/unique_id.h"

namespace mixccl::wire {

constexpr uint64_t kHelloMagic = 0x4f4c4c4548434d58ull;    // rank -> root
constexpr uint64_t kReplyMagic = 0x594c504552434d58ull;    // root -> rank
constexpr uint64_t kRingMagic = 0x474e495252434d58ull;     // rank -> next rank

#pragma pack(push, 1)
struct Hello {
  uint64_t magic;
  uint8_t secret[16];
  int32_t nranks;
  int32_t rank;
  WireAddress listen;  // the rank's own bootstrap listener
};
struct Reply {
  uint64_t magic;
  int32_t status;  // mixcclResult_t; on error `message` says why and no table follows
  int32_t nranks;
  uint64_t nonce;  // identifies the communicator
  char message[256];
};
struct RingHello {
  uint64_t magic;
  uint8_t secret[16];
  uint64_t nonce;
  int32_t rank;
};
#pragma pack(pop)

// Constant-time comparison of secrets (so that timing does not leak how much of a guess matched).
inline bool sameSecret(const uint8_t* a, const uint8_t* b) {
  uint8_t diff = 0;
  for (int i = 0; i < 16; ++i) diff |= static_cast<uint8_t>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace mixccl::wire
