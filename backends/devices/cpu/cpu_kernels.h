// The cpu backend's kernels for each data type, as plain function pointers: one instantiation per
// data type and operator, compiled with -O3 (where they vectorize) once per instruction set.
#pragma once

#include <cstddef>
#include <cstdint>

#include "backends/devices/device.h"

namespace mixccl::cpu {

using ReduceFn = void (*)(void* dst, const void* a, const void* b, size_t count);
using ScaleFn = void (*)(void* dst, const void* src, size_t count, const void* scalar);
using DivideFn = void (*)(void* dst, const void* src, size_t count, uint64_t divisor);

struct DataTypeKernels {
  size_t elementSize;
  // True for the narrow floats, whose kernels convert every element to float and back: they run at
  // a fraction of memory bandwidth, so splitting them over threads pays off at smaller sizes.
  bool computeBound;
  ReduceFn reduce[4];  // indexed by ReduceOp
  ScaleFn scale;
  DivideFn divide;
};

// The kernels are compiled once per instruction set; kernelsFor(type) hands out the one chosen for
// the type on this CPU (once per process): the widest it runs for the narrow floats, which convert
// every element, AVX2 at most for the others, which are bound by memory (cpu_kernels.cc says why).
enum class KernelIsa { Baseline, Avx2, Avx512 };
const char* kernelIsaName(KernelIsa isa);
KernelIsa chosenKernelIsa(mixcclDataType_t type);

// The kernels for `type`, or nullptr for a value outside mixcclDataType_t.
const DataTypeKernels* kernelsFor(mixcclDataType_t type);
// The same from one compilation: nullptr where it was not built or this CPU cannot run it (tests,
// benchmarks).
const DataTypeKernels* kernelsFor(mixcclDataType_t type, KernelIsa isa);

// Each compilation's table (cpu_kernel_table.inc).
const DataTypeKernels* baselineKernels(mixcclDataType_t type);
const DataTypeKernels* avx2Kernels(mixcclDataType_t type);
const DataTypeKernels* avx512Kernels(mixcclDataType_t type);

}  // namespace mixccl::cpu
