// The narrow floating-point formats the cpu backend reduces: float16 (IEEE binary16), bfloat16, and
// the two 8-bit formats NVIDIA GPUs and NCCL use, float8 e4m3 ("fn": no infinities, one NaN per sign)
// and float8 e5m2 (IEEE-like). Arithmetic is done in float; these convert between a format's bits and
// float.
//
// The conversions are written as straight-line integer code with selects instead of branches, so that
// a loop converting a whole buffer vectorizes. Going to float is exact. Coming back from float rounds
// to nearest, ties to even, subnormals included. What happens past the largest finite value follows
// the hardware the data usually comes from: float16 and bfloat16 become infinity (IEEE), the fp8
// formats saturate to their largest finite value (what NCCL gets from CUDA's __NV_SATFINITE
// conversion, infinity included). NaN stays NaN, keeping as much of its payload as fits.
#pragma once

#include <bit>
#include <cstdint>

// The GPU kernels (backends/devices/gpu) convert with this same code, so every backend rounds
// alike; there the conversions are compiled for the device too.
#if defined(__CUDACC__) || defined(__HIPCC__)
#define MIXCCL_HOST_DEVICE __host__ __device__
#else
#define MIXCCL_HOST_DEVICE
#endif

// The kernels are compiled once per instruction set (cpu_kernel_table.inc); each compilation puts
// these templates in a namespace of its own, so that no two compilations' instantiations share a
// name and the linker can never hand a baseline caller an AVX-512 copy. Everything else sees the
// baseline one through the inline namespace.
#ifndef MIXCCL_CPU_KERNEL_ISA
#define MIXCCL_CPU_KERNEL_ISA baseline
#endif

namespace mixccl::cpu {
inline namespace MIXCCL_CPU_KERNEL_ISA {

// What a format does with its top exponent and with values too large for it.
enum class FloatFormatKind {
  Ieee,            // top exponent: infinity (mantissa 0) or NaN; overflow -> infinity
  IeeeSaturating,  // the same encodings, but a conversion from float saturates to max finite
  FiniteNanOnes,   // no infinity: the top exponent holds normal numbers, all ones is NaN; saturates
};

template <int ExpBits, int ManBits, FloatFormatKind Kind>
struct NarrowFloatFormat {
  static_assert(ExpBits >= 2 && ExpBits <= 8 && ManBits >= 1 && ManBits <= 10);

  static constexpr int kBias = (1 << (ExpBits - 1)) - 1;
  static constexpr uint32_t kExpMask = (1u << ExpBits) - 1;
  static constexpr uint32_t kManMask = (1u << ManBits) - 1;
  static constexpr int kShift = 23 - ManBits;  // float mantissa bits dropped by the format
  static constexpr uint32_t kSignBit = 1u << (ExpBits + ManBits);
  static constexpr bool kHasInfinity = Kind != FloatFormatKind::FiniteNanOnes;
  static constexpr uint32_t kInfinity = kExpMask << ManBits;  // only meaningful with kHasInfinity
  static constexpr uint32_t kMaxFinite = kHasInfinity ? kInfinity - 1 : (kExpMask << ManBits) | (kManMask - 1);
  static constexpr uint32_t kQuietBit = 1u << (ManBits - 1);

  // Exact: every value of the format is a float.
  MIXCCL_HOST_DEVICE static float toFloat(uint32_t bits) {
    // The arithmetic is in int32_t on purpose: every value here is non-negative and below 2^31,
    // and SSE2 has signed compares and int-to-float conversion but no unsigned ones, so signed
    // types keep the vectorized loop short.
    const int32_t in = static_cast<int32_t>(bits);
    const int32_t sign = (in & static_cast<int32_t>(kSignBit)) << (31 - ExpBits - ManBits);
    const int32_t exp = (in >> ManBits) & static_cast<int32_t>(kExpMask);
    const int32_t man = in & static_cast<int32_t>(kManMask);
    int32_t magnitude;
    if constexpr (ExpBits == 8) {
      // bfloat16 is the top half of a float: subnormals, infinities and NaNs line up already.
      magnitude = (in & static_cast<int32_t>(kSignBit - 1)) << kShift;
    } else {
      const int32_t normal = ((exp + (127 - kBias)) << 23) | (man << kShift);
      // A subnormal is man * 2^(1 - bias - ManBits); the product is exact and a normal float.
      const int32_t subnormal = std::bit_cast<int32_t>(static_cast<float>(man) * kSubnormalStep);
      magnitude = exp == 0 ? subnormal : normal;
      if constexpr (kHasInfinity) {
        // Infinity or NaN; a NaN keeps its payload in the top bits of the float mantissa.
        magnitude = exp == static_cast<int32_t>(kExpMask) ? (0x7F800000 | (man << kShift)) : magnitude;
      } else {
        magnitude = (exp == static_cast<int32_t>(kExpMask) && man == static_cast<int32_t>(kManMask))
                        ? 0x7FC00000
                        : magnitude;
      }
    }
    return std::bit_cast<float>(sign | magnitude);
  }

  // Round to nearest, ties to even. (int32_t arithmetic for the same reason as above.)
  MIXCCL_HOST_DEVICE static uint32_t fromFloat(float value) {
    const int32_t bits = std::bit_cast<int32_t>(value);
    const int32_t abs = bits & 0x7FFFFFFF;
    const int32_t sign = static_cast<int32_t>(static_cast<uint32_t>(bits) >> 31) << (ExpBits + ManBits);

    // Normal range: move the exponent to the format's bias, then round the dropped bits to nearest
    // even by adding just under half an ulp plus the kept lowest bit. A carry out of the mantissa
    // correctly bumps the exponent. (For bfloat16 this also covers subnormals and infinity, since the
    // exponent field is float's.) Values below the normal range go negative here and are replaced.
    const int32_t rebiased = abs - ((127 - kBias) << 23);
    const int32_t roundBias = (1 << (kShift - 1)) - 1 + ((rebiased >> kShift) & 1);
    // The sum wraps only for NaN inputs (replaced below); add as unsigned so that is not UB.
    int32_t magnitude =
        static_cast<int32_t>(static_cast<uint32_t>(rebiased) + static_cast<uint32_t>(roundBias)) >> kShift;

    if constexpr (ExpBits != 8) {
      // Subnormal range: adding 2^k, whose float ulp is the format's subnormal step, makes the FPU
      // round the value to a multiple of that step; what is left above 2^k is the mantissa. A value
      // that rounds up to the smallest normal comes out as exactly its encoding.
      const float rounded = std::bit_cast<float>(abs) + kSubnormalMagic;
      const int32_t subnormal = std::bit_cast<int32_t>(rounded) - std::bit_cast<int32_t>(kSubnormalMagic);
      magnitude = abs < kMinNormalFloatBits ? subnormal : magnitude;
    }

    if constexpr (Kind == FloatFormatKind::Ieee) {
      magnitude = magnitude > static_cast<int32_t>(kInfinity) ? static_cast<int32_t>(kInfinity) : magnitude;
    } else {
      magnitude = magnitude > static_cast<int32_t>(kMaxFinite) ? static_cast<int32_t>(kMaxFinite) : magnitude;
    }

    // NaN: keep the top payload bits; a payload that does not fit becomes the quiet bit so that
    // the result is still a NaN and not infinity.
    int32_t nan;
    if constexpr (kHasInfinity) {
      const int32_t payload = (abs >> kShift) & static_cast<int32_t>(kManMask);
      nan = static_cast<int32_t>(kInfinity) | payload | (payload == 0 ? static_cast<int32_t>(kQuietBit) : 0);
    } else {
      nan = static_cast<int32_t>((kExpMask << ManBits) | kManMask);
    }
    magnitude = abs > 0x7F800000 ? nan : magnitude;
    return static_cast<uint32_t>(sign | magnitude);
  }

 private:
  // 2^(1 - bias - ManBits): the distance between neighbouring subnormals.
  static constexpr float kSubnormalStep =
      std::bit_cast<float>(static_cast<uint32_t>(127 + 1 - kBias - ManBits) << 23);
  // 2^(24 - bias - ManBits): a float whose ulp is kSubnormalStep.
  static constexpr float kSubnormalMagic =
      std::bit_cast<float>(static_cast<uint32_t>(127 + 24 - kBias - ManBits) << 23);
  // The float bits of 2^(1 - bias), the smallest normal value of the format.
  static constexpr int32_t kMinNormalFloatBits = (127 + 1 - kBias) << 23;
};

using Float16Format = NarrowFloatFormat<5, 10, FloatFormatKind::Ieee>;
using Bfloat16Format = NarrowFloatFormat<8, 7, FloatFormatKind::Ieee>;
using Fp8E4M3Format = NarrowFloatFormat<4, 3, FloatFormatKind::FiniteNanOnes>;
using Fp8E5M2Format = NarrowFloatFormat<5, 2, FloatFormatKind::IeeeSaturating>;

MIXCCL_HOST_DEVICE inline float float16ToFloat(uint16_t h) { return Float16Format::toFloat(h); }
MIXCCL_HOST_DEVICE inline uint16_t floatToFloat16(float f) { return static_cast<uint16_t>(Float16Format::fromFloat(f)); }
MIXCCL_HOST_DEVICE inline float bfloat16ToFloat(uint16_t h) { return Bfloat16Format::toFloat(h); }
MIXCCL_HOST_DEVICE inline uint16_t floatToBfloat16(float f) { return static_cast<uint16_t>(Bfloat16Format::fromFloat(f)); }
MIXCCL_HOST_DEVICE inline float fp8e4m3ToFloat(uint8_t b) { return Fp8E4M3Format::toFloat(b); }
MIXCCL_HOST_DEVICE inline uint8_t floatToFp8e4m3(float f) { return static_cast<uint8_t>(Fp8E4M3Format::fromFloat(f)); }
MIXCCL_HOST_DEVICE inline float fp8e5m2ToFloat(uint8_t b) { return Fp8E5M2Format::toFloat(b); }
MIXCCL_HOST_DEVICE inline uint8_t floatToFp8e5m2(float f) { return static_cast<uint8_t>(Fp8E5M2Format::fromFloat(f)); }

}  // namespace MIXCCL_CPU_KERNEL_ISA
}  // namespace mixccl::cpu
