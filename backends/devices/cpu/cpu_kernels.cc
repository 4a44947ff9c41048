// The baseline kernels (every x86-64, or any other CPU) and the choice among the compilations for
// wider vectors (cpu_kernels_avx2.cc, cpu_kernels_avx512.cc; built on x86-64 only).
#define MIXCCL_CPU_KERNEL_ISA baseline
#define MIXCCL_CPU_KERNEL_TABLE baselineKernels
#include "backends/devices/cpu/cpu_kernel_table.inc"

#include <array>
#include <initializer_list>

namespace mixccl::cpu {
namespace {

bool cpuRuns(KernelIsa isa) {
  switch (isa) {
    case KernelIsa::Baseline:
      return true;
#if defined(__x86_64__)
    case KernelIsa::Avx2:
      __builtin_cpu_init();
      // F16C too: these compilations convert float16 with it (float16_vector_kernels.h).
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c");
    case KernelIsa::Avx512:
      __builtin_cpu_init();
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("f16c");
#endif
    default:
      return false;
  }
}

// The first of `order` that is built and that this CPU runs.
KernelIsa firstRunnable(std::initializer_list<KernelIsa> order) {
  for (KernelIsa isa : order) {
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

// The narrow floats are bound by their conversions: the widest vectors win (bfloat16 sums at 8.5
// GiB/s with AVX-512, 6.3 with AVX2, 2.6 with SSE2). The other types are bound by memory, where
// gcc's AVX-512 loops lost on the AMD EPYC of docs/performance.md (a 16 MiB float sum at 8.3-8.7
// GiB/s, against 11.3-12.5 with AVX2 or SSE2; equal up to 4 MiB): they take AVX2.
KernelIsa chosenKernelIsa(mixcclDataType_t type) {
  static const KernelIsa widest = firstRunnable({KernelIsa::Avx512, KernelIsa::Avx2});
  static const KernelIsa memoryBound = firstRunnable({KernelIsa::Avx2});
  const DataTypeKernels* base = baselineKernels(type);
  return base != nullptr && base->computeBound ? widest : memoryBound;
}

// kernelsFor(type) runs on every reduce, scale and divide: the choice is made for every type once,
// then each call is an index into this table.
const DataTypeKernels* kernelsFor(mixcclDataType_t type) {
  static const auto chosen = [] {
    std::array<const DataTypeKernels*, mixcclNumTypes> table{};
    for (int t = 0; t < mixcclNumTypes; ++t) {
      const auto dt = static_cast<mixcclDataType_t>(t);
      table[static_cast<size_t>(t)] = kernelsFor(dt, chosenKernelIsa(dt));
    }
    return table;
  }();
  const int index = static_cast<int>(type);
  if (index < 0 || index >= mixcclNumTypes) return nullptr;
  return chosen[static_cast<size_t>(index)];
}

}  // namespace mixccl::cpu
