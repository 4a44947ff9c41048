// Small helpers for the socket transport: owned descriptors, address text, socket options, and
// blocking-with-deadline reads and writes for the setup phase (the data path never blocks).
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <string>

#include "core/status.h"

namespace mixccl {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = o.release();
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset();

 private:
  int fd_ = -1;
};

using SetupClock = std::chrono::steady_clock;

// When setup gives up: both the deadline and the communicator's abort flag end a wait.
struct SetupDeadline {
  SetupClock::time_point at;
  const std::atomic<bool>* aborted = nullptr;
  int timeoutSeconds = 0;

  bool isAborted() const { return aborted != nullptr && aborted->load(std::memory_order_acquire); }
  bool passed() const { return SetupClock::now() >= at; }
  // Milliseconds to pass to poll(): what is left, in slices short enough to notice an abort.
  int pollSliceMs() const;
};

// Parses a numeric IPv4/IPv6 address (an IPv6 one may carry a %scope); the port is `port`.
Status parseAddress(const std::string& text, uint16_t port, sockaddr_storage* addr, socklen_t* len);
// "1.2.3.4:5678" or "[::1]:5678".
std::string formatAddress(const sockaddr* addr, socklen_t len);
std::string formatAddress(const sockaddr_storage& addr);

Status setNonBlocking(int fd, bool on);
// TCP_NODELAY, and 4 MiB kernel buffers where net.core.[rw]mem_max allow them (else the kernel's
// autotuning is left on); a refusal of the buffer sizes is not an error.
void tuneDataSocket(int fd);

// Setup-phase I/O on a non-blocking fd: waits with poll until done, the deadline or an abort.
// `what` names the exchange for the error message.
Status writeFully(int fd, const void* buf, size_t len, const SetupDeadline& deadline, const std::string& what);
Status readFully(int fd, void* buf, size_t len, const SetupDeadline& deadline, const std::string& what);

}  // namespace mixccl
