// Tensors as mixccl sees them: contiguous host memory and a mixccl data type. The communicator of
// this backend is a "cpu" one, so a CUDA tensor is staged through host memory: copied to the host
// when the call is issued (ordered after the caller's work on its current stream) and copied back
// on the worker before the Work completes. A contiguous CPU tensor is used in place, never copied.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "bindings/torch/torch_compat.h"
#include "mixccl.h"

namespace mixccl_torch {

// A reduction as mixccl runs it on one tensor.
struct Reduction {
  mixcclDataType_t dtype;
  mixcclRedOp_t op;           // mixcclSum when premul is set
  bool premul = false;        // PREMUL_SUM: each rank's input is multiplied by factor first
  at::Tensor factor;          // 1-element CPU tensor of the reduced dtype
  bool complexAsReal = false; // complex tensors are reduced as (re, im) pairs of reals
};

// Refuses what this backend cannot carry (undefined, sparse, or on a device other than cpu or cuda),
// naming `what` ("allreduce tensor").
void checkTensor(const at::Tensor& t, const std::string& what);
// Refuses a tensor whose dtype differs from `reference`'s.
void checkSameType(const at::Tensor& t, const at::Tensor& reference, const std::string& what);
// Refuses a tensor with a different element count than expected, saying why.
void checkNumel(const at::Tensor& t, int64_t expected, const std::string& what, const std::string& why);

// What mixccl does to reduce `t` with `op`; throws for a dtype/op mixccl cannot reduce.
Reduction reductionFor(const at::Tensor& t, const c10d::ReduceOp& op, const std::string& what);
std::string opName(const c10d::ReduceOp& op);

// A contiguous CPU tensor with t's values (t itself when it already is one).
at::Tensor hostInput(const at::Tensor& t);
// A contiguous CPU tensor for the result (t itself when it already is one); writeBack copies it into t.
at::Tensor hostOutput(const at::Tensor& t);
// Copies host into user unless they are the same tensor; synchronizes when user is on a device.
void writeBack(const at::Tensor& user, const at::Tensor& host);
// Host copies of several tensors laid end to end (byte-for-byte), as collectives with one buffer need.
at::Tensor flattenToHost(const std::vector<at::Tensor>& tensors);
// Copies consecutive pieces of flat (a 1-D host tensor) into tensors, in order.
void unflattenInto(const at::Tensor& flat, const std::vector<at::Tensor>& tensors);

// Bytes of a tensor (for collectives that only move data, which therefore carry any dtype).
size_t byteCount(const at::Tensor& t);
std::string describe(const at::Tensor& t);  // "1024 x float"

}  // namespace mixccl_torch
