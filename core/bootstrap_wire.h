// The bootstrap's messages on the wire. Fixed-size, packed, checked field by field on receipt:
// anything malformed is dropped, never trusted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
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

// ---- Parsing what arrives from the network (callable on any byte buffer: the fuzz targets do) ----

namespace mixccl::wire {

// Why a rendezvous hello was refused (Ok: it was not).
enum class HelloProblem { Ok, NotAHello, WrongSecret, BadRank, WrongSize };

// A hello sent to the rendezvous: exactly sizeof(Hello) bytes. knownNranks is 0 until the first rank
// has said how many ranks the communicator has. On Ok, *out holds the hello.
HelloProblem parseHello(const void* data, size_t len, const uint8_t secret[16], int knownNranks, Hello* out);
const char* describe(HelloProblem p);

// A ring hello from the previous rank; *why says what was wrong when it returns false.
bool parseRingHello(const void* data, size_t len, const uint8_t secret[16], uint64_t nonce, int expectedRank,
                    std::string* why);

// The rendezvous' answer to rank `nranks`-communicator member: checks magic, status and size. An error
// reply becomes its status (with the root's message, made safe to print).
Status parseReply(const void* data, size_t len, int nranks, Reply* out);
// The table of every rank's listener that follows a successful reply: nranks addresses, each IPv4 or
// IPv6 with a nonzero port.
Status parseAddressTable(const void* data, size_t len, int nranks, std::vector<WireAddress>* out);

}  // namespace mixccl::wire
