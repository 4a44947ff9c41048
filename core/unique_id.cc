#include "core/unique_id.h"

#include <sys/random.h>

#include <cerrno>
#include <cstring>

#include "core/env.h"
#include "core/log.h"
#include "topology/host_identity.h"

namespace mixccl {

WireAddress toWire(const net::Address& a) {
  WireAddress w;
  w.family = a.storage.ss_family;
  if (w.family == AF_INET) {
    auto* in = reinterpret_cast<const sockaddr_in*>(&a.storage);
    w.port = in->sin_port;
    std::memcpy(w.addr, &in->sin_addr, 4);
  } else if (w.family == AF_INET6) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(&a.storage);
    w.port = in6->sin6_port;
    std::memcpy(w.addr, &in6->sin6_addr, 16);
  }
  return w;
}

net::Address fromWire(const WireAddress& w) {
  net::Address a;
  if (w.family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&a.storage);
    in->sin_family = AF_INET;
    in->sin_port = w.port;
    std::memcpy(&in->sin_addr, w.addr, 4);
    a.length = sizeof(sockaddr_in);
  } else if (w.family == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = w.port;
    std::memcpy(&in6->sin6_addr, w.addr, 16);
    a.length = sizeof(sockaddr_in6);
  }
  return a;
}

Status decodeUniqueId(const mixcclUniqueId& id, UniqueIdContents* out) {
  std::memcpy(out, id.internal, sizeof(*out));
  if (out->magic != kUniqueIdMagic)
    return errorStatus(mixcclInvalidArgument,
                       "the unique id is not one made by mixcclGetUniqueId (bad magic): was it copied whole "
                       "to every rank?");
  if (out->version != kUniqueIdVersion)
    return errorStatus(mixcclInvalidArgument, "the unique id has version %u; this library reads version %u",
                       out->version, kUniqueIdVersion);
  if (out->root.family != AF_INET && out->root.family != AF_INET6)
    return errorStatus(mixcclInvalidArgument, "the unique id holds no valid rendezvous address");
  return Status::ok();
}

Status randomBytes(void* out, size_t bytes) {
  auto* p = static_cast<unsigned char*>(out);
  size_t got = 0;
  while (got < bytes) {
    ssize_t r = getrandom(p + got, bytes - got, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      return systemErrorStatus("cannot read random bytes for the communicator secret (getrandom)");
    }
    got += static_cast<size_t>(r);
  }
  return Status::ok();
}

Status uniqueIdFromEnvironment(bool* present, UniqueIdContents* out) {
  auto commId = env::get("COMM_ID", true);
  *present = commId.has_value();
  if (!commId) return Status::ok();
  net::Address addr;
  MIXCCL_CHECK(net::parseAddress(*commId, &addr).withContext("MIXCCL_COMM_ID/NCCL_COMM_ID: "));
  *out = UniqueIdContents{};
  out->flags = kUniqueIdRankZeroHosts;
  out->root = toWire(addr);
  std::string secretText;
  if (auto s = env::get("SECRET")) {
    secretText = *s;
  } else {
    static bool warned = false;
    if (!warned) {
      MIXCCL_WARN("MIXCCL_COMM_ID is set but MIXCCL_SECRET is not: the rendezvous uses a fixed, public "
                  "secret, so any process that can reach %s can join. Set MIXCCL_SECRET to the same "
                  "value on every rank.", commId->c_str());
      warned = true;
    }
    secretText = "mixccl-public-secret";
  }
  uint64_t h1 = hash64(secretText.data(), secretText.size());
  uint64_t h2 = hash64(secretText.data(), secretText.size(), h1 ^ 0x9e3779b97f4a7c15ull);
  std::memcpy(out->secret, &h1, 8);
  std::memcpy(out->secret + 8, &h2, 8);
  return Status::ok();
}

}  // namespace mixccl
