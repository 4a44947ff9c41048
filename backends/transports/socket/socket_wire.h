// What the socket transport puts on the wire and through the bootstrap. Fields are in host byte
// order: every supported host is little-endian, and the magic numbers would expose a mismatch.
#pragma once

#include <sys/socket.h>

#include <cstdint>

namespace mixccl {

constexpr uint64_t kSocketHelloMagic = 0x6f6c6c65486c6363ull;  // "cclHello" read little-endian
constexpr uint64_t kSocketReplyMagic = 0x796c7065526c6363ull;  // "cclReply"
constexpr uint64_t kSocketFrameMagic = 0x656d6172466c6363ull;  // "cclFrame"

// Each rank's listening address, exchanged through the bootstrap. `ok` is 0 when the rank could
// not listen (everyone then fails setup together).
struct SocketAddressCard {
  uint8_t ok;
  uint8_t listening;
  uint8_t nsocks;  // connections this rank wants per peer (MIXCCL_NSOCKS); a pair uses the smaller
  uint8_t reserved[5];
  sockaddr_storage address;
};

// The connector's first bytes: without the communicator's secret, a connection is dropped.
struct SocketHello {
  uint64_t magic;
  unsigned char secret[16];
  uint64_t commHash;
  int32_t rank;
  int32_t lane;  // which of the pair's connections this is, 0 .. nsocks-1
};
static_assert(sizeof(SocketHello) == 40);

// Most connections per peer pair (NCCL caps its sockets per peer at 64 too).
constexpr int kMaxSocketLanes = 64;

// How setup names one connection while it waits for it: peer rank and lane in one number.
constexpr int socketConnectionKey(int rank, int lane) { return rank * kMaxSocketLanes + lane; }

// The acceptor's answer, so the connector knows it reached the rank it meant to.
struct SocketHelloReply {
  uint64_t magic;
  uint64_t commHash;
  int32_t rank;
  int32_t reserved;
};
static_assert(sizeof(SocketHelloReply) == 24);

// Precedes every message's part on each connection that carries one (see socket_stripes.h):
// `bytes` is the whole message's size, which the receiver checks against the one it expects.
struct SocketFrameHeader {
  uint64_t magic;
  uint64_t bytes;
};
static_assert(sizeof(SocketFrameHeader) == 16);

}  // namespace mixccl
