// The hip backend: gpu_device.inc on the HIP runtime. Built when hipcc and libamdhip64 are found.
// Compiled and linked only: no AMD GPU has run it (see docs/devices.md).
#include <hip/hip_runtime_api.h>

#include "backends/devices/gpu/gpu_kernels.h"
#include "backends/devices/gpu/gpu_module.h"

MIXCCL_DECLARE_GPU_LAUNCHERS(mixccl::hipk, hipStream_t)

#define GPU_KIND "hip"
#define GPU_KERNELS mixccl::hipk
#define GPU_PTR_IS_DEVICE(attr) ((attr).memoryType == hipMemoryTypeDevice)
#define gpuError_t hipError_t
#define gpuSuccess hipSuccess
#define gpuStream_t hipStream_t
#define gpuGetDeviceCount hipGetDeviceCount
#define gpuSetDevice hipSetDevice
#define gpuStreamCreateWithFlags hipStreamCreateWithFlags
#define gpuStreamNonBlocking hipStreamNonBlocking
#define gpuStreamSynchronize hipStreamSynchronize
#define gpuStreamDestroy hipStreamDestroy
#define gpuMalloc hipMalloc
#define gpuFree hipFree
#define gpuMemcpyAsync hipMemcpyAsync
#define gpuMemcpyDefault hipMemcpyDefault
#define gpuMemcpyHostToDevice hipMemcpyHostToDevice
#define gpuMemcpyDeviceToHost hipMemcpyDeviceToHost
#define gpuPointerAttributes hipPointerAttribute_t
#define gpuPointerGetAttributes hipPointerGetAttributes
#define gpuGetLastError hipGetLastError
#define gpuGetErrorString hipGetErrorString
#define gpuEvent_t hipEvent_t
#define gpuEventCreateWithFlags hipEventCreateWithFlags
#define gpuEventDisableTiming hipEventDisableTiming
#define gpuEventRecord hipEventRecord
#define gpuEventQuery hipEventQuery
#define gpuEventDestroy hipEventDestroy
#define gpuErrorNotReady hipErrorNotReady
#define gpuHostAlloc hipHostMalloc
#define gpuHostAllocMapped hipHostMallocMapped
#define gpuHostGetDevicePointer hipHostGetDevicePointer
#define gpuFreeHost hipHostFree
#define gpuHostAllocPortable hipHostMallocPortable
#define gpuEventSynchronize hipEventSynchronize
#define gpuStreamWaitEvent hipStreamWaitEvent
#define gpuEventInterprocess hipEventInterprocess
#define gpuIpcMemHandle_t hipIpcMemHandle_t
#define gpuIpcEventHandle_t hipIpcEventHandle_t
#define gpuIpcGetMemHandle hipIpcGetMemHandle
#define gpuIpcOpenMemHandle hipIpcOpenMemHandle
#define gpuIpcCloseMemHandle hipIpcCloseMemHandle
#define gpuIpcMemLazyEnablePeerAccess hipIpcMemLazyEnablePeerAccess
#define gpuIpcGetEventHandle hipIpcGetEventHandle
#define gpuIpcOpenEventHandle hipIpcOpenEventHandle
// A NULL user stream is HIP's null stream, which synchronizes with the device's blocking streams
// like CUDA's legacy default stream (HIP has no separate legacy handle).
#define GPU_LEGACY_STREAM static_cast<hipStream_t>(nullptr)

namespace {
hipError_t gpuStreamWaitValueGeq(hipStream_t stream, void* devicePtr, uint32_t value) {
  return hipStreamWaitValue32(stream, devicePtr, value, hipStreamWaitValueGte, 0xFFFFFFFFu);
}
}  // namespace
#include "backends/devices/gpu/gpu_device.inc"

namespace mixccl {

namespace {
Status createHipDevice(int ordinal, std::unique_ptr<Device>* out) {
  auto d = std::make_unique<GpuDevice>(ordinal);
  MIXCCL_CHECK(d->init());
  *out = std::move(d);
  return Status::ok();
}
}  // namespace

}  // namespace mixccl

#define MIXCCL_STR2(x) #x
#define MIXCCL_STR(x) MIXCCL_STR2(x)
// The module's one exported symbol (backends/devices/gpu/gpu_module.h).
MIXCCL_DEFINE_GPU_MODULE("hip", "HIP runtime " MIXCCL_STR(HIP_VERSION), mixccl::createHipDevice)
