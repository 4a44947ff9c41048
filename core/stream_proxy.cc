#include "core/stream_proxy.h"

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
    lock.unlock();
    runBatch(b);
    lock.lock();
  }
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
