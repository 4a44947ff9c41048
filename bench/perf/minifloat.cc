#include "bench/perf/minifloat.h"

#include <cmath>
#include <limits>

namespace mixcclperf {

namespace {
int bias(MiniFloatFormat f) { return (1 << (f.expBits - 1)) - 1; }
uint32_t maxExpField(MiniFloatFormat f) { return (1u << f.expBits) - 1; }
uint32_t mantMask(MiniFloatFormat f) { return (1u << f.mantBits) - 1; }
uint32_t signBit(MiniFloatFormat f) { return 1u << (f.expBits + f.mantBits); }

// The largest finite encoding (without sign).
uint32_t maxFinite(MiniFloatFormat f) {
  if (f.ieeeSpecials) return ((maxExpField(f) - 1) << f.mantBits) | mantMask(f);
  return (maxExpField(f) << f.mantBits) | (mantMask(f) - 1);  // all ones is NaN
}
}  // namespace

double decodeMiniFloat(uint32_t bits, MiniFloatFormat f) {
  const bool negative = (bits & signBit(f)) != 0;
  const uint32_t e = (bits >> f.mantBits) & maxExpField(f);
  const uint32_t m = bits & mantMask(f);
  double v;
  if (f.ieeeSpecials && e == maxExpField(f)) {
    v = m == 0 ? std::numeric_limits<double>::infinity() : std::numeric_limits<double>::quiet_NaN();
  } else if (!f.ieeeSpecials && e == maxExpField(f) && m == mantMask(f)) {
    v = std::numeric_limits<double>::quiet_NaN();
  } else if (e == 0) {
    v = std::ldexp(static_cast<double>(m), 1 - bias(f) - f.mantBits);
  } else {
    v = std::ldexp(static_cast<double>(m | (1u << f.mantBits)), static_cast<int>(e) - bias(f) - f.mantBits);
  }
  return negative ? -v : v;
}

uint32_t encodeMiniFloat(double x, MiniFloatFormat f) {
  const uint32_t sign = std::signbit(x) ? signBit(f) : 0;
  if (std::isnan(x)) return f.ieeeSpecials ? (maxExpField(f) << f.mantBits) | (1u << (f.mantBits - 1))
                                           : (maxExpField(f) << f.mantBits) | mantMask(f);
  const double a = std::fabs(x);
  if (a == 0) return sign;
  // Scale so that one unit in the last place of this binade is 1, then round to an integer: the
  // integer is the significand (with the hidden bit) and rounding happens in one place.
  int exp2;
  std::frexp(a, &exp2);                 // a = frac * 2^exp2, frac in [0.5, 1)
  int e = exp2 - 1;                     // a = 1.xxx * 2^e
  const int minNormalExp = 1 - bias(f);
  if (e < minNormalExp) e = minNormalExp;  // subnormal: fixed quantum
  double significand = std::nearbyint(std::ldexp(a, f.mantBits - e));
  if (significand >= std::ldexp(1.0, f.mantBits + 1)) {  // rounding carried into the next binade
    significand /= 2;
    e += 1;
  }
  uint32_t encoded;
  if (significand < std::ldexp(1.0, f.mantBits)) {
    encoded = static_cast<uint32_t>(significand);  // subnormal (exponent field 0)
  } else {
    const int field = e + bias(f);
    encoded = (static_cast<uint32_t>(field) << f.mantBits) | (static_cast<uint32_t>(significand) & mantMask(f));
  }
  if (encoded > maxFinite(f)) {
    encoded = f.ieeeSpecials ? (maxExpField(f) << f.mantBits) : maxFinite(f);
  }
  return sign | encoded;
}

}  // namespace mixcclperf
