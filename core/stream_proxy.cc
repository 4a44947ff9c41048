#include "core/stream_proxy.h"

#include <chrono>

#include "core/comm.h"
#include "core/log.h"

namespace mixccl {

StreamProxy::StreamProxy(mixcclComm* comm) : comm_(comm), thread_([this] { loop(); }) {}

StreamProxy::~StreamProxy() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void StreamProxy::enqueue(std::vector<Op> ops, std::vector<std::unique_ptr<StreamGate>> gates) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back({std::move(ops), std::move(gates), std::make_shared<ActiveOp>(comm_)});
  }
  cv_.notify_all();
}

void StreamProxy::loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;
    Batch b = std::move(queue_.front());
    queue_.pop_front();
    running_ = true;
    lock.unlock();
    runBatch(b);
    b = {};  // its ActiveOp leaves before waitIdle's callers go on
    lock.lock();
    running_ = false;
    cv_.notify_all();
  }
}

Status StreamProxy::waitIdle(const std::atomic<bool>& aborted, int timeoutSeconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeoutSeconds);
  std::unique_lock<std::mutex> lock(mutex_);
  while (running_ || !queue_.empty()) {
    if (aborted.load(std::memory_order_acquire)) {
      return errorStatus(mixcclSystemError,
                         "%s rank %d: the communicator was aborted (mixcclCommAbort) while a call without a stream "
                         "waited for its earlier stream-ordered operations", comm_->name.c_str(), comm_->rank);
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return errorStatus(mixcclSystemError,
                         "%s rank %d: earlier stream-ordered operations of this communicator did not finish within "
                         "%d s (MIXCCL_TIMEOUT), so a call without a stream could not start: is the stream they "
                         "were queued on stalled?",
                         comm_->name.c_str(), comm_->rank, timeoutSeconds);
    }
    cv_.wait_for(lock, std::chrono::milliseconds(10));  // a slice: abort is a flag, not a notification
  }
  return Status::ok();
}

void StreamProxy::runBatch(Batch& b) {
  Status st;
  for (auto& g : b.gates) {
    st = g->waitReady(comm_->aborted, comm_->timeoutSeconds);
    if (!st.isOk()) break;
  }
  if (st.isOk()) {
    st = runOpsNow(comm_, b.ops);  // records its own failures on the communicator
  } else {
    st = st.withContext(comm_->name + strFormat(" rank %d: stream-ordered operation: ", comm_->rank));
    std::lock_guard<std::mutex> lock(comm_->errorMutex);
    comm_->lastError = st.message();
  }
  if (!st.isOk()) {
    // Nobody waits for this call's result any more: make it the communicator's asynchronous error.
    int expected = mixcclSuccess;
    comm_->asyncError.compare_exchange_strong(expected, st.code());
    MIXCCL_WARN("%s", st.message().c_str());
  }
  for (auto& g : b.gates) g->release();
}

}  // namespace mixccl
