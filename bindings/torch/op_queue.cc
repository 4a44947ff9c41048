#include "bindings/torch/op_queue.h"

#include <utility>

namespace mixccl_torch {

OpQueue::OpQueue() : thread_([this] { loop(); }) {}

OpQueue::~OpQueue() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void OpQueue::push(std::function<void()> op) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ops_.push_back(std::move(op));
  }
  cv_.notify_one();
}

void OpQueue::loop() {
  for (;;) {
    std::function<void()> op;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock, [&] { return stopping_ || !ops_.empty(); });
      if (ops_.empty()) return;  // stopping, and everything queued has run
      op = std::move(ops_.front());
      ops_.pop_front();
    }
    op();  // ops catch their own errors and complete their Work
  }
}

}  // namespace mixccl_torch
