// Blocking TCP helpers for the bootstrap (slow path only): every call is bounded by a deadline and
// gives up when the abort flag is raised. The data path lives in backends/transports/socket.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/deadline.h"
#include "core/status.h"

namespace mixccl::net {

// A socket address in a fixed-size, trivially copyable form (it travels inside unique ids and
// bootstrap messages).
struct Address {
  sockaddr_storage storage{};
  socklen_t length = 0;
  std::string toString() const;  // "1.2.3.4:5678" or "[::1]:5678"
};

// Parses "host:port" or "[v6]:port" (host may be a name). Port 0 is allowed.
Status parseAddress(const std::string& text, Address* out);
// The address to bind listeners to: the first interface matching MIXCCL_SOCKET_IFNAME (NCCL syntax:
// comma-separated prefixes, "^" to exclude, "=" for exact names), else the first up, non-loopback
// IPv4 interface, else loopback. Port 0.
Status chooseBindAddress(Address* out, std::string* ifname);
// Whether interface `name` passes the MIXCCL_SOCKET_IFNAME / NCCL_SOCKET_IFNAME filter `spec`
// ("eth" prefix, "=eth0" exact, "^docker" / "^=docker0" excluded, lists with ','; empty: all).
bool interfaceMatches(const std::string& spec, const char* name);
// The numeric host part of an address ("10.0.0.1", "::1").
std::string hostPart(const Address& a);

// A listening socket bound to addr (port 0: any); *bound receives the actual address.
Status listenOn(const Address& addr, int* fd, Address* bound);
// Connects to addr, retrying refused connections until the deadline (the peer may not listen yet).
Status connectTo(const Address& addr, const Deadline& deadline, const std::atomic<bool>* aborted, int* fd);
// Accepts one connection (or fails at the deadline / abort).
Status acceptOne(int listenFd, const Deadline& deadline, const std::atomic<bool>* aborted, int* fd,
                 Address* peer);

Status sendAll(int fd, const void* data, size_t bytes, const Deadline& deadline,
               const std::atomic<bool>* aborted);
Status recvAll(int fd, void* data, size_t bytes, const Deadline& deadline,
               const std::atomic<bool>* aborted);
// Sends to one socket and receives from another at the same time (so that a ring of ranks doing
// this never deadlocks on full kernel buffers).
Status sendRecv(int sendFd, const void* sendData, size_t sendBytes, int recvFd, void* recvData,
                size_t recvBytes, const Deadline& deadline, const std::atomic<bool>* aborted);

void closeFd(int* fd);

}  // namespace mixccl::net
