// The internal interface between libmixccl and its GPU backend modules (libmixccl-cuda.so,
// libmixccl-hip.so). Each module is built from this source tree in the same build as libmixccl and
// exports one C function returning a GpuModuleV1; libmixccl dlopens the module the first time a rank
// asks for that kind (backends/devices/gpu/gpu_module_loader.h), so libmixccl itself needs neither
// GPU runtime. docs/devices.md explains why this is a C++ interface and not the public plugin ABI.
//
// The module hands back a C++ Device: both sides must agree on the layout of Device, Status and
// std::unique_ptr. The stamp below checks that (compiler, interface revision, sizes); a module from
// another build or compiler is refused with a sentence saying so instead of crashing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "backends/devices/device.h"
#include "core/status.h"

namespace mixccl {

// Bump when Device, Status or GpuModuleV1 change in a way an old module would misread.
constexpr uint32_t kGpuModuleRevision = 2;

struct GpuModuleV1 {
  uint32_t revision;        // kGpuModuleRevision of the module's build
  const char* compiler;     // __VERSION__ of the module's build
  size_t deviceBytes;       // sizeof(Device)
  size_t statusBytes;       // sizeof(Status)
  const char* kind;         // "cuda" or "hip"
  const char* runtime;      // the runtime it was built against, for messages ("CUDA runtime 13000")
  // Opens device `ordinal`; errors name the kind and ordinal.
  Status (*createDevice)(int ordinal, std::unique_ptr<Device>* out);
};

}  // namespace mixccl

#define MIXCCL_GPU_MODULE_GETTER "mixcclGpuModuleV1"
extern "C" {
typedef const mixccl::GpuModuleV1* (*mixcclGpuModuleGetter_t)(void);
}

// Defines the module's exported getter (one per module source).
#define MIXCCL_DEFINE_GPU_MODULE(KIND, RUNTIME, CREATE)                                                   \
  extern "C" __attribute__((visibility("default"))) const mixccl::GpuModuleV1* mixcclGpuModuleV1(void) { \
    static const mixccl::GpuModuleV1 m = {mixccl::kGpuModuleRevision, __VERSION__, sizeof(mixccl::Device),   \
                                          sizeof(mixccl::Status), KIND, RUNTIME, CREATE};                  \
    return &m;                                                                                           \
  }
