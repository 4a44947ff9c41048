// The Work a collective call returns at once. The process group's worker thread completes it (with
// the output tensors, or the error) when the operation has run on the mixccl communicator.
#pragma once

#include <ATen/core/ivalue.h>

#include <chrono>
#include <exception>
#include <string>
#include <vector>

#include "bindings/torch/torch_compat.h"

namespace mixccl_torch {

class WorkMixccl : public WorkBase {
 public:
  // `description` names the op for error messages ("allreduce of 1024 x float on rank 1 of 4").
  WorkMixccl(int rank, c10d::OpType type, std::string description, std::vector<at::Tensor> outputs);

  bool isCompleted() override;
  bool isSuccess() const override;
  std::exception_ptr exception() const override;
  std::vector<at::Tensor> result() override;
  void synchronize() override {}  // outputs are written (and copied back to devices) before completion
  // timeout 0 (kNoTimeout) waits as long as the operation runs; the communicator's own timeout
  // (MIXCCL_TIMEOUT, or the process group's timeout) bounds that.
  bool wait(std::chrono::milliseconds timeout) override;
  c10::intrusive_ptr<c10::ivalue::Future> getFuture() override;

  // Called once by the worker thread: success when error is null.
  void complete(std::exception_ptr error);

  const std::string& description() const { return description_; }

 private:
  const std::string description_;
  const std::vector<at::Tensor> outputs_;
  c10::intrusive_ptr<c10::ivalue::Future> future_;
};

}  // namespace mixccl_torch
