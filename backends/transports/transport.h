// The transport interface: how bytes move between this rank and one peer. Transports know nothing
// about collectives, data types or device kinds; the engine hands them messages to send and sinks
// for messages to receive, and drives them without blocking.
//
// Model: between two ranks there is one ordered stream of messages in each direction. Sends posted
// to a Link leave in the order they were posted; receives posted on a Link are matched, in order,
// to the messages that arrive. The receiver knows the size of each message it expects; a message of
// another size is an error (it means the ranks disagree on what they are doing), never a corruption.
//
// Zero-byte messages are never posted: the engine drops them on both sides.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/bootstrap_net.h"
#include "core/status.h"

namespace mixccl {

class Device;  // backends/devices/device.h

// Where a message's bytes come from. If hostPtr is set, the transport may read the bytes from it
// directly; otherwise it calls read() to have them copied into memory of its own.
struct MessageSource {
  size_t bytes = 0;
  const void* hostPtr = nullptr;
  // Copies message bytes [offset, offset+len) to dst (transport memory).
  std::function<Status(void* dst, size_t offset, size_t len)> read;
};

// Where a received message's bytes go. If hostPtr is set, a plain receive may write into it
// directly; otherwise (and always when `consume` must see the data, e.g. to reduce it) the transport
// calls consume() for each piece, in order, with offset and length multiples of `granule` (the
// element size; bytes is a multiple of it). Once consume() returns, the transport may reuse src.
struct MessageSink {
  size_t bytes = 0;
  size_t granule = 1;
  void* hostPtr = nullptr;
  std::function<Status(const void* src, size_t offset, size_t len)> consume;
};

// One message in flight.
class Transfer {
 public:
  virtual ~Transfer() = default;
  // Moves what can be moved now without blocking. Sets *moved when anything advanced. An error
  // (peer gone, size mismatch, ...) ends the transfer; its message names the peer and the cause.
  virtual Status progress(bool* moved) = 0;
  virtual bool done() const = 0;
};

// This rank's connection to one peer (both directions).
class Link {
 public:
  virtual ~Link() = default;
  virtual int peer() const = 0;
  // Starts a send or a receive. Transfers on one Link complete in the order they were posted:
  // a later transfer does not move until the earlier ones in the same direction are done.
  virtual std::unique_ptr<Transfer> send(MessageSource source) = 0;
  virtual std::unique_ptr<Transfer> recv(MessageSink sink) = 0;
};

// What a transport needs from the communicator while connecting.
struct TransportContext {
  BootstrapNet* bootstrap = nullptr;
  int rank = 0;
  int nranks = 1;
  uint64_t commHash = 0;           // distinguishes communicators (names, handshakes)
  unsigned char secret[16] = {};  // the communicator's secret: peers must present it
  int timeoutSeconds = 300;
  std::string bindAddress;         // the local address the bootstrap uses (socket binds here)
  const std::atomic<bool>* aborted = nullptr;
  Device* device = nullptr;        // the rank's device (cuda_ipc moves data through it)
  bool ranksOutnumberCpus = false; // this host's ranks share fewer CPUs than there are ranks: waiters yield
};

// One kind of transport for one communicator, serving a subset of peers.
class Transport {
 public:
  virtual ~Transport() = default;
  virtual const char* name() const = 0;
  // True when the memory a MessageSource's read() fills and a MessageSink's consume() reads is
  // device memory (cuda_ipc's slots): the engine then hands device messages over as they are,
  // never staged through host blocks.
  virtual bool movesDeviceMemory() const { return false; }
  // The link to `peer`, or nullptr when this transport does not serve that peer.
  virtual Link* link(int peer) = 0;
  // Blocks until something may have changed for this transport's transfers, at most timeoutNs.
  // Returns early on interrupt(). Spurious returns are allowed; the engine re-checks progress.
  virtual void waitForActivity(uint64_t timeoutNs) = 0;
  // Wakes any thread in waitForActivity (used by abort). Safe from any thread.
  virtual void interrupt() = 0;
};

// Constructors. Each is collective: every rank of the communicator calls it, in the same order,
// with the peers it wants this transport to serve (possibly none), because connecting uses the
// bootstrap network. `peers` must be symmetric across ranks (if a serves b, b serves a).
Status createShmTransport(const TransportContext& ctx, const std::vector<int>& peers,
                          std::unique_ptr<Transport>* out);
Status createSocketTransport(const TransportContext& ctx, const std::vector<int>& peers,
                             std::unique_ptr<Transport>* out);
// Built only with UCX (MIXCCL_HAVE_UCX) / libfabric (MIXCCL_HAVE_OFI); see docs/transports.md.
Status createUcxTransport(const TransportContext& ctx, const std::vector<int>& peers,
                          std::unique_ptr<Transport>* out);
Status createOfiTransport(const TransportContext& ctx, const std::vector<int>& peers,
                          std::unique_ptr<Transport>* out);

}  // namespace mixccl
