// The cuda backend's kernels: gpu_kernels.inc compiled by nvcc.
#include <cuda_runtime.h>

#define GPU_STREAM_T cudaStream_t
#define GPU_GET_LAST_ERROR() cudaGetLastError()
#define MIXCCL_GPU_NS mixccl::cudak
#include "backends/devices/gpu/gpu_kernels.inc"
