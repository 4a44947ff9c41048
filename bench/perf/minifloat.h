// Host-side conversion for the floating-point types C++ has no arithmetic for (half, bfloat16, fp8).
// The benchmark fills and checks buffers on the host, so it needs exact encode/decode, nothing more.
#pragma once

#include <cstdint>

namespace mixcclperf {

// A binary floating-point layout: 1 sign bit, expBits exponent bits, mantBits mantissa bits.
struct MiniFloatFormat {
  int expBits;
  int mantBits;
  // IEEE-like formats reserve the top exponent for inf/NaN. OCP fp8 e4m3 ("FN") has no infinities and
  // uses only S.1111.111 for NaN, so its top exponent holds normal numbers.
  bool ieeeSpecials;
};

constexpr MiniFloatFormat kHalfFormat{5, 10, true};
constexpr MiniFloatFormat kBfloat16Format{8, 7, true};
constexpr MiniFloatFormat kFp8E4M3Format{4, 3, false};
constexpr MiniFloatFormat kFp8E5M2Format{5, 2, true};

// The exact value of `bits` in format f.
double decodeMiniFloat(uint32_t bits, MiniFloatFormat f);
// The nearest value of format f to x (ties to even); out-of-range values become inf, or for e4m3 the
// largest finite value with the sign of x.
uint32_t encodeMiniFloat(double x, MiniFloatFormat f);

}  // namespace mixcclperf
