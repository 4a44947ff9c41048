// What a mixcclUniqueId holds: where the rendezvous listens and the secret every connection must
// present. It is copied byte for byte between processes, so it is a fixed, packed layout.
#pragma once

#include <cstdint>

#include "core/net.h"
#include "core/status.h"
#include "mixccl.h"

namespace mixccl {

// A socket address as it travels on the wire (no padding, port in network order).
struct WireAddress {
  uint16_t family = 0;  // AF_INET or AF_INET6
  uint16_t port = 0;
  uint8_t addr[16] = {};
};
WireAddress toWire(const net::Address& a);
net::Address fromWire(const WireAddress& w);

constexpr uint64_t kUniqueIdMagic = 0x44494c4343584d49ull;  // "IMXCCLID"
constexpr uint32_t kUniqueIdVersion = 1;
// The rendezvous is hosted by rank 0 at the address of MIXCCL_COMM_ID, not by mixcclGetUniqueId.
constexpr uint32_t kUniqueIdRankZeroHosts = 1u;

struct UniqueIdContents {
  uint64_t magic = kUniqueIdMagic;
  uint32_t version = kUniqueIdVersion;
  uint32_t flags = 0;
  uint8_t secret[16] = {};
  WireAddress root;
};
static_assert(sizeof(UniqueIdContents) <= MIXCCL_UNIQUE_ID_BYTES);

// Decodes and checks an id passed by the user.
Status decodeUniqueId(const mixcclUniqueId& id, UniqueIdContents* out);
// Fills `secret` with 16 bytes from the kernel's random source.
Status randomBytes(void* out, size_t bytes);
// The id that MIXCCL_COMM_ID (or NCCL_COMM_ID) describes, if set: every rank computes the same one.
// The secret is derived from MIXCCL_SECRET when set; otherwise a fixed, documented one is used.
Status uniqueIdFromEnvironment(bool* present, UniqueIdContents* out);

}  // namespace mixccl
