// How each data type is stored and in which type its arithmetic is done. The kernels are written once
// over these descriptions; each one says how to load a stored element into its compute type and how to
// store a result back.
#pragma once

#include <cstdint>
#include <type_traits>

#include "backends/devices/cpu/float_formats.h"

namespace mixccl::cpu {
inline namespace MIXCCL_CPU_KERNEL_ISA {

// Types the hardware computes in directly: integers and float/double.
template <class T>
struct NativeElement {
  using Storage = T;
  using Compute = T;
  static Compute load(Storage x) { return x; }
  static Storage store(Compute x) { return x; }
};

// Narrow floats: computed in float, rounded once when stored.
template <class Format, class Bits>
struct NarrowFloatElement {
  using Storage = Bits;
  using Compute = float;
  static Compute load(Storage x) { return Format::toFloat(x); }
  static Storage store(Compute x) { return static_cast<Storage>(Format::fromFloat(x)); }
};

using Int8Element = NativeElement<int8_t>;
using Uint8Element = NativeElement<uint8_t>;
using Int32Element = NativeElement<int32_t>;
using Uint32Element = NativeElement<uint32_t>;
using Int64Element = NativeElement<int64_t>;
using Uint64Element = NativeElement<uint64_t>;
using Float32Element = NativeElement<float>;
using Float64Element = NativeElement<double>;
using Float16Element = NarrowFloatElement<Float16Format, uint16_t>;
using Bfloat16Element = NarrowFloatElement<Bfloat16Format, uint16_t>;
using Fp8E4M3Element = NarrowFloatElement<Fp8E4M3Format, uint8_t>;
using Fp8E5M2Element = NarrowFloatElement<Fp8E5M2Format, uint8_t>;

}  // namespace MIXCCL_CPU_KERNEL_ISA
}  // namespace mixccl::cpu
