#include "hostile_peer.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "backends/transports/socket/socket_wire.h"
#include "core/bootstrap_wire.h"

namespace mixccl_test {
namespace {

std::set<unsigned long> ownSocketInodes() {
  std::set<unsigned long> inodes;
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return inodes;
  while (dirent* e = readdir(d)) {
    char link[256];
    std::string path = std::string("/proc/self/fd/") + e->d_name;
    ssize_t n = readlink(path.c_str(), link, sizeof(link) - 1);
    if (n <= 0) continue;
    link[n] = '\0';
    unsigned long inode = 0;
    if (std::sscanf(link, "socket:[%lu]", &inode) == 1) inodes.insert(inode);
  }
  closedir(d);
  return inodes;
}

void listenersIn(const char* table, int family, const std::set<unsigned long>& mine, std::set<Endpoint>* out) {
  std::ifstream in(table);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string slot, local, remote, state, queues, timer, retr, uid, timeout;
    unsigned long inode = 0;
    f >> slot >> local >> remote >> state >> queues >> timer >> retr >> uid >> timeout >> inode;
    if (state != "0A" || mine.count(inode) == 0) continue;  // 0A: LISTEN
    size_t colon = local.rfind(':');
    if (colon == std::string::npos) continue;
    out->insert({family, static_cast<int>(std::stoul(local.substr(colon + 1), nullptr, 16))});
  }
}

void sendAllBestEffort(int fd, const void* data, size_t bytes) {
  auto* p = static_cast<const char*>(data);
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (bytes > 0 && std::chrono::steady_clock::now() < until) {
    ssize_t n = send(fd, p, bytes, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      p += n;
      bytes -= static_cast<size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd pf{fd, POLLOUT, 0};
      poll(&pf, 1, 50);
    } else {
      return;  // the listener closed it: that is a fine answer to garbage
    }
  }
}

std::vector<unsigned char> randomBytes(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::vector<unsigned char> v(n);
  for (auto& b : v) b = static_cast<unsigned char>(gen());
  return v;
}

}  // namespace

std::set<Endpoint> ownListeners() {
  std::set<Endpoint> out;
  auto mine = ownSocketInodes();
  listenersIn("/proc/self/net/tcp", AF_INET, mine, &out);
  listenersIn("/proc/self/net/tcp6", AF_INET6, mine, &out);
  return out;
}

HostilePeer::~HostilePeer() { stop(); }

int HostilePeer::connectTo(const Endpoint& where) {
  int fd = socket(where.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int rc;
  if (where.family == AF_INET) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(where.port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    rc = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  } else {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(static_cast<uint16_t>(where.port));
    a.sin6_addr = in6addr_loopback;
    rc = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  }
  if (rc != 0) {
    close(fd);
    return -1;
  }
  ++made_;
  return fd;
}

int HostilePeer::attack(const Endpoint& where) {
  using namespace mixccl;
  std::vector<std::vector<unsigned char>> closeAfter;  // sent, then the connection is closed
  std::vector<std::vector<unsigned char>> keepOpen;    // sent, then the connection stays open
  // 1. Garbage.
  closeAfter.push_back(randomBytes(4096, 1));
  // 2. Well-formed messages of every listener kind, with a wrong secret.
  wire::Hello hello{};
  hello.magic = wire::kHelloMagic;
  std::memset(hello.secret, 0xab, sizeof(hello.secret));
  hello.nranks = 3;
  hello.rank = 0;
  hello.listen.family = AF_INET;
  hello.listen.port = htons(1);
  wire::RingHello ring{};
  ring.magic = wire::kRingMagic;
  std::memset(ring.secret, 0xab, sizeof(ring.secret));
  ring.rank = 0;
  SocketHello sock{};
  sock.magic = kSocketHelloMagic;
  std::memset(sock.secret, 0xab, sizeof(sock.secret));
  auto bytesOf = [](const auto& m) {
    auto* p = reinterpret_cast<const unsigned char*>(&m);
    return std::vector<unsigned char>(p, p + sizeof(m));
  };
  closeAfter.push_back(bytesOf(hello));
  closeAfter.push_back(bytesOf(ring));
  closeAfter.push_back(bytesOf(sock));
  // 3. Truncated: the right magic, then nothing more (closed, and held open).
  for (const auto& m : {bytesOf(hello), bytesOf(ring), bytesOf(sock)}) {
    std::vector<unsigned char> half(m.begin(), m.begin() + static_cast<long>(m.size() / 2));
    closeAfter.push_back(half);
    keepOpen.push_back(half);
  }
  // 4. Oversized: a valid-looking start and 1 MiB more.
  for (const auto& m : {bytesOf(hello), bytesOf(ring), bytesOf(sock)}) {
    std::vector<unsigned char> big = m;
    auto tail = randomBytes(1 << 20, 2);
    big.insert(big.end(), tail.begin(), tail.end());
    closeAfter.push_back(big);
  }
  // 5. Silence, and a flood of silent connections beyond every listener's pending limit.
  for (int i = 0; i < 300; ++i) keepOpen.emplace_back();

  int accepted = 0;
  for (const auto& m : closeAfter) {
    int fd = connectTo(where);
    if (fd < 0) continue;
    ++accepted;
    sendAllBestEffort(fd, m.data(), m.size());
    close(fd);
  }
  for (const auto& m : keepOpen) {
    int fd = connectTo(where);
    if (fd < 0) continue;
    ++accepted;
    if (!m.empty()) sendAllBestEffort(fd, m.data(), m.size());
    std::lock_guard<std::mutex> lock(mutex_);
    held_.push_back(fd);
  }
  std::lock_guard<std::mutex> lock(mutex_);
  attacked_.push_back(where);
  return accepted;
}

void HostilePeer::stop() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (int fd : held_) close(fd);
  held_.clear();
}

std::vector<Endpoint> HostilePeer::attacked() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return attacked_;
}

}  // namespace mixccl_test
