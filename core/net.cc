#include "core/net.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

#include "core/env.h"
#include "core/log.h"

namespace mixccl::net {
namespace {

constexpr int kPollSliceMs = 100;  // how often a blocked call looks at the abort flag

bool isAborted(const std::atomic<bool>* aborted) {
  return aborted != nullptr && aborted->load(std::memory_order_acquire);
}

Status timeoutError(const char* what, const Deadline&) {
  return errorStatus(mixcclSystemError, "timed out while %s (MIXCCL_TIMEOUT)", what);
}

// Waits until fd is ready for `events`, the deadline passes, or abort is raised.
Status waitFd(int fd, short events, const Deadline& deadline, const std::atomic<bool>* aborted,
              const char* what) {
  for (;;) {
    if (isAborted(aborted)) return errorStatus(mixcclSystemError, "aborted while %s", what);
    if (deadline.expired()) return timeoutError(what, deadline);
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, deadline.msLeft(kPollSliceMs));
    if (r < 0 && errno != EINTR) return systemErrorStatus("poll failed while %s", what);
    if (r > 0) return Status::ok();
  }
}

struct IfaceFilter {
  std::vector<std::string> names;
  bool exclude = false;
  bool exact = false;
  bool matches(const char* name) const {
    if (names.empty()) return true;
    bool hit = false;
    for (const auto& n : names) {
      hit = exact ? n == name : std::strncmp(name, n.c_str(), n.size()) == 0;
      if (hit) break;
    }
    return exclude ? !hit : hit;
  }
};

IfaceFilter parseFilter(std::string spec) {
  IfaceFilter f;
  if (!spec.empty() && spec[0] == '^') { f.exclude = true; spec.erase(0, 1); }
  if (!spec.empty() && spec[0] == '=') { f.exact = true; spec.erase(0, 1); }
  size_t pos = 0;
  while (pos <= spec.size()) {
    size_t comma = spec.find(',', pos);
    if (comma == std::string::npos) comma = spec.size();
    if (comma > pos) f.names.push_back(spec.substr(pos, comma - pos));
    pos = comma + 1;
  }
  return f;
}

}  // namespace

bool interfaceMatches(const std::string& spec, const char* name) { return parseFilter(spec).matches(name); }

std::string hostPart(const Address& a) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (a.storage.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&a.storage)->sin_addr, buf, sizeof(buf));
  } else if (a.storage.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&a.storage)->sin6_addr, buf, sizeof(buf));
  } else {
    return "?";
  }
  return buf;
}

std::string Address::toString() const {
  if (storage.ss_family == AF_INET) {
    return hostPart(*this) + ":" +
           std::to_string(ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port));
  }
  if (storage.ss_family == AF_INET6) {
    return "[" + hostPart(*this) + "]:" +
           std::to_string(ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port));
  }
  return "<no address>";
}

Status parseAddress(const std::string& text, Address* out) {
  std::string host, port;
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return errorStatus(mixcclInvalidArgument, "address '%s' is not of the form [v6addr]:port", text.c_str());
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0)
      return errorStatus(mixcclInvalidArgument, "address '%s' is not of the form host:port", text.c_str());
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0 || res == nullptr)
    return errorStatus(mixcclInvalidArgument, "cannot resolve address '%s': %s", text.c_str(), gai_strerror(rc));
  std::memcpy(&out->storage, res->ai_addr, res->ai_addrlen);
  out->length = res->ai_addrlen;
  freeaddrinfo(res);
  return Status::ok();
}

Status chooseBindAddress(Address* out, std::string* ifname) {
  auto spec = env::get("SOCKET_IFNAME", true);
  IfaceFilter filter = parseFilter(spec.value_or(""));
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return systemErrorStatus("cannot list network interfaces (getifaddrs)");
  const ifaddrs* chosen = nullptr;
  const ifaddrs* loopback = nullptr;
  // Two passes: IPv4 first (what clusters usually route), then IPv6.
  for (int family : {AF_INET, AF_INET6}) {
    for (const ifaddrs* it = list; it != nullptr && chosen == nullptr; it = it->ifa_next) {
      if (it->ifa_addr == nullptr || it->ifa_addr->sa_family != family) continue;
      if (!(it->ifa_flags & IFF_UP)) continue;
      if (family == AF_INET6) {
        auto* a6 = reinterpret_cast<const sockaddr_in6*>(it->ifa_addr);
        if (IN6_IS_ADDR_LINKLOCAL(&a6->sin6_addr)) continue;  // needs a scope id; skip
      }
      bool isLoop = (it->ifa_flags & IFF_LOOPBACK) != 0;
      if (spec) {
        if (filter.matches(it->ifa_name)) chosen = it;
      } else if (isLoop) {
        if (loopback == nullptr) loopback = it;
      } else if (std::strncmp(it->ifa_name, "docker", 6) != 0 && std::strncmp(it->ifa_name, "virbr", 5) != 0) {
        chosen = it;
      }
    }
  }
  if (chosen == nullptr && !spec) chosen = loopback;
  if (chosen == nullptr) {
    freeifaddrs(list);
    return errorStatus(mixcclSystemError,
                       "no up network interface matches MIXCCL_SOCKET_IFNAME/NCCL_SOCKET_IFNAME='%s'",
                       spec.value_or("").c_str());
  }
  *out = Address{};
  size_t len = chosen->ifa_addr->sa_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
  std::memcpy(&out->storage, chosen->ifa_addr, len);
  out->length = static_cast<socklen_t>(len);
  if (ifname) *ifname = chosen->ifa_name;
  freeifaddrs(list);
  return Status::ok();
}

Status listenOn(const Address& addr, int* fd, Address* bound) {
  int s = ::socket(addr.storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return systemErrorStatus("cannot create a socket");
  int one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(s, reinterpret_cast<const sockaddr*>(&addr.storage), addr.length) != 0) {
    Status st = systemErrorStatus("cannot bind to %s", addr.toString().c_str());
    ::close(s);
    return st;
  }
  if (::listen(s, 1024) != 0) {
    Status st = systemErrorStatus("cannot listen on %s", addr.toString().c_str());
    ::close(s);
    return st;
  }
  Address b;
  b.length = sizeof(b.storage);
  getsockname(s, reinterpret_cast<sockaddr*>(&b.storage), &b.length);
  *bound = b;
  *fd = s;
  return Status::ok();
}

static void tuneSocket(int s) {
  int one = 1;
  setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

Status connectTo(const Address& addr, const Deadline& deadline, const std::atomic<bool>* aborted, int* fd) {
  int backoffMs = 1;
  for (;;) {
    if (isAborted(aborted)) return errorStatus(mixcclSystemError, "aborted while connecting to %s", addr.toString().c_str());
    int s = ::socket(addr.storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0) return systemErrorStatus("cannot create a socket");
    int rc = ::connect(s, reinterpret_cast<const sockaddr*>(&addr.storage), addr.length);
    if (rc != 0 && errno == EINPROGRESS) {
      Status st = waitFd(s, POLLOUT, deadline, aborted, "connecting");
      if (!st.isOk()) {
        ::close(s);
        return st.withContext("to " + addr.toString() + ": ");
      }
      int err = 0;
      socklen_t len = sizeof(err);
      getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len);
      rc = err == 0 ? 0 : -1;
      errno = err;
    }
    if (rc == 0) {
      int flags = fcntl(s, F_GETFL);
      fcntl(s, F_SETFL, flags & ~O_NONBLOCK);
      tuneSocket(s);
      *fd = s;
      return Status::ok();
    }
    int err = errno;
    ::close(s);
    if (err != ECONNREFUSED && err != ETIMEDOUT && err != ECONNRESET && err != EAGAIN) {
      errno = err;
      return systemErrorStatus("cannot connect to %s", addr.toString().c_str());
    }
    if (deadline.expired()) {
      return errorStatus(mixcclSystemError, "cannot connect to %s: %s until the timeout (MIXCCL_TIMEOUT)",
                         addr.toString().c_str(), std::strerror(err));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(backoffMs));
    backoffMs = std::min(backoffMs * 2, 100);
  }
}

Status acceptOne(int listenFd, const Deadline& deadline, const std::atomic<bool>* aborted, int* fd,
                 Address* peer) {
  for (;;) {
    MIXCCL_CHECK(waitFd(listenFd, POLLIN, deadline, aborted, "waiting for a connection"));
    Address a;
    a.length = sizeof(a.storage);
    int s = ::accept4(listenFd, reinterpret_cast<sockaddr*>(&a.storage), &a.length, SOCK_CLOEXEC);
    if (s < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED) continue;
      return systemErrorStatus("accept failed");
    }
    tuneSocket(s);
    *fd = s;
    if (peer) *peer = a;
    return Status::ok();
  }
}

Status sendAll(int fd, const void* data, size_t bytes, const Deadline& deadline,
               const std::atomic<bool>* aborted) {
  return sendRecv(fd, data, bytes, -1, nullptr, 0, deadline, aborted);
}

Status recvAll(int fd, void* data, size_t bytes, const Deadline& deadline, const std::atomic<bool>* aborted) {
  return sendRecv(-1, nullptr, 0, fd, data, bytes, deadline, aborted);
}

Status sendRecv(int sendFd, const void* sendData, size_t sendBytes, int recvFd, void* recvData,
                size_t recvBytes, const Deadline& deadline, const std::atomic<bool>* aborted) {
  size_t sent = 0, received = 0;
  const auto* sp = static_cast<const char*>(sendData);
  auto* rp = static_cast<char*>(recvData);
  while (sent < sendBytes || received < recvBytes) {
    if (isAborted(aborted)) return errorStatus(mixcclSystemError, "aborted during a bootstrap exchange");
    pollfd p[2];
    int n = 0;
    int si = -1, ri = -1;
    if (sent < sendBytes) { si = n; p[n++] = {sendFd, POLLOUT, 0}; }
    if (received < recvBytes) { ri = n; p[n++] = {recvFd, POLLIN, 0}; }
    if (deadline.expired()) return timeoutError("exchanging bootstrap data with a peer", deadline);
    int r = ::poll(p, n, deadline.msLeft(kPollSliceMs));
    if (r < 0) {
      if (errno == EINTR) continue;
      return systemErrorStatus("poll failed in a bootstrap exchange");
    }
    if (si >= 0 && (p[si].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t w = ::send(sendFd, sp + sent, sendBytes - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (w > 0) sent += static_cast<size_t>(w);
      else if (w < 0 && errno != EAGAIN && errno != EINTR)
        return systemErrorStatus("bootstrap send failed (peer process exited?)");
    }
    if (ri >= 0 && (p[ri].revents & (POLLIN | POLLERR | POLLHUP))) {
      ssize_t g = ::recv(recvFd, rp + received, recvBytes - received, MSG_DONTWAIT);
      if (g > 0) received += static_cast<size_t>(g);
      else if (g == 0)
        return errorStatus(mixcclSystemError, "bootstrap connection closed by the peer (peer process exited?)");
      else if (errno != EAGAIN && errno != EINTR)
        return systemErrorStatus("bootstrap receive failed");
    }
  }
  return Status::ok();
}

void closeFd(int* fd) {
  if (*fd >= 0) ::close(*fd);
  *fd = -1;
}

}  // namespace mixccl::net
