// What the ucx and ofi transports share: both engines offer tagged, non-blocking sends and receives
// with completion callbacks or queues, so one Link implementation (fabric_link.h) turns the engine's
// ordered message streams into tagged fragments, and each transport only says how to post, progress
// and sleep on its engine (a FabricEngine).
//
// Wire protocol (identical for ucx and ofi). Every message is cut into fragments of kFragmentBytes
// (the last one shorter). Each fragment is one tagged message whose tag carries the sender's rank,
// the message's number on this link and direction, and whether it is the message's last fragment:
//
//   bit 63      hello flag (setup only)      bits 62..40  sender rank (23 bits)
//   bits 39..1  message number (mod 2^39)    bit 0        last fragment of the message
//
// Receives match on rank and message number and ignore the "last" bit, so fragments match in the
// order they were sent (both engines keep tagged matching in order per sender). The receiver knows
// the size it expects and checks each fragment's length and "last" bit: a sender with another size
// is reported as the ranks disagreeing, never written past the buffer.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/status.h"

namespace mixccl {

constexpr size_t kFragmentBytes = size_t{1} << 20;
constexpr uint64_t kTagHelloBit = uint64_t{1} << 63;
constexpr uint64_t kTagLastBit = 1;
constexpr int kTagRankShift = 40;
constexpr uint64_t kTagRankMask = (uint64_t{1} << 23) - 1;
constexpr uint64_t kTagSeqMask = (uint64_t{1} << 39) - 1;
constexpr int kFabricMaxRanks = 1 << 23;

inline uint64_t fragmentTag(int senderRank, uint64_t messageNumber, bool last) {
  return (static_cast<uint64_t>(senderRank) & kTagRankMask) << kTagRankShift | (messageNumber & kTagSeqMask) << 1 |
         (last ? kTagLastBit : 0);
}
inline uint64_t helloTag(int senderRank) {
  return kTagHelloBit | (static_cast<uint64_t>(senderRank) & kTagRankMask) << kTagRankShift;
}

// One posted send or receive. The link owns these (a fixed set per link, reused: no allocation per
// message); the engine fills in the result when the operation completes.
struct FabricOp {
  bool busy = false;        // posted and not yet completed
  bool completed = false;   // set by the engine
  bool truncated = false;   // a receive whose message was larger than its buffer
  Status status;            // set by the engine on failure (names the peer)
  size_t length = 0;        // bytes received
  uint64_t tag = 0;         // the tag of the message received
  int peer = -1;            // set when posted, for error messages
  void* request = nullptr;  // the engine's handle (ucx request, ...), for cancel
  alignas(8) unsigned char context[96];  // engine scratch (libfabric's fi_context2 lives here)

  void reset() {
    busy = completed = truncated = false;
    status = Status::ok();
    length = 0;
    tag = 0;
    peer = -1;
    request = nullptr;
  }
};

// One transport's messaging engine, shared by all its links.
class FabricEngine {
 public:
  virtual ~FabricEngine() = default;
  virtual const char* name() const = 0;
  // Posts a tagged send of [buf, buf+len) to `peer`; op->completed is set later (or already on return).
  // A Status with code mixcclInProgress means the engine's queue is full: nothing was posted, try
  // again after progress().
  virtual Status postSend(int peer, uint64_t tag, const void* buf, size_t len, FabricOp* op) = 0;
  // Posts a receive from `peer` of a message whose tag equals `tag` in the bits not set in `ignore`.
  virtual Status postRecv(int peer, uint64_t tag, uint64_t ignore, void* buf, size_t len, FabricOp* op) = 0;
  // Whether postRecv honours `ignore`. Where it does not, receives are posted with the exact tag
  // (the expected "last" bit included): a sender whose message has another number of fragments then
  // goes unmatched, and the receiver reports a timeout naming that peer instead of a size error.
  virtual bool matchesWithIgnoreBits() const { return true; }
  // Asks the engine to give up a posted operation (the engine still completes it, cancelled).
  virtual void cancel(FabricOp* op) = 0;
  // Moves whatever can move now; true if anything completed.
  virtual bool progress() = 0;
  // A peer's endpoint failed (the peer died or the connection broke), or ok.
  virtual Status peerError(int peer) const = 0;
  // Sleeps (never spins) until the engine may have completed something, at most timeoutNs, or
  // until interrupt(). Spurious returns are allowed.
  virtual void waitForActivity(uint64_t timeoutNs) = 0;
  virtual void interrupt() = 0;
};

}  // namespace mixccl
