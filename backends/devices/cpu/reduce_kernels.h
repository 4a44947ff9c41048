// Elementwise kernels over one data type: reduce (sum, prod, max, min), scale and divide. Each is a
// plain indexed loop over __restrict pointers so the compiler vectorizes it; the cases where the
// destination is also an input get their own loop, because restrict forbids the two pointers from
// naming the same memory.
#pragma once

#include <cstddef>
#include <cstring>
#include <cstdint>
#include <type_traits>

#ifndef MIXCCL_CPU_KERNEL_ISA  // one namespace per instruction set (float_formats.h says why)
#define MIXCCL_CPU_KERNEL_ISA baseline
#endif

namespace mixccl::cpu {
inline namespace MIXCCL_CPU_KERNEL_ISA {

// Integer arithmetic wraps around, as on a GPU. It is done in an unsigned type at least as wide as
// unsigned int, so that neither signed overflow nor promotion to int can be undefined behaviour.
template <class T>
using WrapType = std::common_type_t<std::make_unsigned_t<T>, unsigned>;

struct SumOp {
  template <class T>
  static T apply(T a, T b) {
    if constexpr (std::is_integral_v<T>) {
      return static_cast<T>(static_cast<WrapType<T>>(static_cast<std::make_unsigned_t<T>>(a)) +
                            static_cast<WrapType<T>>(static_cast<std::make_unsigned_t<T>>(b)));
    } else {
      return a + b;
    }
  }
};

struct ProdOp {
  template <class T>
  static T apply(T a, T b) {
    if constexpr (std::is_integral_v<T>) {
      return static_cast<T>(static_cast<WrapType<T>>(static_cast<std::make_unsigned_t<T>>(a)) *
                            static_cast<WrapType<T>>(static_cast<std::make_unsigned_t<T>>(b)));
    } else {
      return a * b;
    }
  }
};

// Max and min on floats propagate NaN: if either input is NaN the result is NaN (like
// torch.maximum, unlike C's fmax), so a NaN produced on one rank is never silently dropped by the
// reduction. Between +0 and -0 neither is larger; the result is then the second operand.
struct MaxOp {
  template <class T>
  static T apply(T a, T b) {
    if constexpr (std::is_floating_point_v<T>) {
      return (a > b || a != a) ? a : b;
    } else {
      return a > b ? a : b;
    }
  }
};

struct MinOp {
  template <class T>
  static T apply(T a, T b) {
    if constexpr (std::is_floating_point_v<T>) {
      return (a < b || a != a) ? a : b;
    } else {
      return a < b ? a : b;
    }
  }
};

template <class E, class Op>
void reduceDistinct(typename E::Storage* __restrict dst, const typename E::Storage* __restrict a,
                    const typename E::Storage* __restrict b, size_t count) {
  for (size_t i = 0; i < count; ++i) dst[i] = E::store(Op::apply(E::load(a[i]), E::load(b[i])));
}

// acc[i] = acc[i] op other[i], or other[i] op acc[i] when the accumulator is the right operand
// (the order matters only for which NaN or which zero comes out of max/min).
template <class E, class Op, bool AccumulatorIsRight>
void reduceInPlace(typename E::Storage* __restrict acc, const typename E::Storage* __restrict other,
                   size_t count) {
  for (size_t i = 0; i < count; ++i) {
    const auto mine = E::load(acc[i]);
    const auto theirs = E::load(other[i]);
    acc[i] = E::store(AccumulatorIsRight ? Op::apply(theirs, mine) : Op::apply(mine, theirs));
  }
}

template <class E, class Op>
void reduceKernel(void* dst, const void* a, const void* b, size_t count) {
  using S = typename E::Storage;
  S* d = static_cast<S*>(dst);
  const S* x = static_cast<const S*>(a);
  const S* y = static_cast<const S*>(b);
  if (d == x) {
    reduceInPlace<E, Op, false>(d, y, count);
  } else if (d == y) {
    reduceInPlace<E, Op, true>(d, x, count);
  } else {
    reduceDistinct<E, Op>(d, x, y, count);
  }
}

template <class E>
void scaleDistinct(typename E::Storage* __restrict dst, const typename E::Storage* __restrict src,
                   size_t count, typename E::Compute factor) {
  for (size_t i = 0; i < count; ++i) dst[i] = E::store(ProdOp::apply(E::load(src[i]), factor));
}

template <class E>
void scaleInPlace(typename E::Storage* __restrict data, size_t count, typename E::Compute factor) {
  for (size_t i = 0; i < count; ++i) data[i] = E::store(ProdOp::apply(E::load(data[i]), factor));
}

template <class E>
void scaleKernel(void* dst, const void* src, size_t count, const void* scalar) {
  using S = typename E::Storage;
  S bits;
  std::memcpy(&bits, scalar, sizeof(S));  // the scalar need not be aligned (it may come from the user)
  const auto factor = E::load(bits);
  if (dst == src) {
    scaleInPlace<E>(static_cast<S*>(dst), count, factor);
  } else {
    scaleDistinct<E>(static_cast<S*>(dst), static_cast<const S*>(src), count, factor);
  }
}

// x / divisor, truncating toward zero for integers. Works on magnitudes so that any 64-bit divisor
// is right for any element type (a divisor wider than the type simply gives 0).
template <class T>
T divideInteger(T x, uint64_t divisor) {
  if constexpr (std::is_signed_v<T>) {
    const bool negative = x < 0;
    const uint64_t magnitude = negative ? 0 - static_cast<uint64_t>(static_cast<int64_t>(x))
                                        : static_cast<uint64_t>(x);
    const uint64_t quotient = magnitude / divisor;
    return static_cast<T>(negative ? 0 - quotient : quotient);
  } else {
    return static_cast<T>(static_cast<uint64_t>(x) / divisor);
  }
}

// Floats divide in double for float32 and float64 (exact divisor up to 2^53, one rounding in double
// and an innocuous second one to float) and in float for the narrow formats, whose precision is far
// below float's, so rounding the float quotient to them once more is still correctly rounded.
template <class E>
void divideKernel(void* dst, const void* src, size_t count, uint64_t divisor) {
  using S = typename E::Storage;
  using C = typename E::Compute;
  S* d = static_cast<S*>(dst);
  const S* s = static_cast<const S*>(src);
  // Element by element, reading before writing, so dst == src is fine without restrict.
  if constexpr (std::is_integral_v<C>) {
    for (size_t i = 0; i < count; ++i) d[i] = divideInteger<C>(s[i], divisor);
  } else if constexpr (std::is_same_v<C, float> && std::is_same_v<S, float>) {
    const double div = static_cast<double>(divisor);
    for (size_t i = 0; i < count; ++i) d[i] = static_cast<float>(static_cast<double>(s[i]) / div);
  } else {
    const C div = static_cast<C>(divisor);
    for (size_t i = 0; i < count; ++i) d[i] = E::store(E::load(s[i]) / div);
  }
}

}  // namespace MIXCCL_CPU_KERNEL_ISA
}  // namespace mixccl::cpu
