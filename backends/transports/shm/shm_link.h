// The shared-memory link to one peer: an outgoing ring this rank writes and an incoming ring the
// peer writes, plus the two doorbells that say "something changed" in each direction.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "backends/transports/shm/doorbell.h"
#include "backends/transports/shm/shm_ring.h"
#include "backends/transports/transfer_queue.h"
#include "backends/transports/transport.h"

namespace mixccl {

// What the links of one ShmTransport share: this rank's doorbell, and its value when the engine's
// current progress sweep began (so a ring during the sweep makes the next sleep return at once).
struct ShmWakeState {
  DoorbellWord* ownBell = nullptr;
  uint32_t sweepSeen = 0;
  bool sweepSeenValid = false;

  void noteProgress() {
    if (!sweepSeenValid) {
      sweepSeen = doorbell::sequence(ownBell);
      sweepSeenValid = true;
    }
  }
};

class ShmSendTransfer;
class ShmRecvTransfer;

// How large messages may skip the rings (cross_memory.h): from `bytes` up, when the receiver said
// at setup that it can read the sender's memory. bytes 0: never.
struct ShmDirectReads {
  size_t bytes = 0;
  pid_t peerPid = 0;  // whose memory this rank reads, for messages the peer posts by address
};

class ShmLink final : public Link {
 public:
  ShmLink(int peer, ShmRingView out, ShmRingView in, DoorbellWord* peerBell, ShmWakeState* wake,
          ShmDirectReads direct)
      : peer_(peer), out_(out), in_(in), peerBell_(peerBell), wake_(wake), direct_(direct) {}

  int peer() const override { return peer_; }
  std::unique_ptr<Transfer> send(MessageSource source) override;
  std::unique_ptr<Transfer> recv(MessageSink sink) override;

  // Move the oldest transfers of each direction as far as the ring allows.
  void pumpSends(bool* moved);
  void pumpRecvs(bool* moved);

  TransferQueue& sends() { return sends_; }
  TransferQueue& recvs() { return recvs_; }
  ShmWakeState* wake() const { return wake_; }

 private:
  Status sendSome(ShmSendTransfer* t, bool* moved);
  Status recvSome(ShmRecvTransfer* t, bool* moved);
  bool postByAddress(ShmSendTransfer* t);
  Status readByAddress(ShmRecvTransfer* t, const ShmSlotHeader& header);

  int peer_;
  ShmRingView out_;
  ShmRingView in_;
  DoorbellWord* peerBell_;
  ShmWakeState* wake_;
  ShmDirectReads direct_;
  std::vector<unsigned char> bounce_;  // for messages read by address into a sink without hostPtr
  uint64_t sendHead_ = 0;  // our copy of out_.head (only we write it)
  uint64_t recvTail_ = 0;  // our copy of in_.tail (only we write it)
  TransferQueue sends_;
  TransferQueue recvs_;
};

}  // namespace mixccl
