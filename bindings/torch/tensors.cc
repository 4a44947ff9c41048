#include "bindings/torch/tensors.h"

#include <torch/cuda.h>

#include <stdexcept>

namespace mixccl_torch {
namespace {

[[noreturn]] void fail(const std::string& message) { throw std::invalid_argument("mixccl: " + message); }

bool typeOf(at::ScalarType s, mixcclDataType_t* out) {
  switch (s) {
    case at::kChar: return *out = mixcclInt8, true;
    case at::kByte: return *out = mixcclUint8, true;
    case at::kBool: return *out = mixcclUint8, true;
    case at::kInt: return *out = mixcclInt32, true;
    case at::kLong: return *out = mixcclInt64, true;
    case at::kHalf: return *out = mixcclFloat16, true;
    case at::kFloat: return *out = mixcclFloat32, true;
    case at::kDouble: return *out = mixcclFloat64, true;
    case at::kBFloat16: return *out = mixcclBfloat16, true;
    default: return false;
  }
}

}  // namespace

std::string describe(const at::Tensor& t) {
  return std::to_string(t.numel()) + " x " + std::string(c10::toString(t.scalar_type()));
}

size_t byteCount(const at::Tensor& t) { return static_cast<size_t>(t.numel()) * t.element_size(); }

void checkTensor(const at::Tensor& t, const std::string& what) {
  if (!t.defined()) fail(what + " is an undefined tensor");
  if (t.is_sparse()) fail(what + " is a sparse tensor; mixccl carries dense tensors only");
  if (!t.is_cpu() && !t.is_cuda()) {
    fail(what + " is on " + t.device().str() + "; the mixccl backend takes cpu and cuda tensors");
  }
}

void checkSameType(const at::Tensor& t, const at::Tensor& reference, const std::string& what) {
  if (t.scalar_type() != reference.scalar_type()) {
    fail(what + " is " + std::string(c10::toString(t.scalar_type())) + " but the first tensor is " +
         std::string(c10::toString(reference.scalar_type())) + "; every tensor of one call must have one dtype");
  }
}

void checkNumel(const at::Tensor& t, int64_t expected, const std::string& what, const std::string& why) {
  if (t.numel() != expected) {
    fail(what + " has " + std::to_string(t.numel()) + " elements but must have " + std::to_string(expected) + " (" +
         why + ")");
  }
}

std::string opName(const c10d::ReduceOp& op) {
  switch (op.op_) {
    case c10d::ReduceOp::SUM: return "SUM";
    case c10d::ReduceOp::AVG: return "AVG";
    case c10d::ReduceOp::PRODUCT: return "PRODUCT";
    case c10d::ReduceOp::MIN: return "MIN";
    case c10d::ReduceOp::MAX: return "MAX";
    case c10d::ReduceOp::BAND: return "BAND";
    case c10d::ReduceOp::BOR: return "BOR";
    case c10d::ReduceOp::BXOR: return "BXOR";
    case c10d::ReduceOp::PREMUL_SUM: return "PREMUL_SUM";
    default: return "op " + std::to_string(static_cast<int>(op.op_));
  }
}

Reduction reductionFor(const at::Tensor& t, const c10d::ReduceOp& op, const std::string& what) {
  Reduction r{};
  at::ScalarType scalar = t.scalar_type();
  const std::string name = opName(op);
  if (t.is_complex()) {
    // (a+bi) + (c+di) is a sum of reals; products and orderings are not elementwise on pairs.
    if (op.op_ != c10d::ReduceOp::SUM && op.op_ != c10d::ReduceOp::AVG && op.op_ != c10d::ReduceOp::PREMUL_SUM) {
      fail(what + " is complex, which mixccl reduces with SUM, AVG and PREMUL_SUM only, not " + name);
    }
    r.complexAsReal = true;
    scalar = c10::toRealValueType(scalar);
  }
  if (!typeOf(scalar, &r.dtype)) {
    fail(what + " is " + std::string(c10::toString(t.scalar_type())) +
         ", which mixccl cannot reduce (it reduces int8, uint8, bool, int32, int64, float16, bfloat16, float32, "
         "float64 and complex64/128 for sums)");
  }
  const bool isBool = scalar == at::kBool;
  switch (op.op_) {
    case c10d::ReduceOp::SUM: r.op = isBool ? mixcclMax : mixcclSum; break;          // logical or
    case c10d::ReduceOp::PRODUCT: r.op = isBool ? mixcclMin : mixcclProd; break;     // logical and
    case c10d::ReduceOp::MIN: r.op = mixcclMin; break;
    case c10d::ReduceOp::MAX: r.op = mixcclMax; break;
    case c10d::ReduceOp::AVG:
      if (isBool) fail(what + " is bool, which has no average");
      r.op = mixcclAvg;
      break;
    case c10d::ReduceOp::PREMUL_SUM: {
      if (isBool) fail(what + " is bool, which has no PREMUL_SUM");
      auto* factor = dynamic_cast<c10d::NCCLPreMulSumSupplement*>(op.supplement_.get());
      if (factor == nullptr) {
        fail("PREMUL_SUM reached the mixccl backend without its factor; create the op with "
             "torch.distributed._make_nccl_premul_sum(factor)");
      }
      r.op = mixcclSum;
      r.premul = true;
      const auto options = at::TensorOptions().dtype(scalar).device(at::kCPU);
      if (!factor->tensor_factors.empty()) {
        r.factor = factor->tensor_factors.front().to(options).reshape({1});
      } else {
        r.factor = at::full({1}, factor->double_factor, options);
      }
      break;
    }
    default:
      fail(what + ": mixccl has no " + name + " reduction (it has SUM, PRODUCT, MIN, MAX, AVG and PREMUL_SUM)");
  }
  return r;
}

at::Tensor hostInput(const at::Tensor& t) {
  if (t.is_cpu()) return t.contiguous();
  return t.to(at::kCPU, /*non_blocking=*/false, /*copy=*/true).contiguous();
}

at::Tensor hostOutput(const at::Tensor& t) {
  if (t.is_cpu() && t.is_contiguous()) return t;
  return at::empty(t.sizes(), t.options().device(at::kCPU).memory_format(at::MemoryFormat::Contiguous));
}

void writeBack(const at::Tensor& user, const at::Tensor& host) {
  if (user.is_same(host)) return;
  user.copy_(host.view(user.sizes()));
  // The copy was issued on this worker thread's stream; the caller's next kernels must see it.
  if (user.is_cuda()) torch::cuda::synchronize(user.device().index());
}

at::Tensor flattenToHost(const std::vector<at::Tensor>& tensors) {
  std::vector<at::Tensor> flat;
  flat.reserve(tensors.size());
  for (const auto& t : tensors) flat.push_back(hostInput(t).reshape({-1}));
  return at::cat(flat);
}

void unflattenInto(const at::Tensor& flat, const std::vector<at::Tensor>& tensors) {
  int64_t offset = 0;
  for (const auto& t : tensors) {
    writeBack(t, flat.narrow(0, offset, t.numel()).view(t.sizes()));
    offset += t.numel();
  }
}

}  // namespace mixccl_torch
