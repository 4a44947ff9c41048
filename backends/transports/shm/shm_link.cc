#include "backends/transports/shm/shm_link.h"

#include <algorithm>
#include <cstring>

#include "backends/transports/sink_feeder.h"

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

Status ShmLink::sendSome(ShmSendTransfer* t, bool* moved) {
  const MessageSource& src = t->source_;
  uint64_t tail = out_.tail().load(std::memory_order_acquire);
  while (t->posted_ < src.bytes) {
    if (sendHead_ - tail >= out_.slots) {
      tail = out_.tail().load(std::memory_order_acquire);
      if (sendHead_ - tail >= out_.slots) break;
    }
    size_t piece = std::min(out_.slotBytes, src.bytes - t->posted_);
    unsigned char* dst = out_.slotData(sendHead_);
    if (src.hostPtr != nullptr) {
      std::memcpy(dst, static_cast<const unsigned char*>(src.hostPtr) + t->posted_, piece);
    } else {
      Status s = src.read(dst, t->posted_, piece);
      if (!s.isOk()) return s.withContext(strFormat("shm send to rank %d: ", peer_));
    }
    ShmSlotHeader& header = out_.slotHeader(sendHead_);
    header.messageBytes = src.bytes;
    header.offset = t->posted_;
    header.pieceBytes = piece;
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
    if (header.offset != offset || header.pieceBytes == 0 || header.pieceBytes > in_.slotBytes ||
        header.pieceBytes > expected - offset) {
      return errorStatus(mixcclInternalError,
                         "shm ring from rank %d is corrupt: piece at offset %llu of %llu bytes where offset "
                         "%zu was next (slot size %zu)",
                         peer_, static_cast<unsigned long long>(header.offset),
                         static_cast<unsigned long long>(header.pieceBytes), offset, in_.slotBytes);
    }
    t->started_ = true;
    // consume() reads straight out of the slot: a reduction needs no extra copy.
    Status s = t->feeder_.feed(in_.slotData(recvTail_), header.pieceBytes);
    if (!s.isOk()) return s.withContext(strFormat("shm receive from rank %d: ", peer_));
    ++recvTail_;
    in_.tail().store(recvTail_, std::memory_order_release);
    *moved = true;
    doorbell::ring(peerBell_);
  }
  return Status::ok();
}

}  // namespace mixccl
