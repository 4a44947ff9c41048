// The in-order queue of one direction of one link, shared by the transports. Messages in one
// direction form one byte stream, so only the oldest transfer may move; once a transfer fails
// midway the stream is out of step and every transfer queued behind it (or posted later) fails too.
#pragma once

#include <algorithm>
#include <deque>

#include "backends/transports/transport.h"

namespace mixccl {

// A Transfer that lives in a TransferQueue. Failed transfers are not done(): they keep returning
// their error from progress(), so the engine sees it whichever transfer it asks first.
class QueuedTransfer : public Transfer {
 public:
  bool done() const override { return done_; }

  // Shared with the link that moves it (plain fields: the link and its transfers are one unit).
  Status status_;
  bool done_ = false;
  bool started_ = false;  // some of its bytes have moved: abandoning it now breaks the stream
};

class TransferQueue {
 public:
  void post(QueuedTransfer* t) {
    if (!broken_.isOk()) {
      t->status_ = broken_;
    } else {
      queue_.push_back(t);
    }
  }
  QueuedTransfer* front() const { return queue_.empty() ? nullptr : queue_.front(); }
  bool empty() const { return queue_.empty(); }
  bool broken() const { return !broken_.isOk(); }

  void completeFront() {
    queue_.front()->done_ = true;
    queue_.pop_front();
  }

  // The front transfer failed with `cause`; everything behind it fails with a note pointing at it.
  void fail(const Status& cause) {
    broken_ = cause.withContext("an earlier message on this link failed: ");
    for (size_t i = 0; i < queue_.size(); ++i) queue_[i]->status_ = i == 0 ? cause : broken_;
    queue_.clear();
  }

  // A transfer is being destroyed before it finished (the engine gave up on the operation).
  void withdraw(QueuedTransfer* t, const Status& abandoned) {
    auto it = std::find(queue_.begin(), queue_.end(), t);
    if (it == queue_.end()) return;
    bool midway = t->started_;
    queue_.erase(it);
    if (midway) fail(abandoned);
  }

 private:
  std::deque<QueuedTransfer*> queue_;
  Status broken_;
};

}  // namespace mixccl
