#include "backends/transports/socket/socket_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace mixccl {

void UniqueFd::reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

int SetupDeadline::pollSliceMs() const {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(at - SetupClock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, 100));
}

Status parseAddress(const std::string& text, uint16_t port, sockaddr_storage* addr, socklen_t* len) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
  addrinfo* result = nullptr;
  std::string service = std::to_string(port);
  int rc = getaddrinfo(text.c_str(), service.c_str(), &hints, &result);
  if (rc != 0 || result == nullptr) {
    return errorStatus(mixcclInvalidArgument, "'%s' is not a numeric IPv4 or IPv6 address: %s", text.c_str(),
                       gai_strerror(rc));
  }
  std::memset(addr, 0, sizeof(*addr));
  std::memcpy(addr, result->ai_addr, result->ai_addrlen);
  *len = result->ai_addrlen;
  freeaddrinfo(result);
  return Status::ok();
}

std::string formatAddress(const sockaddr* addr, socklen_t len) {
  char host[NI_MAXHOST] = "?";
  char serv[NI_MAXSERV] = "?";
  getnameinfo(addr, len, host, sizeof(host), serv, sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV);
  if (addr->sa_family == AF_INET6) return strFormat("[%s]:%s", host, serv);
  return strFormat("%s:%s", host, serv);
}

std::string formatAddress(const sockaddr_storage& addr) {
  socklen_t len = addr.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  return formatAddress(reinterpret_cast<const sockaddr*>(&addr), len);
}

Status setNonBlocking(int fd, bool on) {
  int flags = fcntl(fd, F_GETFL, 0);
  if (flags < 0) return systemErrorStatus("fcntl(F_GETFL) on socket %d", fd);
  flags = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (fcntl(fd, F_SETFL, flags) != 0) return systemErrorStatus("fcntl(F_SETFL) on socket %d", fd);
  return Status::ok();
}

namespace {

constexpr int kDataSocketBufferBytes = 4 << 20;

// A number from a /proc file, or 0 when it cannot be read.
long readProcLong(const char* path) {
  long value = 0;
  if (FILE* f = std::fopen(path, "r")) {
    if (std::fscanf(f, "%ld", &value) != 1) value = 0;
    std::fclose(f);
  }
  return value;
}

}  // namespace

void tuneDataSocket(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  // Large fixed buffers keep a fast link busy (measured on loopback: docs/transports.md). But a size
  // set by hand turns the kernel's autotuning off for that socket, and the kernel silently caps it
  // at net.core.[rw]mem_max (often 208 KiB): where the cap is below what we want, autotuning (up to
  // net.ipv4.tcp_[rw]mem) does better than a capped fixed size, so leave that direction alone.
  static const long sendCap = readProcLong("/proc/sys/net/core/wmem_max");
  static const long recvCap = readProcLong("/proc/sys/net/core/rmem_max");
  int bytes = kDataSocketBufferBytes;
  if (sendCap >= bytes) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes));
  if (recvCap >= bytes) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
}

namespace {

// Waits until fd is ready for `events`, or fails with the reason setup cannot go on.
Status waitReady(int fd, short events, const SetupDeadline& deadline, const std::string& what) {
  for (;;) {
    if (deadline.isAborted()) return errorStatus(mixcclSystemError, "%s: aborted", what.c_str());
    if (deadline.passed()) {
      return errorStatus(mixcclSystemError, "%s: timed out after %d s (MIXCCL_TIMEOUT)", what.c_str(),
                         deadline.timeoutSeconds);
    }
    pollfd p{fd, events, 0};
    int rc = poll(&p, 1, deadline.pollSliceMs());
    if (rc > 0) return Status::ok();
    if (rc < 0 && errno != EINTR) return systemErrorStatus("%s: poll", what.c_str());
  }
}

}  // namespace

Status writeFully(int fd, const void* buf, size_t len, const SetupDeadline& deadline, const std::string& what) {
  auto* p = static_cast<const char*>(buf);
  while (len > 0) {
    ssize_t n = ::send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      p += n;
      len -= static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      MIXCCL_CHECK(waitReady(fd, POLLOUT, deadline, what));
      continue;
    }
    return systemErrorStatus("%s: send", what.c_str());
  }
  return Status::ok();
}

Status readFully(int fd, void* buf, size_t len, const SetupDeadline& deadline, const std::string& what) {
  auto* p = static_cast<char*>(buf);
  while (len > 0) {
    ssize_t n = ::recv(fd, p, len, MSG_DONTWAIT);
    if (n > 0) {
      p += n;
      len -= static_cast<size_t>(n);
      continue;
    }
    if (n == 0) return errorStatus(mixcclSystemError, "%s: the peer closed the connection", what.c_str());
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      MIXCCL_CHECK(waitReady(fd, POLLIN, deadline, what));
      continue;
    }
    return systemErrorStatus("%s: recv", what.c_str());
  }
  return Status::ok();
}

}  // namespace mixccl
