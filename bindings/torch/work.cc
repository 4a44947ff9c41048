#include "bindings/torch/work.h"

#include <ATen/core/jit_type.h>

#include <mutex>
#include <stdexcept>

namespace mixccl_torch {
namespace {

// A future that holds device tensors must be told their devices.
std::vector<c10::Device> devicesOf(const std::vector<at::Tensor>& tensors) {
  std::vector<c10::Device> devices;
  for (const auto& t : tensors) {
    if (t.defined() && !t.is_cpu()) {
      bool seen = false;
      for (const auto& d : devices) seen = seen || d == t.device();
      if (!seen) devices.push_back(t.device());
    }
  }
  return devices;
}

}  // namespace

WorkMixccl::WorkMixccl(int rank, c10d::OpType type, std::string description, std::vector<at::Tensor> outputs)
    : WorkBase(rank, type),
      description_(std::move(description)),
      outputs_(std::move(outputs)),
      future_(c10::make_intrusive<c10::ivalue::Future>(c10::ListType::create(c10::TensorType::get()),
                                                       devicesOf(outputs_))) {}

bool WorkMixccl::isCompleted() {
  std::lock_guard<std::mutex> lock(mutex_);
  return completed_;
}

bool WorkMixccl::isSuccess() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return completed_ && !exception_;
}

std::exception_ptr WorkMixccl::exception() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return exception_;
}

std::vector<at::Tensor> WorkMixccl::result() { return outputs_; }

bool WorkMixccl::wait(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (timeout == kNoTimeout) {
    cv_.wait(lock, [&] { return completed_; });
  } else if (!cv_.wait_for(lock, timeout, [&] { return completed_; })) {
    throw std::runtime_error("mixccl: wait() gave up after " + std::to_string(timeout.count()) + " ms: " +
                             description_ + " has not finished (it keeps running; the communicator's timeout, "
                             "MIXCCL_TIMEOUT or the process group's timeout, ends it if a peer never joins)");
  }
  if (exception_) std::rethrow_exception(exception_);
  return true;
}

c10::intrusive_ptr<c10::ivalue::Future> WorkMixccl::getFuture() { return future_; }

void WorkMixccl::complete(std::exception_ptr error) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    completed_ = true;
    exception_ = error;
  }
  cv_.notify_all();
  // Callbacks attached with then() run here, on the worker thread, after wait() can return. torch
  // turns a failing callback into an error of the future that then() returned; nothing of it may
  // escape into the worker, which must go on with the next operation.
  try {
    if (error) {
      future_->setError(error);
    } else {
      future_->markCompleted(c10::IValue(outputs_));
    }
  } catch (const std::exception& e) {
    TORCH_WARN("mixccl: completing the future of ", description_, " failed: ", e.what());
  } catch (...) {
    TORCH_WARN("mixccl: completing the future of ", description_, " failed");
  }
}

}  // namespace mixccl_torch
