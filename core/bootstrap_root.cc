// The rendezvous thread started by mixcclGetUniqueId (or by rank 0 under MIXCCL_COMM_ID).
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "core/bootstrap.h"
#include "core/bootstrap_wire.h"
#include "core/log.h"

namespace mixccl {
namespace {

// Connections still saying hello at once (a flood of strangers beyond this drops the oldest).
constexpr size_t kMaxPending = 256;

// A connection whose hello is still arriving.
struct Pending {
  int fd = -1;
  net::Address from;
  wire::Hello hello{};
  size_t got = 0;
  Deadline deadline = Deadline::inSeconds(10);  // a stranger that says nothing is dropped after this
};

class Root {
 public:
  Root(int listenFd, const uint8_t secret[16], int timeoutSeconds)
      : listenFd_(listenFd), timeoutSeconds_(timeoutSeconds) {
    std::memcpy(secret_, secret, 16);
  }

  void run() {
    // Wait for the first rank as long as for the last one: an id nobody uses expires.
    Deadline deadline = Deadline::inSeconds(timeoutSeconds_);
    bool first = true;
    while (arrived_ < nranks_ || nranks_ == 0) {
      if (deadline.expired()) break;
      std::vector<pollfd> fds{{listenFd_, POLLIN, 0}};
      for (auto& p : pending_) fds.push_back({p.fd, POLLIN, 0});
      int r = ::poll(fds.data(), fds.size(), deadline.msLeft(1000));
      if (r < 0 && errno != EINTR) break;
      if (fds[0].revents & POLLIN) acceptNew();
      for (size_t i = 0; i < pending_.size();) {
        bool ready = i + 1 < fds.size() && fds[i + 1].revents != 0 && fds[i + 1].fd == pending_[i].fd;
        if (ready && readHello(pending_[i])) {
          bool accepted = admit(pending_[i]);
          if (accepted && first) {
            // The clock for the others starts when the first rank arrives.
            deadline = Deadline::inSeconds(timeoutSeconds_);
            first = false;
          }
          if (!accepted) ::close(pending_[i].fd);
          pending_.erase(pending_.begin() + static_cast<long>(i));
          fds.erase(fds.begin() + static_cast<long>(i) + 1);
          continue;
        }
        if (pending_[i].deadline.expired()) {
          MIXCCL_WARN("bootstrap: dropped a connection from %s that sent no complete hello within 10 s",
                      pending_[i].from.toString().c_str());
          ::close(pending_[i].fd);
          pending_.erase(pending_.begin() + static_cast<long>(i));
          fds.erase(fds.begin() + static_cast<long>(i) + 1);
          continue;
        }
        ++i;
      }
    }
    for (auto& p : pending_) ::close(p.fd);
    if (nranks_ > 0 && arrived_ == nranks_) {
      sendTable();
    } else {
      reportMissing();
    }
    for (int fd : rankFds_) if (fd >= 0) ::close(fd);
    ::close(listenFd_);
  }

 private:
  void acceptNew() {
    net::Address from;
    from.length = sizeof(from.storage);
    int fd = ::accept4(listenFd_, reinterpret_cast<sockaddr*>(&from.storage), &from.length, SOCK_CLOEXEC);
    if (fd < 0) return;
    if (pending_.size() >= kMaxPending) {
      // A flood of strangers must not exhaust file descriptors: the oldest one goes.
      MIXCCL_WARN("bootstrap: dropped a connection from %s: too many connections were saying hello at once",
                  pending_.front().from.toString().c_str());
      ::close(pending_.front().fd);
      pending_.erase(pending_.begin());
    }
    Pending p;
    p.fd = fd;
    p.from = from;
    pending_.push_back(p);
  }

  // Reads what is available; true when the hello is complete or the connection must be dropped
  // (then hello.magic is left wrong so that admit() refuses it).
  bool readHello(Pending& p) {
    ssize_t r = ::recv(p.fd, reinterpret_cast<char*>(&p.hello) + p.got, sizeof(p.hello) - p.got, MSG_DONTWAIT);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
      p.hello.magic = 0;
      return true;
    }
    if (r > 0) p.got += static_cast<size_t>(r);
    return p.got == sizeof(p.hello);
  }

  bool admit(Pending& p) {
    const wire::Hello& h = p.hello;
    std::string from = p.from.toString();
    wire::Hello parsed{};
    wire::HelloProblem problem = wire::parseHello(&p.hello, p.got, secret_, nranks_, &parsed);
    if (problem == wire::HelloProblem::NotAHello || problem == wire::HelloProblem::WrongSecret) {
      MIXCCL_WARN("bootstrap: refused a connection from %s: %s", from.c_str(), wire::describe(problem));
      return false;
    }
    if (problem != wire::HelloProblem::Ok) {
      MIXCCL_WARN("bootstrap: refused rank %d of %d from %s: %s", h.rank, h.nranks, from.c_str(),
                  wire::describe(problem));
      sendError(p.fd, mixcclInvalidUsage,
                strFormat("rank %d said the communicator has %d ranks, but rank(s) before it said %d", h.rank,
                          h.nranks, nranks_));
      return false;
    }
    if (nranks_ == 0) {
      nranks_ = h.nranks;
      rankFds_.assign(static_cast<size_t>(nranks_), -1);
      listen_.resize(static_cast<size_t>(nranks_));
    }
    if (rankFds_[static_cast<size_t>(h.rank)] >= 0) {
      MIXCCL_WARN("bootstrap: refused a second rank %d from %s", h.rank, from.c_str());
      sendError(p.fd, mixcclInvalidUsage,
                strFormat("two processes called init as rank %d of the same communicator", h.rank));
      return false;
    }
    rankFds_[static_cast<size_t>(h.rank)] = p.fd;
    listen_[static_cast<size_t>(h.rank)] = h.listen;
    ++arrived_;
    MIXCCL_TRACE("bootstrap: rank %d of %d arrived from %s", h.rank, h.nranks, from.c_str());
    return true;
  }

  void sendError(int fd, mixcclResult_t code, const std::string& msg) {
    wire::Reply r{};
    r.magic = wire::kReplyMagic;
    r.status = code;
    r.nranks = nranks_;
    std::snprintf(r.message, sizeof(r.message), "%s", msg.c_str());
    (void)net::sendAll(fd, &r, sizeof(r), Deadline::inSeconds(2), nullptr);
  }

  void sendTable() {
    wire::Reply r{};
    r.magic = wire::kReplyMagic;
    r.status = mixcclSuccess;
    r.nranks = nranks_;
    if (!randomBytes(&r.nonce, sizeof(r.nonce)).isOk()) r.nonce = static_cast<uint64_t>(getpid()) << 32;
    for (int fd : rankFds_) {
      Deadline d = Deadline::inSeconds(timeoutSeconds_);
      Status st = net::sendAll(fd, &r, sizeof(r), d, nullptr);
      if (st.isOk()) st = net::sendAll(fd, listen_.data(), listen_.size() * sizeof(WireAddress), d, nullptr);
      if (!st.isOk()) MIXCCL_WARN("bootstrap: could not send the rank table: %s", st.message().c_str());
    }
  }

  void reportMissing() {
    std::string missing;
    int count = 0;
    for (int i = 0; i < nranks_; ++i) {
      if (rankFds_[static_cast<size_t>(i)] >= 0) continue;
      if (count < 16) missing += (missing.empty() ? "" : ", ") + std::to_string(i);
      ++count;
    }
    if (count > 16) missing += strFormat(" and %d more", count - 16);
    std::string msg = nranks_ == 0
        ? strFormat("no rank arrived at the rendezvous within %d s (MIXCCL_TIMEOUT)", timeoutSeconds_)
        : strFormat("rank(s) %s of %d did not arrive at the rendezvous within %d s (MIXCCL_TIMEOUT): did "
                    "they start, and did they get the same unique id?", missing.c_str(), nranks_, timeoutSeconds_);
    MIXCCL_WARN("bootstrap: %s", msg.c_str());
    for (int fd : rankFds_) if (fd >= 0) sendError(fd, mixcclSystemError, msg);
  }

  int listenFd_;
  int timeoutSeconds_;
  uint8_t secret_[16];
  int nranks_ = 0;
  int arrived_ = 0;
  std::vector<Pending> pending_;
  std::vector<int> rankFds_;
  std::vector<WireAddress> listen_;
};

}  // namespace

Status startBootstrapRoot(const net::Address& bindAddr, const uint8_t secret[16], int timeoutSeconds,
                          net::Address* listening) {
  int fd = -1;
  MIXCCL_CHECK(net::listenOn(bindAddr, &fd, listening).withContext("bootstrap rendezvous: "));
  auto root = std::make_shared<Root>(fd, secret, timeoutSeconds);
  std::thread([root] { root->run(); }).detach();
  MIXCCL_INFO("bootstrap: rendezvous listening on %s", listening->toString().c_str());
  return Status::ok();
}

}  // namespace mixccl
