#include "backends/transports/socket/socket_setup.h"

#include <netinet/in.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <thread>

#include "backends/transports/socket/socket_wire.h"
#include "core/log.h"

namespace mixccl {
namespace {

constexpr int kListenBacklog = 1024;
// Connections still saying hello at once; beyond this the oldest is dropped (a flood of strangers
// must not exhaust file descriptors).
constexpr size_t kMaxPendingHellos = 256;

bool sameSecret(const unsigned char* a, const unsigned char* b) {
  unsigned char diff = 0;  // no early exit: the time taken says nothing about the secret
  for (int i = 0; i < 16; ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

// `keys` are socketConnectionKey()s: "3" for a pair's first connection, "3 (connection 2)" after.
std::string rankList(const std::set<int>& keys) {
  std::string s;
  for (int k : keys) {
    s += (s.empty() ? "" : ", ") + std::to_string(k / kMaxSocketLanes);
    if (k % kMaxSocketLanes != 0) s += " (connection " + std::to_string(k % kMaxSocketLanes) + ")";
  }
  return s;
}

bool retryableConnectError(int err) {
  return err == ECONNREFUSED || err == ETIMEDOUT || err == ENETUNREACH || err == EHOSTUNREACH ||
         err == ECONNRESET || err == EAGAIN;
}

// One accepted connection that has not finished its hello yet.
struct PendingHello {
  UniqueFd fd;
  std::string from;
  SocketHello hello{};
  size_t got = 0;
};

}  // namespace

Status listenOn(const std::string& bindAddress, UniqueFd* fd, sockaddr_storage* bound) {
  if (bindAddress.empty()) {
    return errorStatus(mixcclInternalError, "socket transport: no local address to listen on was given");
  }
  sockaddr_storage addr{};
  socklen_t len = 0;
  MIXCCL_CHECK(parseAddress(bindAddress, 0, &addr, &len));
  UniqueFd s(socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!s.valid()) return systemErrorStatus("socket transport: cannot create a socket for %s", bindAddress.c_str());
  tuneDataSocket(s.get());  // accepted sockets inherit the buffer sizes (window scaling is set at SYN)
  if (bind(s.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    return systemErrorStatus("socket transport: cannot bind to %s", bindAddress.c_str());
  }
  if (listen(s.get(), kListenBacklog) != 0) {
    return systemErrorStatus("socket transport: cannot listen on %s", bindAddress.c_str());
  }
  socklen_t boundLen = sizeof(*bound);
  std::memset(bound, 0, sizeof(*bound));
  if (getsockname(s.get(), reinterpret_cast<sockaddr*>(bound), &boundLen) != 0) {
    return systemErrorStatus("socket transport: getsockname on %s", bindAddress.c_str());
  }
  *fd = std::move(s);
  return Status::ok();
}

Status connectToPeer(const TransportContext& ctx, int peer, const sockaddr_storage& address,
                     const SetupDeadline& deadline, UniqueFd* out, int lane) {
  const std::string where = formatAddress(address);
  const std::string what = strFormat("socket transport: rank %d connecting to rank %d at %s (connection %d)",
                                     ctx.rank, peer, where.c_str(), lane);
  socklen_t len = address.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  int lastError = 0;
  for (;;) {
    if (deadline.isAborted()) return errorStatus(mixcclSystemError, "%s: aborted", what.c_str());
    if (deadline.passed()) {
      errno = lastError;
      return systemErrorStatus("%s: gave up after %d s (MIXCCL_TIMEOUT)", what.c_str(), deadline.timeoutSeconds);
    }
    UniqueFd s(socket(address.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!s.valid()) return systemErrorStatus("%s: socket", what.c_str());
    tuneDataSocket(s.get());
    int rc = connect(s.get(), reinterpret_cast<const sockaddr*>(&address), len);
    int err = rc == 0 ? 0 : errno;
    if (err == EINPROGRESS) {
      pollfd p{s.get(), POLLOUT, 0};
      while (!deadline.passed() && !deadline.isAborted()) {
        int n = poll(&p, 1, deadline.pollSliceMs());
        if (n > 0) break;
        if (n < 0 && errno != EINTR) return systemErrorStatus("%s: poll", what.c_str());
      }
      if (p.revents == 0) continue;  // the loop head reports the timeout or abort
      socklen_t errLen = sizeof(err);
      getsockopt(s.get(), SOL_SOCKET, SO_ERROR, &err, &errLen);
    }
    if (err == 0) {
      SocketHello hello{};
      hello.magic = kSocketHelloMagic;
      std::memcpy(hello.secret, ctx.secret, sizeof(hello.secret));
      hello.commHash = ctx.commHash;
      hello.rank = ctx.rank;
      hello.lane = lane;
      MIXCCL_CHECK(writeFully(s.get(), &hello, sizeof(hello), deadline, what));
      *out = std::move(s);
      return Status::ok();
    }
    if (!retryableConnectError(err)) {
      errno = err;
      return systemErrorStatus("%s", what.c_str());
    }
    lastError = err;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

Status acceptPeers(const TransportContext& ctx, int listenFd, const std::string& listenText,
                   const std::vector<int>& expected, const SetupDeadline& deadline,
                   std::map<int, UniqueFd>* out) {
  std::set<int> missing(expected.begin(), expected.end());
  std::vector<PendingHello> pending;
  auto drop = [&](PendingHello& p, const std::string& why) {
    MIXCCL_WARN("socket transport: rank %d dropped a connection from %s to %s: %s (not a member of this "
                "communicator?)", ctx.rank, p.from.c_str(), listenText.c_str(), why.c_str());
    p.fd.reset();
  };
  while (!missing.empty()) {
    if (deadline.isAborted()) {
      return errorStatus(mixcclSystemError, "socket transport: rank %d aborted while waiting for rank(s) %s to "
                         "connect", ctx.rank, rankList(missing).c_str());
    }
    if (deadline.passed()) {
      return errorStatus(mixcclSystemError, "socket transport: rank %d waited %d s (MIXCCL_TIMEOUT) at %s for "
                         "rank(s) %s, which never connected (did they fail or exit?)", ctx.rank,
                         deadline.timeoutSeconds, listenText.c_str(), rankList(missing).c_str());
    }
    std::vector<pollfd> fds;
    fds.push_back({listenFd, POLLIN, 0});
    for (auto& p : pending) fds.push_back({p.fd.get(), POLLIN, 0});
    int n = poll(fds.data(), fds.size(), deadline.pollSliceMs());
    if (n < 0 && errno != EINTR) return systemErrorStatus("socket transport: rank %d: poll", ctx.rank);
    if (n <= 0) continue;

    for (size_t i = 1; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      PendingHello& p = pending[i - 1];
      auto* bytes = reinterpret_cast<unsigned char*>(&p.hello);
      ssize_t got = recv(p.fd.get(), bytes + p.got, sizeof(p.hello) - p.got, MSG_DONTWAIT);
      if (got == 0) {
        drop(p, strFormat("it closed after %zu of %zu hello bytes", p.got, sizeof(p.hello)));
        continue;
      }
      if (got < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) drop(p, std::strerror(errno));
        continue;
      }
      p.got += static_cast<size_t>(got);
      if (p.got >= sizeof(p.hello.magic) && p.hello.magic != kSocketHelloMagic) {
        drop(p, "it did not start with a mixccl hello");
        continue;
      }
      if (p.got < sizeof(p.hello)) continue;
      const SocketHello& h = p.hello;
      if (!sameSecret(h.secret, ctx.secret)) {
        drop(p, "it did not present this communicator's secret");
      } else if (h.commHash != ctx.commHash) {
        drop(p, strFormat("it belongs to communicator %016llx, not %016llx",
                          static_cast<unsigned long long>(h.commHash),
                          static_cast<unsigned long long>(ctx.commHash)));
      } else if (h.lane < 0 || h.lane >= kMaxSocketLanes || h.rank < 0 || h.rank >= ctx.nranks ||
                 missing.count(socketConnectionKey(h.rank, h.lane)) == 0) {
        drop(p, strFormat("it claims rank %d connection %d, which is not expected here (or already connected)",
                          h.rank, h.lane));
      } else {
        SocketHelloReply reply{};
        reply.magic = kSocketReplyMagic;
        reply.commHash = ctx.commHash;
        reply.rank = ctx.rank;
        MIXCCL_CHECK(writeFully(p.fd.get(), &reply, sizeof(reply), deadline,
                                strFormat("socket transport: rank %d answering rank %d", ctx.rank, h.rank)));
        MIXCCL_INFO("socket transport: rank %d accepted rank %d (connection %d) from %s", ctx.rank, h.rank, h.lane,
                    p.from.c_str());
        missing.erase(socketConnectionKey(h.rank, h.lane));
        (*out)[socketConnectionKey(h.rank, h.lane)] = std::move(p.fd);
      }
    }
    pending.erase(std::remove_if(pending.begin(), pending.end(), [](const PendingHello& p) { return !p.fd.valid(); }),
                  pending.end());

    if (fds[0].revents != 0) {
      for (;;) {
        sockaddr_storage from{};
        socklen_t fromLen = sizeof(from);
        int fd = accept4(listenFd, reinterpret_cast<sockaddr*>(&from), &fromLen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) break;  // EAGAIN, or a connection that died before we took it
        if (pending.size() >= kMaxPendingHellos) {
          drop(pending.front(), "too many connections were saying hello at once");
          pending.erase(pending.begin());
        }
        PendingHello p;
        p.fd = UniqueFd(fd);
        p.from = formatAddress(reinterpret_cast<sockaddr*>(&from), fromLen);
        pending.push_back(std::move(p));
      }
    }
  }
  return Status::ok();
}

Status readHelloReply(const TransportContext& ctx, int peer, int fd, const SetupDeadline& deadline) {
  SocketHelloReply reply{};
  MIXCCL_CHECK(readFully(fd, &reply, sizeof(reply), deadline,
                         strFormat("socket transport: rank %d waiting for rank %d to accept its connection",
                                   ctx.rank, peer)));
  if (reply.magic != kSocketReplyMagic || reply.commHash != ctx.commHash || reply.rank != peer) {
    return errorStatus(mixcclSystemError,
                       "socket transport: rank %d connected to the address rank %d published, but something "
                       "else answered (rank %d of communicator %016llx)", ctx.rank, peer, reply.rank,
                       static_cast<unsigned long long>(reply.commHash));
  }
  return Status::ok();
}

}  // namespace mixccl
