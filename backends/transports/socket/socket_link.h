// The TCP link to one peer: one connected socket carrying framed messages in each direction.
// Everything here is non-blocking; the transport's poll() says when to try again.
#pragma once

#include <memory>
#include <vector>

#include "backends/transports/socket/socket_util.h"
#include "backends/transports/transfer_queue.h"
#include "backends/transports/transport.h"

namespace mixccl {

class SocketSendTransfer;
class SocketRecvTransfer;

class SocketLink final : public Link {
 public:
  SocketLink(int peer, UniqueFd fd) : peer_(peer), fd_(std::move(fd)) {}

  int peer() const override { return peer_; }
  std::unique_ptr<Transfer> send(MessageSource source) override;
  std::unique_ptr<Transfer> recv(MessageSink sink) override;

  void pumpSends(bool* moved);
  void pumpRecvs(bool* moved);

  int fd() const { return fd_.get(); }
  // What poll() should watch for on behalf of the pending transfers (0: nothing).
  short wantedEvents() const;

  TransferQueue& sends() { return sends_; }
  TransferQueue& recvs() { return recvs_; }

 private:
  Status sendSome(SocketSendTransfer* t, bool* moved);
  Status recvSome(SocketRecvTransfer* t, bool* moved);
  Status closedError() const;
  // A dead connection fails both directions: a send would otherwise wait for room forever.
  void failBoth(const Status& cause);

  int peer_;
  UniqueFd fd_;
  TransferQueue sends_;
  TransferQueue recvs_;
  std::vector<unsigned char> sendStaging_;  // for sources without a host pointer
  std::vector<unsigned char> recvStaging_;  // for sinks that consume, and bytes that come with a header
};

}  // namespace mixccl
