// The cuda backend: gpu_device.inc on the CUDA runtime. Built when CMake finds CUDAToolkit.
#include <cuda.h>  // types of the driver's stream memory operations (the driver is not linked)
#include <cuda_runtime_api.h>

#include <mutex>

#include "backends/devices/gpu/gpu_kernels.h"
#include "backends/devices/gpu/gpu_module.h"

MIXCCL_DECLARE_GPU_LAUNCHERS(mixccl::cudak, cudaStream_t)

#define GPU_KIND "cuda"
#define GPU_KERNELS mixccl::cudak
#define GPU_PTR_IS_DEVICE(attr) ((attr).type == cudaMemoryTypeDevice)
#define gpuError_t cudaError_t
#define gpuSuccess cudaSuccess
#define gpuStream_t cudaStream_t
#define gpuGetDeviceCount cudaGetDeviceCount
#define gpuSetDevice cudaSetDevice
#define gpuStreamCreateWithFlags cudaStreamCreateWithFlags
#define gpuStreamNonBlocking cudaStreamNonBlocking
#define gpuStreamSynchronize cudaStreamSynchronize
#define gpuStreamDestroy cudaStreamDestroy
#define gpuMalloc cudaMalloc
#define gpuFree cudaFree
#define gpuMemcpyAsync cudaMemcpyAsync
#define gpuMemcpyDefault cudaMemcpyDefault
#define gpuMemcpyHostToDevice cudaMemcpyHostToDevice
#define gpuMemcpyDeviceToHost cudaMemcpyDeviceToHost
#define gpuPointerAttributes cudaPointerAttributes
#define gpuPointerGetAttributes cudaPointerGetAttributes
#define gpuGetLastError cudaGetLastError
#define gpuGetErrorString cudaGetErrorString
#define gpuEvent_t cudaEvent_t
#define gpuEventCreateWithFlags cudaEventCreateWithFlags
#define gpuEventDisableTiming cudaEventDisableTiming
#define gpuEventRecord cudaEventRecord
#define gpuEventQuery cudaEventQuery
#define gpuEventDestroy cudaEventDestroy
#define gpuErrorNotReady cudaErrorNotReady
#define gpuHostAlloc cudaHostAlloc
#define gpuHostAllocMapped cudaHostAllocMapped
#define gpuHostGetDevicePointer cudaHostGetDevicePointer
#define gpuFreeHost cudaFreeHost
#define gpuHostAllocPortable cudaHostAllocPortable
#define gpuEventSynchronize cudaEventSynchronize
#define gpuStreamWaitEvent cudaStreamWaitEvent
#define gpuEventInterprocess cudaEventInterprocess
#define gpuIpcMemHandle_t cudaIpcMemHandle_t
#define gpuIpcEventHandle_t cudaIpcEventHandle_t
#define gpuIpcGetMemHandle cudaIpcGetMemHandle
#define gpuIpcOpenMemHandle cudaIpcOpenMemHandle
#define gpuIpcCloseMemHandle cudaIpcCloseMemHandle
#define gpuIpcMemLazyEnablePeerAccess cudaIpcMemLazyEnablePeerAccess
#define gpuIpcGetEventHandle cudaIpcGetEventHandle
#define gpuIpcOpenEventHandle cudaIpcOpenEventHandle
// A NULL user stream is the legacy default stream (as in NCCL), also when the application was
// compiled with --default-stream per-thread.
#define GPU_LEGACY_STREAM cudaStreamLegacy

namespace {
// cuStreamWaitValue32 (a stream memory operation) through the runtime's driver entry point, so
// that libmixccl does not link libcuda.so (absent on machines without a GPU driver).
cudaError_t gpuStreamWaitValueGeq(cudaStream_t stream, void* devicePtr, uint32_t value) {
  using WaitValue = CUresult (*)(CUstream, CUdeviceptr, cuuint32_t, unsigned int);
  static WaitValue fn = nullptr;
  static std::once_flag once;
  std::call_once(once, [] {
    void* p = nullptr;
    cudaDriverEntryPointQueryResult q;
    if (cudaGetDriverEntryPointByVersion("cuStreamWaitValue32", &p, 12000, cudaEnableDefault, &q) == cudaSuccess &&
        q == cudaDriverEntryPointSuccess)
      fn = reinterpret_cast<WaitValue>(p);
  });
  if (fn == nullptr) return cudaErrorNotSupported;
  CUresult r = fn(reinterpret_cast<CUstream>(stream), reinterpret_cast<CUdeviceptr>(devicePtr), value,
                  CU_STREAM_WAIT_VALUE_GEQ);
  return r == CUDA_SUCCESS ? cudaSuccess : cudaErrorNotSupported;
}
}  // namespace
#include "backends/devices/gpu/gpu_device.inc"

namespace mixccl {

namespace {
Status createCudaDevice(int ordinal, std::unique_ptr<Device>* out) {
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
MIXCCL_DEFINE_GPU_MODULE("cuda", "CUDA runtime " MIXCCL_STR(CUDART_VERSION), mixccl::createCudaDevice)
