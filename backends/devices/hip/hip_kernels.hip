// The hip backend's kernels: gpu_kernels.inc compiled by hipcc (the same source as cuda's).
#include <hip/hip_runtime.h>

#define GPU_STREAM_T hipStream_t
#define GPU_GET_LAST_ERROR() hipGetLastError()
#define MIXCCL_GPU_NS mixccl::hipk
#include "backends/devices/gpu/gpu_kernels.inc"
