// The process group's worker: one thread that runs the queued operations in the order they were
// issued. mixccl's host collectives block in the calling thread, so running them here is what makes
// every torch call return a Work at once while preserving NCCL's rule that all ranks issue
// operations on a communicator in the same order.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace mixccl_torch {

class OpQueue {
 public:
  OpQueue();
  ~OpQueue();  // runs what is queued, then joins (each op is bounded by the communicator's timeout)
  OpQueue(const OpQueue&) = delete;
  OpQueue& operator=(const OpQueue&) = delete;

  void push(std::function<void()> op);

 private:
  void loop();

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> ops_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace mixccl_torch
