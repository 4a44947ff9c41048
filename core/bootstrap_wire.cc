#include "core/bootstrap_wire.h"

#include <sys/socket.h>

#include <cstring>

namespace mixccl::wire {

HelloProblem parseHello(const void* data, size_t len, const uint8_t secret[16], int knownNranks, Hello* out) {
  if (len != sizeof(Hello)) return HelloProblem::NotAHello;
  Hello h;
  std::memcpy(&h, data, sizeof(h));  // the buffer may be unaligned
  if (h.magic != kHelloMagic) return HelloProblem::NotAHello;
  if (!sameSecret(h.secret, secret)) return HelloProblem::WrongSecret;
  if (h.nranks <= 0 || h.rank < 0 || h.rank >= h.nranks) return HelloProblem::BadRank;
  if (knownNranks != 0 && h.nranks != knownNranks) return HelloProblem::WrongSize;
  if (h.listen.family != AF_INET && h.listen.family != AF_INET6) return HelloProblem::NotAHello;
  *out = h;
  return HelloProblem::Ok;
}

const char* describe(HelloProblem p) {
  switch (p) {
    case HelloProblem::Ok: return "accepted";
    case HelloProblem::NotAHello: return "not a mixccl hello (closed early, garbage or a bad address)";
    case HelloProblem::WrongSecret: return "it did not present this communicator's secret";
    case HelloProblem::BadRank: return "rank out of range";
    case HelloProblem::WrongSize: return "other ranks said the communicator has a different size";
  }
  return "unknown";
}

bool parseRingHello(const void* data, size_t len, const uint8_t secret[16], uint64_t nonce, int expectedRank,
                    std::string* why) {
  RingHello h;
  if (len != sizeof(h)) {
    *why = strFormat("it sent %zu bytes, not a %zu-byte ring hello", len, sizeof(h));
    return false;
  }
  std::memcpy(&h, data, sizeof(h));
  if (h.magic != kRingMagic) *why = "not a mixccl ring hello (garbage)";
  else if (!sameSecret(h.secret, secret)) *why = "it did not present this communicator's secret";
  else if (h.nonce != nonce) *why = "it belongs to another communicator";
  else if (h.rank != expectedRank) *why = strFormat("it claims rank %d, not rank %d", h.rank, expectedRank);
  else return true;
  return false;
}

Status parseReply(const void* data, size_t len, int nranks, Reply* out) {
  if (len != sizeof(Reply)) return errorStatus(mixcclSystemError, "the rendezvous sent a truncated answer");
  Reply r;
  std::memcpy(&r, data, sizeof(r));
  if (r.magic != kReplyMagic) return errorStatus(mixcclSystemError, "the rendezvous answered with garbage");
  r.message[sizeof(r.message) - 1] = '\0';
  if (r.status != mixcclSuccess) {
    // Only a known error code is passed on; the text is printed, so keep it printable.
    mixcclResult_t code = r.status > mixcclSuccess && r.status < mixcclNumResults
                              ? static_cast<mixcclResult_t>(r.status) : mixcclSystemError;
    for (char& c : r.message) {
      if (c != '\0' && (c < 0x20 || c > 0x7e)) c = '?';
    }
    return Status(code, strFormat("the rendezvous refused this rank: %s", r.message));
  }
  if (r.nranks != nranks) {
    return errorStatus(mixcclInternalError, "the rendezvous answered for %d ranks, not %d", r.nranks, nranks);
  }
  *out = r;
  return Status::ok();
}

Status parseAddressTable(const void* data, size_t len, int nranks, std::vector<WireAddress>* out) {
  if (nranks <= 0 || len != static_cast<size_t>(nranks) * sizeof(WireAddress)) {
    return errorStatus(mixcclSystemError, "the rendezvous sent a table of %zu bytes for %d ranks", len, nranks);
  }
  out->resize(static_cast<size_t>(nranks));
  std::memcpy(out->data(), data, len);
  for (int r = 0; r < nranks; ++r) {
    const WireAddress& a = (*out)[static_cast<size_t>(r)];
    if ((a.family != AF_INET && a.family != AF_INET6) || a.port == 0) {
      return errorStatus(mixcclSystemError, "the rendezvous sent an unusable address for rank %d (family %u, port %u)",
                         r, static_cast<unsigned>(a.family), static_cast<unsigned>(a.port));
    }
  }
  return Status::ok();
}

}  // namespace mixccl::wire
