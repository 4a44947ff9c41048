// One table row per data type, in mixcclDataType_t order; every kernel is instantiated here.
#include "backends/devices/cpu/cpu_kernels.h"

#include <type_traits>

#include "backends/devices/cpu/element_types.h"
#include "backends/devices/cpu/reduce_kernels.h"

namespace mixccl::cpu {
namespace {

static_assert(static_cast<int>(ReduceOp::Sum) == 0 && static_cast<int>(ReduceOp::Prod) == 1 &&
              static_cast<int>(ReduceOp::Max) == 2 && static_cast<int>(ReduceOp::Min) == 3);

template <class E>
constexpr DataTypeKernels kernelsOf() {
  return {sizeof(typename E::Storage),
          !std::is_same_v<typename E::Storage, typename E::Compute>,
          {&reduceKernel<E, SumOp>, &reduceKernel<E, ProdOp>, &reduceKernel<E, MaxOp>,
           &reduceKernel<E, MinOp>},
          &scaleKernel<E>,
          &divideKernel<E>};
}

constexpr DataTypeKernels kKernels[] = {
    kernelsOf<Int8Element>(),      // mixcclInt8
    kernelsOf<Uint8Element>(),     // mixcclUint8
    kernelsOf<Int32Element>(),     // mixcclInt32
    kernelsOf<Uint32Element>(),    // mixcclUint32
    kernelsOf<Int64Element>(),     // mixcclInt64
    kernelsOf<Uint64Element>(),    // mixcclUint64
    kernelsOf<Float16Element>(),   // mixcclFloat16
    kernelsOf<Float32Element>(),   // mixcclFloat32
    kernelsOf<Float64Element>(),   // mixcclFloat64
    kernelsOf<Bfloat16Element>(),  // mixcclBfloat16
    kernelsOf<Fp8E4M3Element>(),   // mixcclFloat8e4m3
    kernelsOf<Fp8E5M2Element>(),   // mixcclFloat8e5m2
};
static_assert(sizeof(kKernels) / sizeof(kKernels[0]) == mixcclNumTypes);

}  // namespace

const DataTypeKernels* kernelsFor(mixcclDataType_t type) {
  const int index = static_cast<int>(type);
  if (index < 0 || index >= mixcclNumTypes) return nullptr;
  return &kKernels[index];
}

}  // namespace mixccl::cpu
