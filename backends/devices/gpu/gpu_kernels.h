// Launchers of the GPU backends' elementwise kernels (gpu_kernels.inc). Each returns 0 when the
// kernel was enqueued on `stream`, kGpuBadArgument for a type or operator out of range, else the
// runtime's error code (cudaError_t / hipError_t) from the launch.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mixccl {

enum : int { kGpuSum = 0, kGpuProd = 1, kGpuMax = 2, kGpuMin = 3 };  // ReduceOp's values
constexpr int kGpuBadArgument = -1;

}  // namespace mixccl

#define MIXCCL_DECLARE_GPU_LAUNCHERS(ns, stream_t)                                                       \
  namespace ns {                                                                                         \
  int launchReduce(void* dst, const void* a, const void* b, size_t count, int type, int op, stream_t s); \
  int launchScale(void* dst, const void* src, size_t count, int type, const void* scalar, stream_t s);   \
  int launchDivide(void* dst, const void* src, size_t count, int type, uint64_t divisor, stream_t s);    \
  }
