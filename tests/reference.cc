#include "tests/reference.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace mixccl_test {

void storeFloat(mixcclDataType_t t, double v, void* dst) {
  switch (t) {
    case mixcclFloat16: { uint16_t b = encodeFloat16(v); std::memcpy(dst, &b, 2); break; }
    case mixcclBfloat16: { uint16_t b = encodeBfloat16(v); std::memcpy(dst, &b, 2); break; }
    case mixcclFloat8e4m3: { uint8_t b = encodeFp8E4M3(v); std::memcpy(dst, &b, 1); break; }
    case mixcclFloat8e5m2: { uint8_t b = encodeFp8E5M2(v); std::memcpy(dst, &b, 1); break; }
    case mixcclFloat32: { float f = static_cast<float>(v); std::memcpy(dst, &f, 4); break; }
    case mixcclFloat64: std::memcpy(dst, &v, 8); break;
    default: throw std::logic_error("storeFloat: not a float type");
  }
}

double loadFloat(mixcclDataType_t t, const void* src) {
  switch (t) {
    case mixcclFloat16: { uint16_t b; std::memcpy(&b, src, 2); return decodeFloat16(b); }
    case mixcclBfloat16: { uint16_t b; std::memcpy(&b, src, 2); return decodeBfloat16(b); }
    case mixcclFloat8e4m3: { uint8_t b; std::memcpy(&b, src, 1); return decodeFp8E4M3(b); }
    case mixcclFloat8e5m2: { uint8_t b; std::memcpy(&b, src, 1); return decodeFp8E5M2(b); }
    case mixcclFloat32: { float f; std::memcpy(&f, src, 4); return f; }
    case mixcclFloat64: { double d; std::memcpy(&d, src, 8); return d; }
    default: throw std::logic_error("loadFloat: not a float type");
  }
}

namespace {

// A binary float format narrower than double: sign, expBits, manBits (implicit leading one).
struct FloatFormat {
  int expBits;
  int manBits;
  bool hasInf;       // IEEE-style: all-ones exponent is inf/NaN. e4m3 "fn" has no inf.
  double maxFinite;  // largest finite magnitude
  bool saturate;     // overflow gives maxFinite (fp8, as NCCL converts) instead of inf
};

constexpr FloatFormat kHalf{5, 10, true, 65504.0, false};
const FloatFormat kBf16{8, 7, true, std::ldexp(2.0 - std::ldexp(1.0, -7), 127), false};
constexpr FloatFormat kE4M3{4, 3, false, 448.0, true};
constexpr FloatFormat kE5M2{5, 2, true, 57344.0, true};

int biasOf(const FloatFormat& f) { return (1 << (f.expBits - 1)) - 1; }

uint32_t encodeFormat(double v, const FloatFormat& f) {
  const uint32_t signBit = 1u << (f.expBits + f.manBits);
  const uint32_t expAllOnes = (1u << f.expBits) - 1;
  const uint32_t manAllOnes = (1u << f.manBits) - 1;
  if (std::isnan(v)) {
    // e4m3fn's only NaN is all ones; the IEEE-like formats use a quiet NaN.
    return f.hasInf ? (expAllOnes << f.manBits) | (1u << (f.manBits - 1)) : (expAllOnes << f.manBits) | manAllOnes;
  }
  const uint32_t sign = std::signbit(v) ? signBit : 0;
  const double a = std::fabs(v);
  if (a == 0) return sign;
  // The largest finite value: below the inf/NaN exponent, or (e4m3fn) just below the NaN pattern.
  const uint32_t maxFiniteBits =
      f.hasInf ? ((expAllOnes - 1) << f.manBits) | manAllOnes : (expAllOnes << f.manBits) | (manAllOnes - 1);
  const uint32_t overflowBits = f.saturate || !f.hasInf ? maxFiniteBits : (expAllOnes << f.manBits);
  if (std::isinf(a)) return sign | overflowBits;
  const int bias = biasOf(f);
  int e = 0;
  std::frexp(a, &e);
  e -= 1;  // now a is in [2^e, 2^(e+1))
  const int minExp = 1 - bias;
  if (e < minExp) e = minExp;  // subnormal: fixed quantum
  // a / quantum is exact (power-of-two scaling); nearbyint rounds half to even by default.
  double q = std::nearbyint(std::ldexp(a, f.manBits - e));
  if (q >= std::ldexp(1.0, f.manBits + 1)) {  // rounded up to the next binade
    q /= 2;
    e += 1;
  }
  if (std::ldexp(q, e - f.manBits) > f.maxFinite) return sign | overflowBits;
  const auto mant = static_cast<uint32_t>(q);
  if (mant < (1u << f.manBits)) return sign | mant;  // subnormal or zero
  return sign | (static_cast<uint32_t>(e + bias) << f.manBits) | (mant - (1u << f.manBits));
}

double decodeFormat(uint32_t bits, const FloatFormat& f) {
  const uint32_t expAllOnes = (1u << f.expBits) - 1;
  const uint32_t manAllOnes = (1u << f.manBits) - 1;
  const bool negative = (bits >> (f.expBits + f.manBits)) & 1;
  const uint32_t expField = (bits >> f.manBits) & expAllOnes;
  const uint32_t mant = bits & manAllOnes;
  double v;
  if (f.hasInf && expField == expAllOnes) {
    v = mant ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
  } else if (!f.hasInf && expField == expAllOnes && mant == manAllOnes) {
    v = std::numeric_limits<double>::quiet_NaN();
  } else if (expField == 0) {
    v = std::ldexp(static_cast<double>(mant), 1 - biasOf(f) - f.manBits);
  } else {
    v = std::ldexp(static_cast<double>(mant + (1u << f.manBits)),
                   static_cast<int>(expField) - biasOf(f) - f.manBits);
  }
  return negative ? -v : v;
}

bool isSignedInt(mixcclDataType_t t) {
  return t == mixcclInt8 || t == mixcclInt32 || t == mixcclInt64;
}

// Bits of precision after the leading one (the ulp of 1 is 2^-manBits).
int mantissaBits(mixcclDataType_t t) {
  switch (t) {
    case mixcclFloat16: return 10;
    case mixcclBfloat16: return 7;
    case mixcclFloat8e4m3: return 3;
    case mixcclFloat8e5m2: return 2;
    case mixcclFloat32: return 23;
    case mixcclFloat64: return 52;
    default: return 0;
  }
}

// Smallest positive (subnormal) value of a float type: slack for results near zero.
double minSubnormal(mixcclDataType_t t) {
  switch (t) {
    case mixcclFloat16: return std::ldexp(1.0, -24);
    case mixcclBfloat16: return std::ldexp(1.0, -133);
    case mixcclFloat8e4m3: return std::ldexp(1.0, -9);
    case mixcclFloat8e5m2: return std::ldexp(1.0, -16);
    case mixcclFloat32: return std::numeric_limits<float>::denorm_min();
    default: return std::numeric_limits<double>::denorm_min();
  }
}

// Largest integer magnitude up to which every partial sum of integers is exact in the type.
int64_t exactIntegerLimit(mixcclDataType_t t) {
  switch (t) {
    case mixcclFloat16: return 2048;
    case mixcclBfloat16: return 256;
    case mixcclFloat8e4m3: return 16;
    case mixcclFloat8e5m2: return 8;
    default: return int64_t{1} << 24;
  }
}

uint64_t widthMask(mixcclDataType_t t) {
  const size_t bytes = typeSize(t);
  return bytes >= 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * bytes)) - 1;
}

// Sign-extends the low typeSize bytes of an integer of a signed type.
int64_t asSigned(uint64_t bits, mixcclDataType_t t) {
  const unsigned width = 8 * static_cast<unsigned>(typeSize(t));
  if (width >= 64) return static_cast<int64_t>(bits);
  const uint64_t m = uint64_t{1} << (width - 1);
  return static_cast<int64_t>(((bits & widthMask(t)) ^ m) - m);
}

// The random stream of one rank: element i's bits are mixBits(base ^ i * golden).
uint64_t rankBase(uint64_t seed, int rank) {
  return mixBits(seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(rank + 1) * 0xD1B54A32D192ED03ull);
}
uint64_t elementBits(uint64_t base, size_t index) {
  return mixBits(base ^ (static_cast<uint64_t>(index) * 0xA24BAED4963EE407ull));
}

// A number in [0, n) from 64 random bits, by their high half times n: a 64-bit `%` divides, and
// was a fifth of the matrix's time at 1M+3 elements, where every element of every rank's input is
// generated again to check a result.
uint64_t below(uint64_t bits, uint64_t n) { return ((bits >> 32) * n) >> 32; }

double roundToType(mixcclDataType_t t, double v) {
  unsigned char buf[8];
  storeFloat(t, v, buf);
  return loadFloat(t, buf);
}

uint64_t loadBits(mixcclDataType_t t, const void* src) {
  uint64_t v = 0;
  std::memcpy(&v, src, typeSize(t));  // little-endian host
  return v;
}

void storeBits(mixcclDataType_t t, uint64_t v, void* dst) { std::memcpy(dst, &v, typeSize(t)); }

// Every input of float16, bfloat16 and fp8 is a multiple of 1/2 within [-2048, 2048] (whole numbers
// up to exactIntegerLimit, and 1/2 and 2 in products: InputGenerator::valueOf), so each element's
// encoding is looked up, at index 2v + kNarrowHalves, in a table made once per type: encodeFormat's
// frexp and ldexp per element made the narrow types the slowest to fill and check.
constexpr int kNarrowHalves = 4096;  // 2048 in steps of 1/2
const std::vector<uint16_t>* narrowFloatTable(mixcclDataType_t t) {
  auto make = [](mixcclDataType_t type) {
    std::vector<uint16_t> bits(2 * kNarrowHalves + 1);
    for (int h = -kNarrowHalves; h <= kNarrowHalves; ++h) {
      unsigned char buf[8] = {};
      storeFloat(type, h / 2.0, buf);
      bits[static_cast<size_t>(h + kNarrowHalves)] = static_cast<uint16_t>(loadBits(type, buf));
    }
    return bits;
  };
  static const std::vector<uint16_t> half = make(mixcclFloat16), bf16 = make(mixcclBfloat16),
                                     e4m3 = make(mixcclFloat8e4m3), e5m2 = make(mixcclFloat8e5m2);
  switch (t) {
    case mixcclFloat16: return &half;
    case mixcclBfloat16: return &bf16;
    case mixcclFloat8e4m3: return &e4m3;
    case mixcclFloat8e5m2: return &e5m2;
    default: return nullptr;
  }
}

// Out of line, so that the check that calls it keeps InputGenerator::bitsAt small enough to inline.
[[noreturn]] __attribute__((noinline, cold)) void notANarrowInput(double v) {
  throw std::logic_error("InputGenerator: the narrow float input " + std::to_string(v) +
                         " is not a multiple of 1/2 within 2048");
}

// One rank's inputs in one case: element `index` of its buffer is a function of (seed, rank, index)
// alone, so any rank can compute any other's. Everything that does not depend on the index is
// decided once here, not per element: fill and check walk millions of elements per case.
class InputGenerator {
 public:
  InputGenerator(mixcclDataType_t t, Reduction r, uint64_t seed, int rank, int nranks)
      : t_(t), r_(r), base_(rankBase(seed, rank)), rank_(static_cast<size_t>(rank)), mask_(widthMask(t)),
        isFloat_(r != Reduction::None && isFloatType(t)), narrow_(narrowFloatTable(t)) {
    if (t == mixcclFloat32 || t == mixcclFloat64) {
      // Quarters in [-1000, 1000]: any partial sum of 8 is a multiple of 1/4 below 2^13, exact.
      span_ = 8001;
      offset_ = 4000;
      scale_ = 0.25;
    } else {
      // Integers in [-R, R] with nranks * R within the type's exact range.
      const int64_t range = std::max<int64_t>(1, exactIntegerLimit(t) / std::max(nranks, 1));
      span_ = static_cast<uint64_t>(2 * range + 1);
      offset_ = range;
      scale_ = 1.0;
    }
  }

  // The input of a float type as a double (always exactly representable in the type).
  double valueAt(size_t index) const { return valueOf(elementBits(base_, index), index); }

  // The raw bits of the element as fillInput writes it (low typeSize bytes).
  uint64_t bitsAt(size_t index) const {
    const uint64_t bits = elementBits(base_, index);
    if (!isFloat_) {
      // Integer products use odd factors so the wrapped product rarely collapses to zero.
      return (r_ == Reduction::Prod ? (bits | 1) : bits) & mask_;
    }
    const double v = valueOf(bits, index);
    if (t_ == mixcclFloat32) {
      const float f = static_cast<float>(v);
      uint32_t b;
      std::memcpy(&b, &f, sizeof b);
      return b;
    }
    if (t_ == mixcclFloat64) {
      uint64_t b;
      std::memcpy(&b, &v, sizeof b);
      return b;
    }
    const auto at = static_cast<int64_t>(v * 2) + kNarrowHalves;
    if (narrow_ == nullptr || at < 0 || static_cast<size_t>(at) >= narrow_->size() ||
        static_cast<double>(at - kNarrowHalves) != v * 2) {
      notANarrowInput(v);
    }
    return (*narrow_)[static_cast<size_t>(at)];
  }

 private:
  double valueOf(uint64_t bits, size_t index) const {
    if (r_ == Reduction::Prod) {
      // Mostly +-1; a rank contributes 2 or 0.5 at a few indices. (index + 3 rank) % 7 == 0 holds for
      // at most 2 of 8 ranks, (index + 5 rank) % 11 == 0 for at most 1: |product| stays within
      // [1/2, 4], exact in every type whatever the order.
      double m = 1.0;
      if ((index + 3 * rank_) % 7 == 0) {
        m = 2.0;
      } else if ((index + 5 * rank_) % 11 == 0) {
        m = 0.5;
      }
      return (bits & 1) ? -m : m;
    }
    return static_cast<double>(static_cast<int64_t>(below(bits, span_)) - offset_) * scale_;
  }

  mixcclDataType_t t_;
  Reduction r_;
  uint64_t base_;
  size_t rank_;
  uint64_t mask_;
  bool isFloat_;
  const std::vector<uint16_t>* narrow_;  // float16, bfloat16, fp8: the encodings of the inputs
  uint64_t span_ = 1;
  int64_t offset_ = 0;
  double scale_ = 1.0;
};

double preMulScalarValue(mixcclDataType_t t, int rank) {
  if (isFloatType(t)) {
    static const double kScalars[] = {1.0, 0.5, 2.0, 1.5};
    return kScalars[rank % 4];
  }
  return static_cast<double>(rank % 3 + 2);
}

std::string describeElement(mixcclDataType_t t, const void* p) {
  char text[96];
  const uint64_t bits = loadBits(t, p);
  if (isFloatType(t)) {
    std::snprintf(text, sizeof text, "%.9g (bits 0x%llx)", loadFloat(t, p), static_cast<unsigned long long>(bits));
  } else if (isSignedInt(t)) {
    std::snprintf(text, sizeof text, "%lld", static_cast<long long>(asSigned(bits, t)));
  } else {
    std::snprintf(text, sizeof text, "%llu", static_cast<unsigned long long>(bits));
  }
  return text;
}

constexpr size_t kMismatchesShown = 5;

void reportMismatch(size_t shown, const std::string& label, size_t index, mixcclDataType_t t,
                    const void* got, const void* want, double tolerance) {
  if (shown >= kMismatchesShown) return;
  std::fprintf(stderr, "  %s: element %zu is %s, expected %s", label.c_str(), index,
               describeElement(t, got).c_str(), describeElement(t, want).c_str());
  if (tolerance > 0) std::fprintf(stderr, " (tolerance %.3g)", tolerance);
  std::fprintf(stderr, "\n");
}

void reportTotal(size_t mismatches, size_t count, const std::string& label) {
  if (mismatches > 0) {
    std::fprintf(stderr, "  %s: %zu of %zu elements wrong\n", label.c_str(), mismatches, count);
  }
}

// The element loops below, for one element width (Word is uint8_t .. uint64_t): typeSize is asked
// once per buffer, and a load or store is one instruction rather than a memcpy of a runtime size.
template <typename Word>
void fillWords(const InputGenerator& g, size_t firstIndex, size_t count, void* dst) {
  auto* out = static_cast<unsigned char*>(dst);
  for (size_t i = 0; i < count; ++i) {
    const auto w = static_cast<Word>(g.bitsAt(firstIndex + i));
    std::memcpy(out + i * sizeof(Word), &w, sizeof(Word));
  }
}

template <typename Word>
size_t checkWords(mixcclDataType_t t, const InputGenerator& g, size_t firstIndex, size_t count, const void* got,
                  const std::string& label) {
  const auto* in = static_cast<const unsigned char*>(got);
  size_t mismatches = 0;
  for (size_t i = 0; i < count; ++i) {
    const auto want = static_cast<Word>(g.bitsAt(firstIndex + i));
    Word have;
    std::memcpy(&have, in + i * sizeof(Word), sizeof(Word));
    if (have != want) reportMismatch(mismatches++, label, i, t, in + i * sizeof(Word), &want, 0);
  }
  return mismatches;
}

}  // namespace

uint64_t mixBits(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

const std::vector<mixcclDataType_t>& allTypes() {
  static const std::vector<mixcclDataType_t> types = {
      mixcclInt8,    mixcclUint8,   mixcclInt32,    mixcclUint32,     mixcclInt64,      mixcclUint64,
      mixcclFloat16, mixcclFloat32, mixcclFloat64,  mixcclBfloat16,   mixcclFloat8e4m3, mixcclFloat8e5m2};
  return types;
}

const std::vector<Reduction>& allReductions() {
  static const std::vector<Reduction> reductions = {Reduction::Sum, Reduction::Prod, Reduction::Max,
                                                    Reduction::Min, Reduction::Avg,  Reduction::PreMulSum};
  return reductions;
}

const char* typeName(mixcclDataType_t t) {
  switch (t) {
    case mixcclInt8: return "int8";
    case mixcclUint8: return "uint8";
    case mixcclInt32: return "int32";
    case mixcclUint32: return "uint32";
    case mixcclInt64: return "int64";
    case mixcclUint64: return "uint64";
    case mixcclFloat16: return "float16";
    case mixcclFloat32: return "float32";
    case mixcclFloat64: return "float64";
    case mixcclBfloat16: return "bfloat16";
    case mixcclFloat8e4m3: return "fp8e4m3";
    case mixcclFloat8e5m2: return "fp8e5m2";
    default: return "?";
  }
}

const char* reductionName(Reduction r) {
  switch (r) {
    case Reduction::None: return "none";
    case Reduction::Sum: return "sum";
    case Reduction::Prod: return "prod";
    case Reduction::Max: return "max";
    case Reduction::Min: return "min";
    case Reduction::Avg: return "avg";
    case Reduction::PreMulSum: return "premulsum";
  }
  return "?";
}

size_t typeSize(mixcclDataType_t t) {
  switch (t) {
    case mixcclInt8: case mixcclUint8: case mixcclFloat8e4m3: case mixcclFloat8e5m2: return 1;
    case mixcclFloat16: case mixcclBfloat16: return 2;
    case mixcclInt32: case mixcclUint32: case mixcclFloat32: return 4;
    case mixcclInt64: case mixcclUint64: case mixcclFloat64: return 8;
    default: throw std::logic_error("typeSize: unknown data type");
  }
}

bool isFloatType(mixcclDataType_t t) { return mantissaBits(t) > 0; }

mixcclRedOp_t builtinOp(Reduction r) {
  switch (r) {
    case Reduction::Sum: return mixcclSum;
    case Reduction::Prod: return mixcclProd;
    case Reduction::Max: return mixcclMax;
    case Reduction::Min: return mixcclMin;
    case Reduction::Avg: return mixcclAvg;
    default: throw std::logic_error("builtinOp: no builtin operator for this reduction");
  }
}

uint16_t encodeFloat16(double v) { return static_cast<uint16_t>(encodeFormat(v, kHalf)); }
uint16_t encodeBfloat16(double v) { return static_cast<uint16_t>(encodeFormat(v, kBf16)); }
uint8_t encodeFp8E4M3(double v) { return static_cast<uint8_t>(encodeFormat(v, kE4M3)); }
uint8_t encodeFp8E5M2(double v) { return static_cast<uint8_t>(encodeFormat(v, kE5M2)); }
// Decoding is a table lookup: the checks decode every output element of every case.
namespace {
template <size_t N>
std::vector<double> decodeTable(const FloatFormat& f) {
  std::vector<double> table(N);
  for (size_t i = 0; i < N; ++i) table[i] = decodeFormat(static_cast<uint32_t>(i), f);
  return table;
}
}  // namespace
double decodeFloat16(uint16_t bits) {
  static const std::vector<double> table = decodeTable<65536>(kHalf);
  return table[bits];
}
double decodeBfloat16(uint16_t bits) {
  static const std::vector<double> table = decodeTable<65536>(kBf16);
  return table[bits];
}
double decodeFp8E4M3(uint8_t bits) {
  static const std::vector<double> table = decodeTable<256>(kE4M3);
  return table[bits];
}
double decodeFp8E5M2(uint8_t bits) {
  static const std::vector<double> table = decodeTable<256>(kE5M2);
  return table[bits];
}

void fillInput(mixcclDataType_t t, Reduction r, uint64_t seed, int rank, int nranks, size_t firstIndex,
               size_t count, void* dst) {
  const InputGenerator g(t, r, seed, rank, nranks);
  switch (typeSize(t)) {
    case 1: fillWords<uint8_t>(g, firstIndex, count, dst); break;
    case 2: fillWords<uint16_t>(g, firstIndex, count, dst); break;
    case 4: fillWords<uint32_t>(g, firstIndex, count, dst); break;
    default: fillWords<uint64_t>(g, firstIndex, count, dst); break;
  }
}

void preMulScalar(mixcclDataType_t t, int rank, void* dst) {
  const double s = preMulScalarValue(t, rank);
  if (isFloatType(t)) {
    storeFloat(t, s, dst);
  } else {
    storeBits(t, static_cast<uint64_t>(s), dst);
  }
}

size_t checkInputs(mixcclDataType_t t, Reduction r, uint64_t seed, int rank, int nranks,
                   size_t firstIndex, size_t count, const void* got, const std::string& label) {
  const InputGenerator g(t, r, seed, rank, nranks);
  size_t mismatches = 0;
  switch (typeSize(t)) {
    case 1: mismatches = checkWords<uint8_t>(t, g, firstIndex, count, got, label); break;
    case 2: mismatches = checkWords<uint16_t>(t, g, firstIndex, count, got, label); break;
    case 4: mismatches = checkWords<uint32_t>(t, g, firstIndex, count, got, label); break;
    default: mismatches = checkWords<uint64_t>(t, g, firstIndex, count, got, label); break;
  }
  reportTotal(mismatches, count, label);
  return mismatches;
}

size_t checkReduction(mixcclDataType_t t, Reduction r, uint64_t seed, int nranks, size_t firstIndex,
                      size_t count, const void* got, const std::string& label) {
  if (r == Reduction::None) throw std::logic_error("checkReduction: no reduction given");
  const size_t size = typeSize(t);
  std::vector<InputGenerator> inputs;
  std::vector<double> scalars(static_cast<size_t>(nranks));
  for (int q = 0; q < nranks; ++q) {
    inputs.emplace_back(t, r, seed, q, nranks);
    scalars[static_cast<size_t>(q)] = preMulScalarValue(t, q);
  }
  const auto* in = static_cast<const unsigned char*>(got);
  const bool isFloat = isFloatType(t);
  const double ulpOfOne = isFloat ? std::ldexp(1.0, -mantissaBits(t)) : 0;
  size_t mismatches = 0;
  for (size_t i = 0; i < count; ++i) {
    const size_t index = firstIndex + i;
    unsigned char want[8] = {};
    double tolerance = 0;
    if (isFloat) {
      double acc = 0, sumAbs = 0;
      for (int q = 0; q < nranks; ++q) {
        // Input values are exactly representable: no need to round-trip them through the type.
        const double x = inputs[static_cast<size_t>(q)].valueAt(index);
        switch (r) {
          case Reduction::Sum: case Reduction::Avg: acc += x; sumAbs += std::fabs(x); break;
          case Reduction::Prod: acc = q == 0 ? x : acc * x; break;
          case Reduction::Max: acc = q == 0 ? x : std::max(acc, x); break;
          case Reduction::Min: acc = q == 0 ? x : std::min(acc, x); break;
          case Reduction::PreMulSum: {
            const double term = x * scalars[static_cast<size_t>(q)];
            acc += term;
            sumAbs += std::fabs(term);
            break;
          }
          case Reduction::None: break;
        }
      }
      if (r == Reduction::Avg) {
        acc /= nranks;
        sumAbs /= nranks;
      }
      if (r == Reduction::Avg || r == Reduction::PreMulSum) {
        // Each term is rounded to the type before the (also rounded) sum: (n+1)/2 ulps of the
        // sum of magnitudes bound the error; allow twice that.
        tolerance = (nranks + 1) * ulpOfOne * sumAbs + 2 * minSubnormal(t);
      }
      // Exact reductions: acc is representable, compare with it directly (by value, so -0 == +0).
      const double g = loadFloat(t, in + i * size);
      const bool ok = tolerance > 0 ? std::fabs(g - roundToType(t, acc)) <= tolerance : g == acc;
      if (!ok) {
        storeFloat(t, acc, want);
        reportMismatch(mismatches++, label, i, t, in + i * size, want, tolerance);
      }
      continue;
    }
    // Integers: wrap-around arithmetic is exact whatever the order of reduction.
    const bool isSigned = isSignedInt(t);
    uint64_t acc = 0;
    for (int q = 0; q < nranks; ++q) {
      const uint64_t x = inputs[static_cast<size_t>(q)].bitsAt(index);
      switch (r) {
        case Reduction::Sum: case Reduction::Avg: acc += x; break;
        case Reduction::Prod: acc = q == 0 ? x : acc * x; break;
        case Reduction::PreMulSum: acc += x * static_cast<uint64_t>(scalars[static_cast<size_t>(q)]); break;
        case Reduction::Max: case Reduction::Min: {
          if (q == 0) { acc = x; break; }
          const bool less = isSigned ? asSigned(x, t) < asSigned(acc, t) : x < acc;
          if ((r == Reduction::Min) == less) acc = x;
          break;
        }
        case Reduction::None: break;
      }
    }
    if (r == Reduction::Avg) {
      // The sum wrapped in the type, then divided truncating toward zero.
      acc = isSigned ? static_cast<uint64_t>(asSigned(acc, t) / nranks) : (acc & widthMask(t)) / static_cast<uint64_t>(nranks);
    }
    storeBits(t, acc & widthMask(t), want);
    if (loadBits(t, in + i * size) != (acc & widthMask(t))) {
      reportMismatch(mismatches++, label, i, t, in + i * size, want, 0);
    }
  }
  reportTotal(mismatches, count, label);
  return mismatches;
}

size_t checkSentinel(const void* got, size_t bytes, uint8_t sentinel, const std::string& label) {
  const auto* in = static_cast<const unsigned char*>(got);
  size_t changed = 0;
  for (size_t i = 0; i < bytes; ++i) {
    if (in[i] != sentinel) {
      if (changed < kMismatchesShown) {
        std::fprintf(stderr, "  %s: byte %zu was overwritten (0x%02x, sentinel 0x%02x)\n", label.c_str(), i,
                     in[i], sentinel);
      }
      ++changed;
    }
  }
  if (changed > 0) std::fprintf(stderr, "  %s: %zu of %zu bytes overwritten\n", label.c_str(), changed, bytes);
  return changed;
}

}  // namespace mixccl_test
