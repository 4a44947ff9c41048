// A hostile stranger for the reliability tests: finds this process's listening TCP sockets and sends
// each of them garbage, truncated, oversized and wrong-secret messages, silence and a flood of
// connections. It never has the communicator's secret.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace mixccl_test {

struct Endpoint {
  int family = 0;  // AF_INET or AF_INET6
  int port = 0;
  bool operator<(const Endpoint& o) const { return family != o.family ? family < o.family : port < o.port; }
};

// Listening TCP sockets held by this process (from /proc/self/net/tcp{,6} and /proc/self/fd).
std::set<Endpoint> ownListeners();

class HostilePeer {
 public:
  HostilePeer() = default;
  ~HostilePeer();  // closes every connection it holds open
  HostilePeer(const HostilePeer&) = delete;
  HostilePeer& operator=(const HostilePeer&) = delete;

  // Sends every kind of bad input to the loopback listener at `port`; returns how many connections
  // the listener accepted (0: nothing listens there any more).
  int attack(const Endpoint& where);
  // Closes the connections held open.
  void stop();
  std::vector<Endpoint> attacked() const;
  int connectionsMade() const { return made_.load(); }

 private:
  int connectTo(const Endpoint& where);
  std::vector<int> held_;  // silent and half-sent connections kept open
  std::atomic<int> made_{0};
  mutable std::mutex mutex_;
  std::vector<Endpoint> attacked_;
};

}  // namespace mixccl_test
