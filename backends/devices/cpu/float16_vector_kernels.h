// float16 sum, product, scale and divide written with F16C intrinsics, eight elements at a time, for
// the compilations that have AVX2 (cpu_kernel_table.inc includes this where __AVX2__ and __F16C__ are
// defined). They give the generic loops' bits exactly (tests/device_cpu_test.cc checks every
// compilation against the baseline on any bit pattern, and every float16 NaN on its own).
//
// Why: the generic loops convert with float_formats.h's integer code, which gcc vectorizes into some
// thirty instructions a vector and which handles subnormals in software: a float16 sum ran at 2.6
// GiB/s with AVX-512, against 33 for float (mixccl-micro, 256 KiB). gcc 12 does not vectorize the
// scalar F16C conversions, hence the intrinsics. With them: 24 GiB/s.
//
// F16C gives the same bits as our conversion but for one thing: a signalling NaN comes out quiet.
// Arithmetic quiets a signalling NaN anyway, so a sum, product, scale or divide gives the same bits
// either way; max and min pass a NaN operand through untouched, so they keep the generic loops and
// with them the NaN's exact bits. (bfloat16 written the same way, a shift in and float_formats.h's
// rounding out, ran at 6.9 GiB/s, below gcc's AVX-512 loop at 8.5: it stays generic.)
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "backends/devices/cpu/element_types.h"
#include "backends/devices/cpu/reduce_kernels.h"

#if !defined(__AVX2__) || !defined(__F16C__)
#error "float16_vector_kernels.h needs -mavx2 and -mf16c (the AVX2 and AVX-512 compilations)"
#endif

namespace mixccl::cpu {
inline namespace MIXCCL_CPU_KERNEL_ISA {
namespace vec {

struct Float16Codec {
  using Element = Float16Element;
  static __m256 load8(const uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  // Round to nearest even whatever MXCSR says, as Float16Format::fromFloat does.
  static void store8(uint16_t* p, __m256 v) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
};

// The generic operators of reduce_kernels.h, eight lanes at a time (sum and product: max and min stay
// generic, see above).
template <class ScalarOp>
struct VectorOf;
template <>
struct VectorOf<SumOp> {
  static __m256 apply(__m256 a, __m256 b) { return _mm256_add_ps(a, b); }
};
template <>
struct VectorOf<ProdOp> {
  static __m256 apply(__m256 a, __m256 b) { return _mm256_mul_ps(a, b); }
};

// dst[i] = a[i] op b[i]. Each vector is loaded whole before its result is stored, so dst may be a or
// b (the in-place reductions); other overlaps are not allowed, as for every kernel.
template <class Codec, class Op>
void reduce(void* dst, const void* a, const void* b, size_t count) {
  using E = typename Codec::Element;
  auto* d = static_cast<uint16_t*>(dst);
  const auto* x = static_cast<const uint16_t*>(a);
  const auto* y = static_cast<const uint16_t*>(b);
  size_t i = 0;
  for (; i + 8 <= count; i += 8) Codec::store8(d + i, VectorOf<Op>::apply(Codec::load8(x + i), Codec::load8(y + i)));
  for (; i < count; ++i) d[i] = E::store(Op::apply(E::load(x[i]), E::load(y[i])));
}

template <class Codec>
void scale(void* dst, const void* src, size_t count, const void* scalar) {
  using E = typename Codec::Element;
  uint16_t bits;
  std::memcpy(&bits, scalar, sizeof bits);  // the scalar need not be aligned (it may come from the user)
  const float factor = E::load(bits);
  const __m256 f = _mm256_set1_ps(factor);
  auto* d = static_cast<uint16_t*>(dst);
  const auto* s = static_cast<const uint16_t*>(src);
  size_t i = 0;
  for (; i + 8 <= count; i += 8) Codec::store8(d + i, _mm256_mul_ps(Codec::load8(s + i), f));
  for (; i < count; ++i) d[i] = E::store(E::load(s[i]) * factor);
}

// In float, as divideKernel does for the narrow floats.
template <class Codec>
void divide(void* dst, const void* src, size_t count, uint64_t divisor) {
  using E = typename Codec::Element;
  const float div = static_cast<float>(divisor);
  const __m256 v = _mm256_set1_ps(div);
  auto* d = static_cast<uint16_t*>(dst);
  const auto* s = static_cast<const uint16_t*>(src);
  size_t i = 0;
  for (; i + 8 <= count; i += 8) Codec::store8(d + i, _mm256_div_ps(Codec::load8(s + i), v));
  for (; i < count; ++i) d[i] = E::store(E::load(s[i]) / div);
}

}  // namespace vec
}  // namespace MIXCCL_CPU_KERNEL_ISA
}  // namespace mixccl::cpu
