#include "backends/transports/shm/shm_link.h"

#include <algorithm>
#include <cstring>

#include "backends/transports/shm/cross_memory.h"
#include "backends/transports/sink_feeder.h"
#include "core/host_copy.h"

namespace mixccl {

class ShmSendTransfer final : public QueuedTransfer {
 public:
  ShmSendTransfer(ShmLink* link, MessageSource source) : source_(std::move(source)), link_(link) {
    link_->sends().post(this);
  }
  ~ShmSendTransfer() override {
    // Finished or failed transfers have left the queue; only build the message (which formats a
    // string) when there is something to withdraw: this destructor runs on every small call.
    if (done_ || !status_.isOk()) return;
    link_->sends().withdraw(this, errorStatus(mixcclInternalError,
                                              "a send to rank %d was abandoned halfway through its message",
                                              link_->peer()));
  }
  Status progress(bool* moved) override {
    link_->wake()->noteProgress();
    if (status_.isOk() && !done_) link_->pumpSends(moved);
    return status_;
  }

  MessageSource source_;
  size_t posted_ = 0;  // bytes copied into the ring
  // Posted by address in this slot: done only once the receiver has freed it (read the bytes).
  uint64_t byAddressSlot_ = UINT64_MAX;

 private:
  ShmLink* link_;
};

class ShmRecvTransfer final : public QueuedTransfer {
 public:
  ShmRecvTransfer(ShmLink* link, MessageSink sink) : sink_(std::move(sink)), feeder_(&sink_), link_(link) {
    status_ = checkSink(sink_, link_->peer(), "shm");
    if (status_.isOk()) link_->recvs().post(this);
  }
  ~ShmRecvTransfer() override {
    if (done_ || !status_.isOk()) return;  // not queued any more (see ~ShmSendTransfer)
    link_->recvs().withdraw(this, errorStatus(mixcclInternalError,
                                              "a receive from rank %d was abandoned halfway through its message",
                                              link_->peer()));
  }
  Status progress(bool* moved) override {
    link_->wake()->noteProgress();
    if (status_.isOk() && !done_) link_->pumpRecvs(moved);
    return status_;
  }

  MessageSink sink_;
  SinkFeeder feeder_;

 private:
  ShmLink* link_;
};

std::unique_ptr<Transfer> ShmLink::send(MessageSource source) {
  return std::make_unique<ShmSendTransfer>(this, std::move(source));
}

std::unique_ptr<Transfer> ShmLink::recv(MessageSink sink) {
  return std::make_unique<ShmRecvTransfer>(this, std::move(sink));
}

void ShmLink::pumpSends(bool* moved) {
  while (auto* t = static_cast<ShmSendTransfer*>(sends_.front())) {
    Status s = sendSome(t, moved);
    if (!s.isOk()) {
      sends_.fail(s);
      return;
    }
    if (t->posted_ < t->source_.bytes) return;  // the ring is full
    if (t->byAddressSlot_ != UINT64_MAX &&
        out_.tail().load(std::memory_order_acquire) <= t->byAddressSlot_) {
      return;  // the receiver is still reading it from our memory
    }
    sends_.completeFront();
  }
}

void ShmLink::pumpRecvs(bool* moved) {
  while (auto* t = static_cast<ShmRecvTransfer*>(recvs_.front())) {
    Status s = recvSome(t, moved);
    if (!s.isOk()) {
      recvs_.fail(s);
      return;
    }
    if (!t->feeder_.complete()) return;  // the ring is empty
    recvs_.completeFront();
  }
}

// A large message from host memory goes by address when the receiver can read ours: one slot
// says where it is, the receiver copies it straight into place and frees the slot when done.
bool ShmLink::postByAddress(ShmSendTransfer* t) {
  const MessageSource& src = t->source_;
  if (direct_.bytes == 0 || src.bytes < direct_.bytes || src.hostPtr == nullptr || t->posted_ != 0) return false;
  if (std::atomic_ref<uint64_t>(out_.control->receiverReadsSender.value).load(std::memory_order_acquire) != 1) {
    return false;
  }
  if (sendHead_ - out_.tail().load(std::memory_order_acquire) >= out_.slots) return true;  // ring full: later
  ShmSlotHeader& header = out_.slotHeader(sendHead_);
  header.messageBytes = src.bytes;
  header.offset = 0;
  header.pieceBytes = src.bytes;
  header.senderAddress = reinterpret_cast<uintptr_t>(src.hostPtr);
  t->byAddressSlot_ = sendHead_;
  ++sendHead_;
  out_.head().store(sendHead_, std::memory_order_release);
  t->posted_ = src.bytes;
  t->started_ = true;
  doorbell::ring(peerBell_);
  return true;
}

Status ShmLink::sendSome(ShmSendTransfer* t, bool* moved) {
  const MessageSource& src = t->source_;
  if (postByAddress(t)) {
    if (t->posted_ == src.bytes) *moved = true;
    return Status::ok();
  }
  uint64_t tail = out_.tail().load(std::memory_order_acquire);
  while (t->posted_ < src.bytes) {
    if (sendHead_ - tail >= out_.slots) {
      tail = out_.tail().load(std::memory_order_acquire);
      if (sendHead_ - tail >= out_.slots) break;
    }
    size_t piece = std::min(out_.slotBytes, src.bytes - t->posted_);
    unsigned char* dst = out_.slotData(sendHead_);
    if (src.hostPtr != nullptr) {
      copyHostMemory(dst, static_cast<const unsigned char*>(src.hostPtr) + t->posted_, piece);
    } else {
      Status s = src.read(dst, t->posted_, piece);
      if (!s.isOk()) return s.withContext(strFormat("shm send to rank %d: ", peer_));
    }
    ShmSlotHeader& header = out_.slotHeader(sendHead_);
    header.messageBytes = src.bytes;
    header.offset = t->posted_;
    header.pieceBytes = piece;
    header.senderAddress = 0;
    ++sendHead_;
    out_.head().store(sendHead_, std::memory_order_release);
    t->posted_ += piece;
    t->started_ = true;
    *moved = true;
    // Per piece, not per call: the receiver starts on this piece while we fill the next.
    doorbell::ring(peerBell_);
  }
  return Status::ok();
}

Status ShmLink::recvSome(ShmRecvTransfer* t, bool* moved) {
  const size_t expected = t->sink_.bytes;
  uint64_t head = in_.head().load(std::memory_order_acquire);
  while (!t->feeder_.complete()) {
    if (recvTail_ == head) {
      head = in_.head().load(std::memory_order_acquire);
      if (recvTail_ == head) break;
    }
    const ShmSlotHeader header = in_.slotHeader(recvTail_);
    const size_t offset = t->feeder_.fed();
    if (header.messageBytes != expected) {
      return errorStatus(mixcclInvalidUsage,
                         "rank %d sent a message of %llu bytes where %zu were expected (the ranks disagree "
                         "on the operation: count, datatype, root or order of calls)",
                         peer_, static_cast<unsigned long long>(header.messageBytes), expected);
    }
    const size_t pieceLimit = header.senderAddress != 0 ? expected : in_.slotBytes;  // by address: all of it
    if (header.offset != offset || header.pieceBytes == 0 || header.pieceBytes > pieceLimit ||
        header.pieceBytes > expected - offset) {
      return errorStatus(mixcclInternalError,
                         "shm ring from rank %d is corrupt: piece at offset %llu of %llu bytes where offset "
                         "%zu was next (slot size %zu)",
                         peer_, static_cast<unsigned long long>(header.offset),
                         static_cast<unsigned long long>(header.pieceBytes), offset, in_.slotBytes);
    }
    t->started_ = true;
    // consume() reads straight out of the slot: a reduction needs no extra copy.
    Status s = header.senderAddress != 0 ? readByAddress(t, header)
                                         : t->feeder_.feed(in_.slotData(recvTail_), header.pieceBytes);
    if (!s.isOk()) return s.withContext(strFormat("shm receive from rank %d: ", peer_));
    ++recvTail_;
    in_.tail().store(recvTail_, std::memory_order_release);
    *moved = true;
    doorbell::ring(peerBell_);
  }
  return Status::ok();
}

// The whole message, from the sender's memory: straight into the sink's host memory, or through a
// slot-sized bounce buffer (kept warm in cache) for a sink that reduces or lives on a device.
Status ShmLink::readByAddress(ShmRecvTransfer* t, const ShmSlotHeader& header) {
  if (direct_.peerPid == 0 || header.offset != 0 || header.pieceBytes != header.messageBytes) {
    return errorStatus(mixcclInternalError,
                       "shm ring from rank %d is corrupt: a message posted by address at offset %llu, %llu of "
                       "%llu bytes, on a link that %s",
                       peer_, static_cast<unsigned long long>(header.offset),
                       static_cast<unsigned long long>(header.pieceBytes),
                       static_cast<unsigned long long>(header.messageBytes),
                       direct_.peerPid == 0 ? "cannot read the sender's memory" : "can");
  }
  const size_t bytes = header.messageBytes;
  if (t->sink_.hostPtr != nullptr) {
    MIXCCL_CHECK(cross_memory::read(direct_.peerPid, peer_, header.senderAddress, t->sink_.hostPtr, bytes));
    t->feeder_.wroteToHost(bytes);
    return Status::ok();
  }
  if (bounce_.empty()) bounce_.resize(in_.slotBytes);
  for (size_t done = 0; done < bytes;) {
    const size_t piece = std::min(bounce_.size(), bytes - done);
    MIXCCL_CHECK(cross_memory::read(direct_.peerPid, peer_, header.senderAddress + done, bounce_.data(), piece));
    MIXCCL_CHECK(t->feeder_.feed(bounce_.data(), piece));
    done += piece;
  }
  return Status::ok();
}

}  // namespace mixccl
