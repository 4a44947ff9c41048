#include "backends/transports/fabric/fabric_link.h"

#include <algorithm>

#include "backends/transports/sink_feeder.h"

namespace mixccl {
namespace {

size_t fragmentCount(size_t bytes) { return std::max<size_t>(1, (bytes + kFragmentBytes - 1) / kFragmentBytes); }
size_t fragmentLength(size_t bytes, size_t i) { return std::min(kFragmentBytes, bytes - i * kFragmentBytes); }

// The fragments of one message that are posted, and how many of them completed (in order).
struct FragmentProgress {
  size_t count = 0;
  size_t posted = 0;
  size_t completed = 0;
  uint64_t message = 0;
};

}  // namespace

class FabricSendTransfer final : public QueuedTransfer {
 public:
  FabricSendTransfer(FabricLink* link, MessageSource source) : source_(std::move(source)), link_(link) {
    frags_.count = fragmentCount(source_.bytes);
    link_->sends().queue.post(this);
  }
  ~FabricSendTransfer() override {
    if (started_ && !done_) link_->cancelPosted(link_->sends());
    link_->sends().queue.withdraw(this, errorStatus(mixcclInternalError,
                                                    "a %s send to rank %d was abandoned halfway through its message",
                                                    link_->engine()->name(), link_->peer()));
  }
  Status progress(bool* moved) override {
    if (status_.isOk() && !done_) link_->pump(moved);
    return status_;
  }

  MessageSource source_;
  FragmentProgress frags_;

 private:
  FabricLink* link_;
};

class FabricRecvTransfer final : public QueuedTransfer {
 public:
  FabricRecvTransfer(FabricLink* link, MessageSink sink) : sink_(std::move(sink)), feeder_(&sink_), link_(link) {
    frags_.count = fragmentCount(sink_.bytes);
    status_ = checkSink(sink_, link_->peer(), link_->engine()->name());
    if (status_.isOk()) link_->recvs().queue.post(this);
  }
  ~FabricRecvTransfer() override {
    if (started_ && !done_) link_->cancelPosted(link_->recvs());
    link_->recvs().queue.withdraw(this, errorStatus(mixcclInternalError,
                                                    "a %s receive from rank %d was abandoned halfway through its "
                                                    "message", link_->engine()->name(), link_->peer()));
  }
  Status progress(bool* moved) override {
    if (status_.isOk() && !done_) link_->pump(moved);
    return status_;
  }

  MessageSink sink_;
  SinkFeeder feeder_;
  FragmentProgress frags_;

 private:
  FabricLink* link_;
};

std::unique_ptr<Transfer> FabricLink::send(MessageSource source) {
  return std::make_unique<FabricSendTransfer>(this, std::move(source));
}

std::unique_ptr<Transfer> FabricLink::recv(MessageSink sink) {
  return std::make_unique<FabricRecvTransfer>(this, std::move(sink));
}

void FabricLink::cancelPosted(Direction& d) {
  for (FabricOp& op : d.ops) {
    if (op.busy && !op.completed) engine_->cancel(&op);
  }
}

void FabricLink::failBoth(const Status& cause) {
  if (!sends_.queue.empty()) cancelPosted(sends_);
  if (!recvs_.queue.empty()) cancelPosted(recvs_);
  sends_.queue.fail(cause);
  recvs_.queue.fail(cause);
}

void FabricLink::pump(bool* moved) {
  bool movedNow = engine_->progress();
  pumpSends(&movedNow);
  pumpRecvs(&movedNow);
  if (movedNow) {
    *moved = true;
    return;
  }
  // A peer that finished and closed its endpoint is not an error for what it delivered first:
  // only when nothing can move any more does its broken endpoint fail what is still queued.
  if (sends_.queue.empty() && recvs_.queue.empty()) return;
  Status peerDown = engine_->peerError(peer_);
  if (!peerDown.isOk()) failBoth(peerDown);
}

void FabricLink::pumpSends(bool* moved) {
  Direction& d = sends_;
  while (auto* t = static_cast<FabricSendTransfer*>(d.queue.front())) {
    FragmentProgress& f = t->frags_;
    const MessageSource& src = t->source_;
    const bool staged = src.hostPtr == nullptr;
    const size_t window = staged ? kFabricStagingWindow : kFabricWindow;
    if (!t->started_) {
      f.message = d.nextMessage++;
      t->started_ = true;
    }
    // Retire completed fragments in order; the slot of fragment i is i % window.
    while (f.completed < f.posted) {
      FabricOp& op = d.ops[f.completed % window];
      if (!op.completed) break;
      Status s = op.status;
      op.reset();
      if (!s.isOk()) {
        failBoth(s);
        return;
      }
      ++f.completed;
      *moved = true;
    }
    while (f.posted < f.count && f.posted - f.completed < window) {
      const size_t i = f.posted;
      const size_t len = fragmentLength(src.bytes, i);
      const void* buf = nullptr;
      if (staged) {
        std::vector<unsigned char>& stage = d.staging[i % window];
        if (stage.empty()) stage.resize(kFragmentBytes);
        Status s = src.read(stage.data(), i * kFragmentBytes, len);
        if (!s.isOk()) {
          d.queue.fail(s.withContext(strFormat("%s send to rank %d: ", engine_->name(), peer_)));
          return;
        }
        buf = stage.data();
      } else {
        buf = static_cast<const unsigned char*>(src.hostPtr) + i * kFragmentBytes;
      }
      FabricOp& op = d.ops[i % window];
      op.reset();
      op.busy = true;
      Status s = engine_->postSend(peer_, fragmentTag(rank_, f.message, i + 1 == f.count), buf, len, &op);
      if (s.code() == mixcclInProgress) {  // the engine's queue is full; the next pump retries
        op.reset();
        return;
      }
      if (!s.isOk()) {
        op.reset();
        failBoth(s);
        return;
      }
      ++f.posted;
      *moved = true;
    }
    if (f.completed < f.count) return;
    d.queue.completeFront();
  }
}

void FabricLink::pumpRecvs(bool* moved) {
  Direction& d = recvs_;
  while (auto* t = static_cast<FabricRecvTransfer*>(d.queue.front())) {
    FragmentProgress& f = t->frags_;
    const MessageSink& sink = t->sink_;
    const bool staged = sink.hostPtr == nullptr;
    const size_t window = staged ? kFabricStagingWindow : kFabricWindow;
    if (!t->started_) {
      f.message = d.nextMessage++;
      t->started_ = true;
    }
    // Deliver completed fragments in order, checking that the sender agrees on the message's size.
    while (f.completed < f.posted) {
      const size_t i = f.completed;
      FabricOp& op = d.ops[i % window];
      if (!op.completed) break;
      const size_t expected = fragmentLength(sink.bytes, i);
      const bool last = i + 1 == f.count;
      Status s = op.status;
      if (s.isOk() && (op.truncated || op.length != expected || ((op.tag & kTagLastBit) != 0) != last)) {
        // The sender's message is longer (a longer fragment, or more fragments) or shorter; its size
        // is known when its last fragment is the one that arrived.
        const bool senderLast = !op.truncated && (op.tag & kTagLastBit) != 0;
        if (senderLast) {
          s = errorStatus(mixcclInvalidUsage,
                          "rank %d sent a message of %zu bytes where %zu were expected (the ranks disagree on the "
                          "operation: count, datatype, root or order of calls; %s transport)",
                          peer_, i * kFragmentBytes + op.length, sink.bytes, engine_->name());
        } else {
          s = errorStatus(mixcclInvalidUsage,
                          "rank %d sent a message of more than %zu bytes where %zu were expected (the ranks disagree "
                          "on the operation: count, datatype, root or order of calls; %s transport)",
                          peer_, i * kFragmentBytes + expected, sink.bytes, engine_->name());
        }
      }
      const size_t got = op.length;
      op.reset();
      if (!s.isOk()) {
        if (s.code() == mixcclSystemError) {
          failBoth(s);
        } else {
          cancelPosted(d);
          d.queue.fail(s);
        }
        return;
      }
      if (staged) {
        s = t->feeder_.feed(d.staging[i % window].data(), got);
        if (!s.isOk()) {
          d.queue.fail(s.withContext(strFormat("%s receive from rank %d: ", engine_->name(), peer_)));
          return;
        }
      } else {
        t->feeder_.wroteToHost(got);
      }
      ++f.completed;
      *moved = true;
    }
    while (f.posted < f.count && f.posted - f.completed < window) {
      const size_t i = f.posted;
      const size_t len = fragmentLength(sink.bytes, i);
      void* buf = nullptr;
      if (staged) {
        std::vector<unsigned char>& stage = d.staging[i % window];
        if (stage.empty()) stage.resize(kFragmentBytes);
        buf = stage.data();
      } else {
        buf = static_cast<unsigned char*>(sink.hostPtr) + i * kFragmentBytes;
      }
      FabricOp& op = d.ops[i % window];
      op.reset();
      op.busy = true;
      Status s = engine_->matchesWithIgnoreBits()
                     ? engine_->postRecv(peer_, fragmentTag(peer_, f.message, false), kTagLastBit, buf, len, &op)
                     : engine_->postRecv(peer_, fragmentTag(peer_, f.message, i + 1 == f.count), 0, buf, len, &op);
      if (s.code() == mixcclInProgress) {  // the engine's queue is full; the next pump retries
        op.reset();
        return;
      }
      if (!s.isOk()) {
        op.reset();
        failBoth(s);
        return;
      }
      ++f.posted;
      *moved = true;
    }
    if (f.completed < f.count) return;
    d.queue.completeFront();
  }
}

}  // namespace mixccl
