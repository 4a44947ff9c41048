#include "core/bootstrap.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "core/bootstrap_wire.h"
#include "core/log.h"

namespace mixccl {
namespace {

bool isLoopback(const net::Address& a) {
  if (a.storage.ss_family == AF_INET) {
    auto* in = reinterpret_cast<const sockaddr_in*>(&a.storage);
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  }
  if (a.storage.ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(&a.storage);
    return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
  }
  return false;
}

// The address this rank's listeners bind to: loopback when the rendezvous is on loopback (then
// every rank is on this machine), else the interface MIXCCL_SOCKET_IFNAME selects.
Status localBindAddress(const net::Address& root, net::Address* out) {
  if (isLoopback(root)) {
    *out = root;
    if (out->storage.ss_family == AF_INET) reinterpret_cast<sockaddr_in*>(&out->storage)->sin_port = 0;
    else reinterpret_cast<sockaddr_in6*>(&out->storage)->sin6_port = 0;
    return Status::ok();
  }
  return net::chooseBindAddress(out, nullptr);
}

}  // namespace

SocketBootstrap::~SocketBootstrap() {
  net::closeFd(&nextFd_);
  net::closeFd(&prevFd_);
}

Status SocketBootstrap::create(const UniqueIdContents& id, int nranks, int rank, int timeoutSeconds,
                               const std::atomic<bool>* aborted, std::unique_ptr<SocketBootstrap>* out) {
  std::unique_ptr<SocketBootstrap> b(new SocketBootstrap);
  b->rank_ = rank;
  b->nranks_ = nranks;
  b->timeoutSeconds_ = timeoutSeconds;
  b->aborted_ = aborted;
  net::Address rootAddr = fromWire(id.root);

  if ((id.flags & kUniqueIdRankZeroHosts) && rank == 0) {
    net::Address listening;
    MIXCCL_CHECK(startBootstrapRoot(rootAddr, id.secret, timeoutSeconds, &listening)
                     .withContext("MIXCCL_COMM_ID: rank 0 cannot host the rendezvous: "));
  }

  net::Address bindAddr, listenAddr;
  MIXCCL_CHECK(localBindAddress(rootAddr, &bindAddr));
  int listenFd = -1;
  MIXCCL_CHECK(net::listenOn(bindAddr, &listenFd, &listenAddr).withContext("bootstrap listener: "));
  b->localHost_ = net::hostPart(listenAddr);

  // Rendezvous: present the secret, get the table of every rank's listener.
  Deadline deadline = Deadline::inSeconds(timeoutSeconds);
  int rootFd = -1;
  Status st = net::connectTo(rootAddr, deadline, aborted, &rootFd);
  if (!st.isOk()) {
    net::closeFd(&listenFd);
    return st.withContext(strFormat("rank %d cannot reach the rendezvous (is the process that called "
                                    "mixcclGetUniqueId still running?): ", rank));
  }
  wire::Hello hello{};
  hello.magic = wire::kHelloMagic;
  std::memcpy(hello.secret, id.secret, 16);
  hello.nranks = nranks;
  hello.rank = rank;
  hello.listen = toWire(listenAddr);
  wire::Reply reply{};
  // The root may wait a full timeout for late ranks before it answers: allow a little more.
  Deadline replyDeadline = Deadline::inSeconds(timeoutSeconds + 10);
  st = net::sendAll(rootFd, &hello, sizeof(hello), deadline, aborted);
  if (st.isOk()) st = net::recvAll(rootFd, &reply, sizeof(reply), replyDeadline, aborted);
  std::vector<WireAddress> table;
  if (st.isOk()) st = wire::parseReply(&reply, sizeof(reply), nranks, &reply);
  if (st.isOk()) {
    std::vector<WireAddress> raw(static_cast<size_t>(nranks));
    st = net::recvAll(rootFd, raw.data(), raw.size() * sizeof(WireAddress), replyDeadline, aborted);
    if (st.isOk()) st = wire::parseAddressTable(raw.data(), raw.size() * sizeof(WireAddress), nranks, &table);
  }
  net::closeFd(&rootFd);
  if (!st.isOk()) {
    net::closeFd(&listenFd);
    return st.withContext(strFormat("rank %d of %d, rendezvous at %s: ", rank, nranks, rootAddr.toString().c_str()));
  }
  b->nonce_ = reply.nonce;

  if (nranks > 1) {
    ::fcntl(listenFd, F_SETFL, ::fcntl(listenFd, F_GETFL) | O_NONBLOCK);
    st = b->connectRing(id, fromWire(table[static_cast<size_t>((rank + 1) % nranks)]), listenFd);
  }
  net::closeFd(&listenFd);
  MIXCCL_CHECK(st);
  *out = std::move(b);
  return Status::ok();
}

Status SocketBootstrap::connectRing(const UniqueIdContents& id, const net::Address& nextAddr, int listenFd) {
  Deadline deadline = Deadline::inSeconds(timeoutSeconds_);
  int next = (rank_ + 1) % nranks_;
  int prev = (rank_ - 1 + nranks_) % nranks_;
  // Connecting completes as soon as the next rank's listener exists (it does: it was opened before
  // that rank reached the rendezvous), so connecting first and accepting second cannot deadlock.
  MIXCCL_CHECK(net::connectTo(nextAddr, deadline, aborted_, &nextFd_)
                   .withContext(strFormat("rank %d connecting to rank %d: ", rank_, next)));
  wire::RingHello mine{};
  mine.magic = wire::kRingMagic;
  std::memcpy(mine.secret, id.secret, 16);
  mine.nonce = nonce_;
  mine.rank = rank_;
  MIXCCL_CHECK(net::sendAll(nextFd_, &mine, sizeof(mine), deadline, aborted_)
                   .withContext(strFormat("rank %d greeting rank %d: ", rank_, next)));
  // Accept until the previous rank shows up; anyone else is refused and logged. Strangers are read
  // side by side, without blocking: one that connects and says nothing (or half a hello) must not
  // hold up the real previous rank.
  MIXCCL_CHECK(acceptRingPeer(listenFd, id.secret, prev, deadline)
                   .withContext(strFormat("rank %d waiting for rank %d to connect (did rank %d fail?): ", rank_,
                                          prev, prev)));
  return Status::ok();
}

Status SocketBootstrap::acceptRingPeer(int listenFd, const uint8_t secret[16], int prev, const Deadline& deadline) {
  constexpr size_t kMaxPending = 64;  // beyond this the oldest stranger is dropped (no fd exhaustion)
  struct Pending {
    int fd;
    net::Address from;
    wire::RingHello hello;
    size_t got;
  };
  std::vector<Pending> pending;
  auto drop = [&](size_t i, const std::string& why) {
    MIXCCL_WARN("bootstrap: rank %d refused a connection from %s: %s", rank_, pending[i].from.toString().c_str(),
                why.c_str());
    ::close(pending[i].fd);
    pending.erase(pending.begin() + static_cast<long>(i));
  };
  auto closeAll = [&] {
    for (auto& p : pending) ::close(p.fd);
  };
  for (;;) {
    if (aborted_ != nullptr && aborted_->load(std::memory_order_acquire)) {
      closeAll();
      return errorStatus(mixcclSystemError, "aborted (mixcclCommAbort)");
    }
    if (deadline.expired()) {
      closeAll();
      return errorStatus(mixcclSystemError, "no connection within %d s (MIXCCL_TIMEOUT)", timeoutSeconds_);
    }
    std::vector<pollfd> fds{{listenFd, POLLIN, 0}};
    for (auto& p : pending) fds.push_back({p.fd, POLLIN, 0});
    int n = ::poll(fds.data(), fds.size(), deadline.msLeft(100));
    if (n < 0 && errno != EINTR) {
      closeAll();
      return systemErrorStatus("poll on the bootstrap listener");
    }
    if (n <= 0) continue;
    // Pending strangers first (indexes match fds[1..] until something is erased: walk backwards).
    for (size_t i = pending.size(); i-- > 0;) {
      if (fds[i + 1].revents == 0) continue;
      Pending& p = pending[i];
      ssize_t r = ::recv(p.fd, reinterpret_cast<char*>(&p.hello) + p.got, sizeof(p.hello) - p.got, MSG_DONTWAIT);
      if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        drop(i, strFormat("it closed after %zu of %zu hello bytes", p.got, sizeof(p.hello)));
        continue;
      }
      if (r > 0) p.got += static_cast<size_t>(r);
      if (p.got >= sizeof(p.hello.magic) && p.hello.magic != wire::kRingMagic) {
        drop(i, "not a mixccl ring hello (garbage)");
        continue;
      }
      if (p.got < sizeof(p.hello)) continue;
      std::string why;
      if (!wire::parseRingHello(&p.hello, sizeof(p.hello), secret, nonce_, prev, &why)) {
        drop(i, why);
        continue;
      }
      prevFd_ = p.fd;
      pending.erase(pending.begin() + static_cast<long>(i));
      closeAll();
      return Status::ok();
    }
    if (fds[0].revents & POLLIN) {
      Pending p{};
      p.from.length = sizeof(p.from.storage);
      // The listener is non-blocking: a connection that vanished between poll and accept costs nothing.
      int fd = ::accept4(listenFd, reinterpret_cast<sockaddr*>(&p.from.storage), &p.from.length, SOCK_CLOEXEC);
      if (fd < 0) continue;
      p.fd = fd;
      if (pending.size() >= kMaxPending) drop(0, "too many connections were saying hello at once");
      pending.push_back(p);
    }
  }
}

Status SocketBootstrap::allGather(void* data, size_t bytesPerRank) {
  if (nranks_ == 1) return Status::ok();
  auto* base = static_cast<char*>(data);
  Deadline deadline = Deadline::inSeconds(timeoutSeconds_);
  // Ring: in step i, pass on the slot received in step i-1 (starting with our own).
  for (int i = 0; i < nranks_ - 1; ++i) {
    int sendSlot = (rank_ - i + nranks_) % nranks_;
    int recvSlot = (rank_ - i - 1 + nranks_) % nranks_;
    Status st = net::sendRecv(nextFd_, base + static_cast<size_t>(sendSlot) * bytesPerRank, bytesPerRank, prevFd_,
                              base + static_cast<size_t>(recvSlot) * bytesPerRank, bytesPerRank, deadline, aborted_);
    if (!st.isOk()) {
      return st.withContext(strFormat("rank %d: bootstrap exchange with ranks %d and %d: ", rank_,
                                      (rank_ - 1 + nranks_) % nranks_, (rank_ + 1) % nranks_));
    }
  }
  return Status::ok();
}

Status SocketBootstrap::barrier() {
  std::vector<char> bytes(static_cast<size_t>(nranks_), 1);
  return allGather(bytes.data(), 1);
}

}  // namespace mixccl
