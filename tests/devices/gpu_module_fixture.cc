// Fixture modules named libmixccl-cuda.so, one per way loading a GPU module can go (gpu_module_test):
//   FIXTURE_MISSING_RUNTIME  needs a library that is nowhere on the search path (a missing runtime);
//   FIXTURE_STALE            carries the stamp of another build;
//   otherwise                a module from this build whose createDevice reports that it was reached.
#include "backends/devices/gpu/gpu_module.h"

#ifdef FIXTURE_MISSING_RUNTIME
extern "C" int mixcclTestAbsentRuntimeProbe(void);
#endif

namespace {

mixccl::Status createFixtureDevice(int ordinal, std::unique_ptr<mixccl::Device>* out) {
  out->reset();
#ifdef FIXTURE_MISSING_RUNTIME
  (void)mixcclTestAbsentRuntimeProbe();
#endif
  return mixccl::errorStatus(mixcclInternalError, "fixture module reached for cuda:%d", ordinal);
}

}  // namespace

#ifdef FIXTURE_STALE
extern "C" __attribute__((visibility("default"))) const mixccl::GpuModuleV1* mixcclGpuModuleV1(void) {
  static const mixccl::GpuModuleV1 m = {mixccl::kGpuModuleRevision + 1000, "some other compiler", 1, 2, "cuda",
                                        "none", createFixtureDevice};
  return &m;
}
#else
MIXCCL_DEFINE_GPU_MODULE("cuda", "fixture runtime", createFixtureDevice)
#endif
