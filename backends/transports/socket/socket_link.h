// The TCP link to one peer: one or more connected sockets ("lanes", MIXCCL_NSOCKS) carrying framed
// messages in each direction. A large message is cut into parts, one per lane (socket_stripes.h),
// that move at the same time; a small one rides on lane 0. Everything here is non-blocking; the
// transport's poll() says when to try again.
//
// Only the oldest message of each direction moves (messages complete in order), so each lane keeps
// the progress of its part of that one message. After the first message no memory is allocated:
// transfers come from a free list, staging buffers live as long as the link.
#pragma once

#include <poll.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "backends/transports/socket/socket_util.h"
#include "backends/transports/socket/socket_wire.h"
#include "backends/transports/transfer_queue.h"
#include "backends/transports/transport.h"

namespace mixccl {

class SocketSendTransfer;
class SocketRecvTransfer;

// One lane's share of the oldest message in one direction.
struct LanePart {
  uint64_t seq = 0;       // which message (the link's post counter); 0: none yet
  size_t begin = 0;       // the part is message bytes [begin, end)
  size_t end = 0;
  size_t headerDone = 0;  // frame header bytes sent / received
  size_t done = 0;        // part bytes sent / received
  size_t consumed = 0;    // part bytes handed to the sink's consume() (receive)
  size_t stagedBegin = 0; // part bytes [stagedBegin, stagedEnd) are in the lane's send staging
  size_t stagedEnd = 0;
  size_t carry = 0;       // received bytes of a split element kept at the start of recv staging
  bool finished = false;
};

struct SocketLane {
  UniqueFd fd;
  LanePart send;
  LanePart recv;
  SocketFrameHeader sendHeader{};
  SocketFrameHeader recvHeader{};
  std::vector<unsigned char> sendStaging;  // for sources without a host pointer
  std::vector<unsigned char> recvStaging;  // for sinks that consume, and bytes that come with a header
};

class SocketLink final : public Link {
 public:
  SocketLink(int peer, std::vector<UniqueFd> fds);

  int peer() const override { return peer_; }
  std::unique_ptr<Transfer> send(MessageSource source) override;
  std::unique_ptr<Transfer> recv(MessageSink sink) override;

  void pumpSends(bool* moved);
  void pumpRecvs(bool* moved);

  int lanes() const { return static_cast<int>(lanes_.size()); }
  // Appends what poll() should watch for on behalf of the pending transfers.
  void addPollFds(std::vector<pollfd>* fds) const;

  TransferQueue& sends() { return sends_; }
  TransferQueue& recvs() { return recvs_; }
  uint64_t nextSendSeq() { return ++sendSeq_; }
  uint64_t nextRecvSeq() { return ++recvSeq_; }

 private:
  Status sendSome(SocketSendTransfer* t, bool* moved);
  Status recvSome(SocketRecvTransfer* t, bool* moved);
  Status sendLane(SocketSendTransfer* t, SocketLane& lane, bool* moved);
  Status recvLane(SocketRecvTransfer* t, SocketLane& lane, int index, bool* moved);
  Status checkHeader(const SocketFrameHeader& h, size_t expected, int lane) const;
  Status closedError(int lane) const;
  // A dead connection fails both directions: a send would otherwise wait for room forever.
  void failBoth(const Status& cause);

  int peer_;
  std::vector<SocketLane> lanes_;
  size_t stagingBytes_;
  TransferQueue sends_;
  TransferQueue recvs_;
  uint64_t sendSeq_ = 0;
  uint64_t recvSeq_ = 0;
};

}  // namespace mixccl
