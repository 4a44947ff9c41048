// Test-only scaffolding for transport_test: a bootstrap network over a full mesh of socketpairs
// made before fork(), a launcher that runs one function per rank in forked processes, and a loop
// that drives transfers the way the engine does (progress everything, else wait for activity).
#pragma once

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "backends/transports/transport.h"
#include "core/bootstrap_net.h"
#include "core/peer_liveness.h"

namespace mixccl::test {

using Clock = std::chrono::steady_clock;

// Reports a failed check inside a rank process and makes the rank exit with `code`.
#define RANK_CHECK(cond, code, ...)                                        \
  do {                                                                     \
    if (!(cond)) {                                                         \
      std::fprintf(stderr, "[rank failure %s:%d] ", __FILE__, __LINE__);   \
      std::fprintf(stderr, __VA_ARGS__);                                   \
      std::fprintf(stderr, "\n");                                          \
      return (code);                                                       \
    }                                                                      \
  } while (0)

inline bool writeAll(int fd, const void* buf, size_t len) {
  auto* p = static_cast<const char*>(buf);
  while (len > 0) {
    ssize_t n = ::send(fd, p, len, MSG_NOSIGNAL);  // a stranger's peer may hang up: no SIGPIPE
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

inline bool readAll(int fd, void* buf, size_t len, int timeoutMs) {
  auto* p = static_cast<char*>(buf);
  while (len > 0) {
    pollfd pfd{fd, POLLIN, 0};
    int rc = poll(&pfd, 1, timeoutMs);
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) return false;
    ssize_t n = ::read(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

// fds[i][j]: rank i's end of the socketpair to rank j (created in the parent, before fork).
struct SocketpairMesh {
  explicit SocketpairMesh(int n) : fds(static_cast<size_t>(n), std::vector<int>(static_cast<size_t>(n), -1)) {
    for (int i = 0; i < n; ++i) {
      for (int j = i + 1; j < n; ++j) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) std::abort();
        fds[i][j] = sv[0];
        fds[j][i] = sv[1];
      }
    }
  }
  void closeAll() {
    for (auto& row : fds) {
      for (int& fd : row) {
        if (fd >= 0) ::close(fd);
        fd = -1;
      }
    }
  }
  std::vector<std::vector<int>> fds;
};

class MeshBootstrap : public BootstrapNet {
 public:
  MeshBootstrap(int rank, std::vector<int> fds) : rank_(rank), fds_(std::move(fds)) {}
  int rank() const override { return rank_; }
  int nranks() const override { return static_cast<int>(fds_.size()); }

  Status allGather(void* data, size_t bytesPerRank) override {
    auto* slots = static_cast<unsigned char*>(data);
    const unsigned char* mine = slots + static_cast<size_t>(rank_) * bytesPerRank;
    for (size_t p = 0; p < fds_.size(); ++p) {
      if (static_cast<int>(p) != rank_ && !writeAll(fds_[p], mine, bytesPerRank)) {
        return errorStatus(mixcclSystemError, "test bootstrap: write to rank %zu failed", p);
      }
    }
    for (size_t p = 0; p < fds_.size(); ++p) {
      if (static_cast<int>(p) != rank_ && !readAll(fds_[p], slots + p * bytesPerRank, bytesPerRank, 60000)) {
        return errorStatus(mixcclSystemError, "test bootstrap: read from rank %zu failed", p);
      }
    }
    if (afterAllGather) afterAllGather(data, bytesPerRank);
    return Status::ok();
  }

  Status barrier() override {
    std::vector<unsigned char> b(fds_.size(), 1);
    return allGather(b.data(), 1);
  }

  // Test hook: sees every completed allGather (e.g. to learn the socket listeners' addresses).
  std::function<void(void* data, size_t bytesPerRank)> afterAllGather;

 private:
  int rank_;
  std::vector<int> fds_;
};

// Runs fn(rank, bootstrap) in `nranks` forked processes; returns each one's exit code (128+signal
// if killed; -1 if it did not finish within `seconds`, after which it is killed).
inline std::vector<int> runRanks(int nranks, const std::function<int(int, MeshBootstrap&)>& fn, int seconds = 120) {
  SocketpairMesh mesh(nranks);
  std::vector<pid_t> pids;
  std::fflush(nullptr);
  for (int r = 0; r < nranks; ++r) {
    pid_t pid = fork();
    if (pid == 0) {
      std::vector<int> mine = mesh.fds[static_cast<size_t>(r)];
      for (int i = 0; i < nranks; ++i) {
        if (i == r) continue;
        for (int fd : mesh.fds[static_cast<size_t>(i)]) {
          if (fd >= 0) ::close(fd);
        }
      }
      int code = 98;
      try {
        MeshBootstrap boot(r, mine);
        code = fn(r, boot);
      } catch (...) {
        code = 99;
      }
      std::fflush(nullptr);
      _exit(code);
    }
    pids.push_back(pid);
  }
  mesh.closeAll();
  std::vector<int> codes(static_cast<size_t>(nranks), -1);
  std::vector<bool> finished(static_cast<size_t>(nranks), false);
  auto deadline = Clock::now() + std::chrono::seconds(seconds);
  int left = nranks;
  while (left > 0 && Clock::now() < deadline) {
    for (int r = 0; r < nranks; ++r) {
      if (finished[r]) continue;
      int st = 0;
      if (waitpid(pids[r], &st, WNOHANG) == pids[r]) {
        finished[r] = true;
        --left;
        codes[r] = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      }
    }
    if (left > 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (int r = 0; r < nranks; ++r) {
    if (!finished[r]) {
      kill(pids[r], SIGKILL);
      waitpid(pids[r], nullptr, 0);
    }
  }
  return codes;
}

// The engine's loop in miniature: progress every unfinished transfer; when nothing moved, wait
// for activity. Fails with a timeout status after `seconds`.
struct DriveStats {
  int waits = 0;
  int fullTimeoutWaits = 0;  // waits that slept their whole bound: a lost wake-up, if data was due
};

inline Status drive(Transport* t, std::vector<std::unique_ptr<Transfer>>& xs, double seconds,
                    uint64_t waitNs = 50'000'000, DriveStats* stats = nullptr) {
  auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  for (;;) {
    bool moved = false;
    bool all = true;
    for (auto& x : xs) {
      if (x->done()) continue;
      Status s = x->progress(&moved);
      if (!s.isOk()) return s;
      all = all && x->done();
    }
    if (all) return Status::ok();
    if (Clock::now() > deadline) return errorStatus(mixcclSystemError, "test driver: timed out");
    if (!moved) {
      auto before = Clock::now();
      t->waitForActivity(waitNs);
      if (stats != nullptr) {
        ++stats->waits;
        if (Clock::now() - before >= std::chrono::nanoseconds(waitNs)) ++stats->fullTimeoutWaits;
      }
    }
  }
}

// Waits (up to `seconds`) until process `pid` is gone; false if it still runs. Tests of a peer dying
// mid-message read nothing before the sender is gone: a receiver draining the sockets as fast as
// the sender writes can let one progress() call move the whole message, and then nothing is half sent.
inline bool waitUntilGone(pid_t pid, int seconds) {
  for (int i = 0; i < seconds * 100 && processAlive(pid); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return !processAlive(pid);
}

}  // namespace mixccl::test
