// Loads a GPU backend module (libmixccl-cuda.so / libmixccl-hip.so, backends/devices/gpu/gpu_module.h)
// the first time a rank asks for its kind, and checks that it came from this build.
#pragma once

#include <string>

#include "backends/devices/gpu/gpu_module.h"
#include "core/status.h"

namespace mixccl {

// The module implementing `kind` ("cuda", "hip"), loaded once per process and never unloaded (the
// GPU runtime's threads outlive any communicator). Looked for as libmixccl-<kind>.so where device
// plugins are (MIXCCL_PLUGIN_PATH, the directory of libmixccl and its ../lib), then by dlopen's own
// search. A failure is one sentence naming the module and dlopen's reason, e.g. a missing runtime:
//   device kind 'cuda' (MIXCCL_DEVICE=cuda) requested but libmixccl-cuda.so could not be loaded:
//   libcudart.so.13: cannot open shared object file: No such file or directory
Status loadGpuModule(const std::string& kind, const GpuModuleV1** out);

// Checks a module's stamp against this build: revision, compiler and layout sizes. Exposed for tests.
Status checkGpuModule(const GpuModuleV1* m, const std::string& kind, const std::string& path);

}  // namespace mixccl
