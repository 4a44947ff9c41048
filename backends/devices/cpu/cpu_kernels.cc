// The baseline kernels (every x86-64, or any other CPU) and the choice among the compilations for
// wider vectors (cpu_kernels_avx2.cc, cpu_kernels_avx512.cc; built on x86-64 only).
#define MIXCCL_CPU_KERNEL_ISA baseline
#define MIXCCL_CPU_KERNEL_TABLE baselineKernels
#include "backends/devices/cpu/cpu_kernel_table.inc"

namespace mixccl::cpu {
namespace {

bool cpuRuns(KernelIsa isa) {
  switch (isa) {
    case KernelIsa::Baseline:
      return true;
#if defined(__x86_64__)
    case KernelIsa::Avx2:
      __builtin_cpu_init();
      return __builtin_cpu_supports("avx2") != 0;
    case KernelIsa::Avx512:
      __builtin_cpu_init();
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
#endif
    default:
      return false;
  }
}

KernelIsa bestIsa() {
  for (KernelIsa isa : {KernelIsa::Avx512, KernelIsa::Avx2}) {
    if (kernelsFor(mixcclFloat32, isa) != nullptr) return isa;
  }
  return KernelIsa::Baseline;
}

}  // namespace

const char* kernelIsaName(KernelIsa isa) {
  switch (isa) {
    case KernelIsa::Baseline: return "baseline";
    case KernelIsa::Avx2: return "avx2";
    case KernelIsa::Avx512: return "avx512";
  }
  return "?";
}

const DataTypeKernels* kernelsFor(mixcclDataType_t type, KernelIsa isa) {
  if (!cpuRuns(isa)) return nullptr;
  switch (isa) {
    case KernelIsa::Baseline:
      return baselineKernels(type);
#if defined(MIXCCL_CPU_KERNELS_AVX2)
    case KernelIsa::Avx2:
      return avx2Kernels(type);
#endif
#if defined(MIXCCL_CPU_KERNELS_AVX512)
    case KernelIsa::Avx512:
      return avx512Kernels(type);
#endif
    default:
      return nullptr;
  }
}

KernelIsa chosenKernelIsa() {
  static const KernelIsa chosen = bestIsa();
  return chosen;
}

const DataTypeKernels* kernelsFor(mixcclDataType_t type) { return kernelsFor(type, chosenKernelIsa()); }

}  // namespace mixccl::cpu
