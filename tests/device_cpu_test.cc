// Tests of the cpu device backend: every data type and operator against a reference computed in
// double (or exact integers) with its own narrow-float rounding, written here independently of the
// library's conversion code; the conversions themselves exhaustively; scale, divide, copy, memory.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "backends/devices/cpu/cpu_kernels.h"
#include "backends/devices/cpu/float_formats.h"
#include "backends/devices/device.h"

namespace mixccl {
namespace {

const mixcclDataType_t kAllTypes[] = {mixcclInt8,   mixcclUint8,   mixcclInt32,      mixcclUint32,
                                      mixcclInt64,  mixcclUint64,  mixcclFloat16,    mixcclFloat32,
                                      mixcclFloat64, mixcclBfloat16, mixcclFloat8e4m3, mixcclFloat8e5m2};
const ReduceOp kAllOps[] = {ReduceOp::Sum, ReduceOp::Prod, ReduceOp::Max, ReduceOp::Min};

// ---------------------------------------------------------------------------------------------
// Reference narrow-float formats, by arithmetic on doubles (frexp/ldexp/nearbyint), not bit tricks.

struct RefFormat {
  int expBits;
  int manBits;
  bool ieeeSpecials;  // top exponent is infinity/NaN; otherwise only all-ones is NaN (e4m3fn)
  bool saturate;      // overflow gives max finite instead of infinity

  int bias() const { return (1 << (expBits - 1)) - 1; }
  int totalBits() const { return 1 + expBits + manBits; }
  uint32_t signBit() const { return 1u << (expBits + manBits); }
  uint32_t maxFiniteBits() const {
    const uint32_t top = ((1u << expBits) - 1) << manBits;
    return ieeeSpecials ? top - 1 : top | ((1u << manBits) - 2);
  }
  double maxFinite() const { return decode(maxFiniteBits()); }

  bool isNan(uint32_t bits) const {
    const uint32_t exp = (bits >> manBits) & ((1u << expBits) - 1);
    const uint32_t man = bits & ((1u << manBits) - 1);
    if (ieeeSpecials) return exp == (1u << expBits) - 1 && man != 0;
    return exp == (1u << expBits) - 1 && man == (1u << manBits) - 1;
  }

  double decode(uint32_t bits) const {
    const bool negative = (bits & signBit()) != 0;
    const int exp = static_cast<int>((bits >> manBits) & ((1u << expBits) - 1));
    const int man = static_cast<int>(bits & ((1u << manBits) - 1));
    double value;
    if (isNan(bits)) {
      value = std::numeric_limits<double>::quiet_NaN();
    } else if (ieeeSpecials && exp == (1 << expBits) - 1) {
      value = std::numeric_limits<double>::infinity();
    } else if (exp == 0) {
      value = std::ldexp(man, 1 - bias() - manBits);
    } else {
      value = std::ldexp(man + (1 << manBits), exp - bias() - manBits);
    }
    return negative ? -value : value;
  }

  // Round to nearest even once; for NaN any NaN pattern is right (the caller checks isNan).
  uint32_t encode(double v) const {
    const uint32_t sign = std::signbit(v) ? signBit() : 0;
    if (std::isnan(v)) return sign | (((1u << expBits) - 1) << manBits) | ((1u << manBits) - 1);
    const double a = std::fabs(v);
    const uint32_t infinity = ((1u << expBits) - 1) << manBits;
    if (a == 0) return sign;
    double rounded = std::numeric_limits<double>::infinity();
    if (!std::isinf(a)) {
      int k;
      std::frexp(a, &k);  // a = f * 2^k, f in [0.5, 1): the unbiased exponent is k - 1
      const int e = std::max(k - 1, 1 - bias());
      const double quantum = std::ldexp(1.0, e - manBits);
      rounded = std::nearbyint(a / quantum) * quantum;
    }
    if (rounded > maxFinite()) return sign | (saturate ? maxFiniteBits() : infinity);
    if (rounded < std::ldexp(1.0, 1 - bias())) {
      return sign | static_cast<uint32_t>(rounded / std::ldexp(1.0, 1 - bias() - manBits));
    }
    int k;
    std::frexp(rounded, &k);
    const int e = k - 1;
    const auto man = static_cast<uint32_t>(rounded / std::ldexp(1.0, e - manBits)) - (1u << manBits);
    return sign | (static_cast<uint32_t>(e + bias()) << manBits) | man;
  }
};

constexpr RefFormat kRefFloat16{5, 10, true, false};
constexpr RefFormat kRefBfloat16{8, 7, true, false};
constexpr RefFormat kRefE4M3{4, 3, false, true};
constexpr RefFormat kRefE5M2{5, 2, true, true};

const RefFormat* refFormatOf(mixcclDataType_t type) {
  switch (type) {
    case mixcclFloat16: return &kRefFloat16;
    case mixcclBfloat16: return &kRefBfloat16;
    case mixcclFloat8e4m3: return &kRefE4M3;
    case mixcclFloat8e5m2: return &kRefE5M2;
    default: return nullptr;
  }
}

// ---------------------------------------------------------------------------------------------
// Elements as raw bits (up to 64), so one reference works for every type.

uint64_t loadBits(const void* buf, size_t i, size_t size) {
  uint64_t v = 0;
  std::memcpy(&v, static_cast<const char*>(buf) + i * size, size);  // little endian
  return v;
}

void storeBits(void* buf, size_t i, size_t size, uint64_t v) {
  std::memcpy(static_cast<char*>(buf) + i * size, &v, size);
}

bool isSignedInteger(mixcclDataType_t t) {
  return t == mixcclInt8 || t == mixcclInt32 || t == mixcclInt64;
}

int64_t signExtend(uint64_t bits, size_t size) {
  const int shift = 64 - static_cast<int>(size * 8);
  return static_cast<int64_t>(bits << shift) >> shift;
}

double toDouble(mixcclDataType_t t, uint64_t bits) {
  if (const RefFormat* f = refFormatOf(t)) return f->decode(static_cast<uint32_t>(bits));
  if (t == mixcclFloat32) return std::bit_cast<float>(static_cast<uint32_t>(bits));
  return std::bit_cast<double>(bits);
}

// Rounds a double once to the float type t.
uint64_t fromDouble(mixcclDataType_t t, double v) {
  if (const RefFormat* f = refFormatOf(t)) return f->encode(v);
  if (t == mixcclFloat32) return std::bit_cast<uint32_t>(static_cast<float>(v));
  return std::bit_cast<uint64_t>(v);
}

bool isNanBits(mixcclDataType_t t, uint64_t bits) {
  return isFloatingType(t) && std::isnan(toDouble(t, bits));
}

// The expected a op b for one element.
uint64_t referenceOp(mixcclDataType_t t, ReduceOp op, uint64_t a, uint64_t b) {
  const size_t size = dataTypeSize(t);
  const uint64_t mask = size == 8 ? ~uint64_t{0} : (uint64_t{1} << (size * 8)) - 1;
  if (!isFloatingType(t)) {
    switch (op) {
      case ReduceOp::Sum: return (a + b) & mask;
      case ReduceOp::Prod: return (a * b) & mask;
      case ReduceOp::Max:
      case ReduceOp::Min: {
        const bool aLess = isSignedInteger(t) ? signExtend(a, size) < signExtend(b, size) : a < b;
        return (op == ReduceOp::Max) == aLess ? b : a;
      }
    }
  }
  const double x = toDouble(t, a);
  const double y = toDouble(t, b);
  switch (op) {
    // For float64 the double result is the answer; for every narrower type the double sum or
    // product of two elements is exact or rounded harmlessly (53 >= 2p+2), so rounding it once
    // to the type gives the correctly rounded result a single binary operation must produce.
    case ReduceOp::Sum: return fromDouble(t, x + y);
    case ReduceOp::Prod: return fromDouble(t, x * y);
    // NaN propagates; on equal values (+0 and -0 included) the second operand comes out.
    case ReduceOp::Max: return std::isnan(x) || x > y ? a : b;
    case ReduceOp::Min: return std::isnan(x) || x < y ? a : b;
  }
  return 0;
}

// Random elements: any bit pattern for integers; for floats, finite values only (so that no input
// is NaN), half of them any finite bit pattern, half of moderate size so that sums really mix.
std::vector<char> randomElements(mixcclDataType_t t, size_t count, uint64_t seed) {
  const size_t size = dataTypeSize(t);
  std::vector<char> out(count * size);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> moderate(-8.0, 8.0);
  for (size_t i = 0; i < count; ++i) {
    uint64_t bits = rng();
    if (isFloatingType(t)) {
      if (i % 2 == 1) {
        bits = fromDouble(t, moderate(rng));
      } else {
        const uint64_t mask = size == 8 ? ~uint64_t{0} : (uint64_t{1} << (size * 8)) - 1;
        while (!std::isfinite(toDouble(t, bits & mask))) bits = rng();
      }
    }
    storeBits(out.data(), i, size, bits);
  }
  return out;
}

std::string describe(mixcclDataType_t t, uint64_t bits) {
  char buf[96];
  if (isFloatingType(t)) {
    std::snprintf(buf, sizeof buf, "0x%llx (%.17g)", static_cast<unsigned long long>(bits), toDouble(t, bits));
  } else {
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(bits));
  }
  return buf;
}

// Checks got[i] == a[i] op b[i] for every element; stops after a few reported mismatches.
void expectReduced(mixcclDataType_t t, ReduceOp op, const char* a, const char* b, const char* got,
                   size_t count, const std::string& label) {
  const size_t size = dataTypeSize(t);
  int reported = 0;
  size_t mismatches = 0;
  for (size_t i = 0; i < count; ++i) {
    const uint64_t x = loadBits(a, i, size);
    const uint64_t y = loadBits(b, i, size);
    const uint64_t want = referenceOp(t, op, x, y);
    const uint64_t have = loadBits(got, i, size);
    const bool same = have == want || (isNanBits(t, have) && isNanBits(t, want));
    if (!same) {
      ++mismatches;
      if (reported++ < 5) {
        ADD_FAILURE() << label << ": element " << i << ": " << describe(t, x) << " "
                      << reduceOpName(op) << " " << describe(t, y) << " gave " << describe(t, have)
                      << ", expected " << describe(t, want);
      }
    }
  }
  EXPECT_EQ(mismatches, 0u) << label;
}

class CpuDeviceTypeTest : public ::testing::TestWithParam<mixcclDataType_t> {};

TEST_P(CpuDeviceTypeTest, ReduceMatchesReferenceForEveryOpAndLength) {
  const mixcclDataType_t t = GetParam();
  auto device = createCpuDevice(0, 1);
  uint64_t seed = 1000 + static_cast<uint64_t>(t);
  for (size_t count : {size_t{1}, size_t{7}, size_t{1023}, size_t{100003}}) {
    const auto a = randomElements(t, count, seed++);
    const auto b = randomElements(t, count, seed++);
    for (ReduceOp op : kAllOps) {
      std::vector<char> out(a.size());
      ASSERT_TRUE(device->reduce(out.data(), a.data(), b.data(), count, t, op).isOk());
      expectReduced(t, op, a.data(), b.data(), out.data(), count,
                    std::string(dataTypeName(t)) + " " + reduceOpName(op) + " n=" + std::to_string(count));
    }
  }
}

TEST_P(CpuDeviceTypeTest, LargeReduceSplitOverThreadsMatchesReference) {
  const mixcclDataType_t t = GetParam();
  auto device = createCpuDevice(0, 2);
  // Past the 4 MiB threshold, with a ragged end.
  const size_t count = (5u << 20) / dataTypeSize(t) + 13;
  const auto a = randomElements(t, count, 77);
  const auto b = randomElements(t, count, 78);
  for (ReduceOp op : kAllOps) {
    std::vector<char> out(a.size());
    ASSERT_TRUE(device->reduce(out.data(), a.data(), b.data(), count, t, op).isOk());
    expectReduced(t, op, a.data(), b.data(), out.data(), count,
                  std::string(dataTypeName(t)) + " " + reduceOpName(op) + " large");
  }
}

TEST_P(CpuDeviceTypeTest, ReduceInPlaceIntoEitherInput) {
  const mixcclDataType_t t = GetParam();
  auto device = createCpuDevice(0, 1);
  const size_t count = 1023;
  const auto a = randomElements(t, count, 5);
  const auto b = randomElements(t, count, 6);
  for (ReduceOp op : kAllOps) {
    std::vector<char> acc = a;
    ASSERT_TRUE(device->reduce(acc.data(), acc.data(), b.data(), count, t, op).isOk());
    expectReduced(t, op, a.data(), b.data(), acc.data(), count,
                  std::string(dataTypeName(t)) + " " + reduceOpName(op) + " dst==a");
    acc = b;
    ASSERT_TRUE(device->reduce(acc.data(), a.data(), acc.data(), count, t, op).isOk());
    expectReduced(t, op, a.data(), b.data(), acc.data(), count,
                  std::string(dataTypeName(t)) + " " + reduceOpName(op) + " dst==b");
  }
}

// The expected x * s: exact integer wrap-around, or the double product rounded once.
uint64_t referenceScale(mixcclDataType_t t, uint64_t x, uint64_t s) {
  return referenceOp(t, ReduceOp::Prod, x, s);
}

TEST_P(CpuDeviceTypeTest, ScaleMultipliesByOneElementOfTheType) {
  const mixcclDataType_t t = GetParam();
  const size_t size = dataTypeSize(t);
  auto device = createCpuDevice(0, 1);
  const size_t count = 1001;
  const auto src = randomElements(t, count, 11);
  std::vector<uint64_t> scalars;
  if (isFloatingType(t)) {
    for (double s : {1.0, -1.0, 0.5, 0.3, -3.75, 1.0 / 7}) scalars.push_back(fromDouble(t, s));
  } else {
    scalars = {1, 3, static_cast<uint64_t>(-5), 0x9E3779B97F4A7C15ull};
  }
  for (uint64_t s : scalars) {
    std::vector<char> scalar(size);
    storeBits(scalar.data(), 0, size, s);
    std::vector<char> out(src.size());
    ASSERT_TRUE(device->scale(out.data(), src.data(), count, t, scalar.data()).isOk());
    std::vector<char> inPlace = src;
    ASSERT_TRUE(device->scale(inPlace.data(), inPlace.data(), count, t, scalar.data()).isOk());
    const uint64_t sBits = loadBits(scalar.data(), 0, size);
    for (size_t i = 0; i < count; ++i) {
      const uint64_t want = referenceScale(t, loadBits(src.data(), i, size), sBits);
      ASSERT_EQ(loadBits(out.data(), i, size), want)
          << dataTypeName(t) << " element " << i << " " << describe(t, loadBits(src.data(), i, size))
          << " * " << describe(t, sBits);
      ASSERT_EQ(loadBits(inPlace.data(), i, size), want) << dataTypeName(t) << " in place, element " << i;
    }
  }
}

TEST_P(CpuDeviceTypeTest, DivideTruncatesIntegersAndRoundsFloatsOnce) {
  const mixcclDataType_t t = GetParam();
  const size_t size = dataTypeSize(t);
  auto device = createCpuDevice(0, 1);
  const size_t count = 777;
  auto src = randomElements(t, count, 21);
  for (uint64_t divisor : {uint64_t{1}, uint64_t{3}, uint64_t{7}, uint64_t{1000}, uint64_t{1} << 40,
                           uint64_t{1} << 63, ~uint64_t{0}}) {
    std::vector<char> out(src.size());
    ASSERT_TRUE(device->divide(out.data(), src.data(), count, t, divisor).isOk());
    for (size_t i = 0; i < count; ++i) {
      const uint64_t x = loadBits(src.data(), i, size);
      uint64_t want;
      if (isFloatingType(t)) {
        // Correctly rounded quotient (double's 53 bits make the second rounding harmless); the
        // divisor is exact in double for every divisor used here.
        want = fromDouble(t, toDouble(t, x) / static_cast<double>(divisor));
      } else if (isSignedInteger(t)) {
        const int64_t v = signExtend(x, size);
        int64_t q;
        if (divisor <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
          q = v / static_cast<int64_t>(divisor);  // C++ division truncates toward zero
        } else {
          q = (v == std::numeric_limits<int64_t>::min() && divisor == (uint64_t{1} << 63)) ? -1 : 0;
        }
        want = static_cast<uint64_t>(q) & (size == 8 ? ~uint64_t{0} : (uint64_t{1} << (size * 8)) - 1);
      } else {
        want = x / divisor;
      }
      const uint64_t have = loadBits(out.data(), i, size);
      ASSERT_TRUE(have == want || (isNanBits(t, have) && isNanBits(t, want)))
          << dataTypeName(t) << " element " << i << ": " << describe(t, x) << " / " << divisor
          << " gave " << describe(t, have) << ", expected " << describe(t, want);
    }
  }
  // In place.
  std::vector<char> inPlace = src;
  std::vector<char> out(src.size());
  ASSERT_TRUE(device->divide(out.data(), src.data(), count, t, 3).isOk());
  ASSERT_TRUE(device->divide(inPlace.data(), inPlace.data(), count, t, 3).isOk());
  EXPECT_EQ(std::memcmp(out.data(), inPlace.data(), out.size()), 0);
}

// The kernels are compiled once per instruction set (backends/devices/cpu/cpu_kernels.h) and the
// device uses the widest the CPU runs; every compilation this CPU can run is checked here: reduce
// against the reference at lengths that end inside and outside a vector of every width, in place
// into either input, and reduce, scale and divide bit for bit against the baseline on any bit
// pattern (NaNs and infinities included; a NaN only as a NaN).
TEST_P(CpuDeviceTypeTest, EveryInstructionSetComputesLikeTheReference) {
  const mixcclDataType_t t = GetParam();
  const size_t size = dataTypeSize(t);
  const cpu::DataTypeKernels* baseline = cpu::kernelsFor(t, cpu::KernelIsa::Baseline);
  ASSERT_NE(baseline, nullptr);
  std::string ran;
  for (cpu::KernelIsa isa : {cpu::KernelIsa::Baseline, cpu::KernelIsa::Avx2, cpu::KernelIsa::Avx512}) {
    const cpu::DataTypeKernels* k = cpu::kernelsFor(t, isa);
    if (k == nullptr) continue;  // not built here, or this CPU cannot run it
    ran += std::string(ran.empty() ? "" : ", ") + cpu::kernelIsaName(isa);
    const std::string name = std::string(dataTypeName(t)) + " " + cpu::kernelIsaName(isa);
    for (size_t count : {size_t{1}, size_t{7}, size_t{33}, size_t{127}, size_t{1023}, size_t{4099}}) {
      const auto a = randomElements(t, count, 500 + count);
      const auto b = randomElements(t, count, 900 + count);
      for (ReduceOp op : kAllOps) {
        const std::string label = name + " " + reduceOpName(op) + " n=" + std::to_string(count);
        std::vector<char> out(a.size());
        k->reduce[static_cast<int>(op)](out.data(), a.data(), b.data(), count);
        expectReduced(t, op, a.data(), b.data(), out.data(), count, label);
        std::vector<char> acc = a;
        k->reduce[static_cast<int>(op)](acc.data(), acc.data(), b.data(), count);
        expectReduced(t, op, a.data(), b.data(), acc.data(), count, label + " into a");
        acc = b;
        k->reduce[static_cast<int>(op)](acc.data(), a.data(), acc.data(), count);
        expectReduced(t, op, a.data(), b.data(), acc.data(), count, label + " into b");
      }
    }
    // Any bit pattern, against the baseline (whose specials the conversion tests cover).
    const size_t count = 4099;
    std::vector<char> x(count * size), y(count * size);
    std::mt19937_64 rng(42);
    for (auto& c : x) c = static_cast<char>(rng());
    for (auto& c : y) c = static_cast<char>(rng());
    std::vector<char> want(x.size()), got(x.size());
    // Equal bits, or NaN on both sides: which NaN's payload a sum or product of two NaNs carries is
    // the hardware's choice of operand, and the compiler may swap the operands of a commutative
    // operation in one compilation and not in another (it did, in the sanitizer build).
    auto expectSame = [&](const std::string& what) {
      size_t differ = 0;
      for (size_t i = 0; i < count; ++i) {
        const uint64_t w = loadBits(want.data(), i, size), g = loadBits(got.data(), i, size);
        if (w == g || (isNanBits(t, w) && isNanBits(t, g))) continue;
        if (differ++ < 3) ADD_FAILURE() << what << ": element " << i << ": " << describe(t, g) << ", baseline " << describe(t, w);
      }
      EXPECT_EQ(differ, 0u) << what;
    };
    for (ReduceOp op : kAllOps) {
      baseline->reduce[static_cast<int>(op)](want.data(), x.data(), y.data(), count);
      k->reduce[static_cast<int>(op)](got.data(), x.data(), y.data(), count);
      expectSame(name + " " + reduceOpName(op));
    }
    baseline->scale(want.data(), x.data(), count, y.data());
    k->scale(got.data(), x.data(), count, y.data());
    expectSame(name + " scale");
    baseline->divide(want.data(), x.data(), count, 7);
    k->divide(got.data(), x.data(), count, 7);
    expectSame(name + " divide");
  }
  RecordProperty("instruction_sets", ran);
  std::printf("%s: checked %s (the device uses %s)\n", dataTypeName(t), ran.c_str(),
              cpu::kernelIsaName(cpu::chosenKernelIsa(t)));
}

INSTANTIATE_TEST_SUITE_P(AllTypes, CpuDeviceTypeTest, ::testing::ValuesIn(kAllTypes),
                         [](const ::testing::TestParamInfo<mixcclDataType_t>& info) {
                           return std::string(dataTypeName(info.param));
                         });

// ---------------------------------------------------------------------------------------------
// Conversions.

TEST(CpuFloatFormats, EveryFloat16AndBfloat16PatternRoundTripsThroughFloat) {
  for (uint32_t bits = 0; bits < 65536; ++bits) {
    const auto h = static_cast<uint16_t>(bits);
    const float f = cpu::float16ToFloat(h);
    ASSERT_EQ(cpu::floatToFloat16(f), h) << "float16 0x" << std::hex << bits;
    const double want = kRefFloat16.decode(bits);
    if (std::isnan(want)) {
      ASSERT_TRUE(std::isnan(f)) << "float16 0x" << std::hex << bits;
    } else {
      ASSERT_EQ(static_cast<double>(f), want) << "float16 0x" << std::hex << bits;
    }

    const float g = cpu::bfloat16ToFloat(h);
    ASSERT_EQ(cpu::floatToBfloat16(g), h) << "bfloat16 0x" << std::hex << bits;
    const double wantB = kRefBfloat16.decode(bits);
    if (std::isnan(wantB)) {
      ASSERT_TRUE(std::isnan(g)) << "bfloat16 0x" << std::hex << bits;
    } else {
      ASSERT_EQ(static_cast<double>(g), wantB) << "bfloat16 0x" << std::hex << bits;
    }
  }
}

TEST(CpuFloatFormats, EveryFp8PatternRoundTripsThroughFloatExceptE5M2Infinity) {
  for (uint32_t bits = 0; bits < 256; ++bits) {
    const auto b = static_cast<uint8_t>(bits);
    const float e4 = cpu::fp8e4m3ToFloat(b);
    EXPECT_EQ(cpu::floatToFp8e4m3(e4), b) << "e4m3 0x" << std::hex << bits;
    const double want4 = kRefE4M3.decode(bits);
    if (std::isnan(want4)) {
      EXPECT_TRUE(std::isnan(e4)) << "e4m3 0x" << std::hex << bits;
    } else {
      EXPECT_EQ(static_cast<double>(e4), want4) << "e4m3 0x" << std::hex << bits;
    }
    const float e5 = cpu::fp8e5m2ToFloat(b);
    if ((bits & 0x7F) == 0x7C) {
      // e5m2 infinity reads as infinity but, like every overflow under NVIDIA's satfinite
      // conversion, is written back as the largest finite value: the one pattern that cannot
      // round-trip.
      EXPECT_TRUE(std::isinf(e5));
      EXPECT_EQ(cpu::floatToFp8e5m2(e5), (bits & 0x80) | 0x7B) << "e5m2 0x" << std::hex << bits;
    } else {
      EXPECT_EQ(cpu::floatToFp8e5m2(e5), b) << "e5m2 0x" << std::hex << bits;
    }
    const double want5 = kRefE5M2.decode(bits);
    if (std::isnan(want5)) {
      EXPECT_TRUE(std::isnan(e5)) << "e5m2 0x" << std::hex << bits;
    } else {
      EXPECT_EQ(static_cast<double>(e5), want5) << "e5m2 0x" << std::hex << bits;
    }
  }
}

using EncodeFn = uint32_t (*)(float);
uint32_t encodeF16(float f) { return cpu::floatToFloat16(f); }
uint32_t encodeBf16(float f) { return cpu::floatToBfloat16(f); }
uint32_t encodeE4M3(float f) { return cpu::floatToFp8e4m3(f); }
uint32_t encodeE5M2(float f) { return cpu::floatToFp8e5m2(f); }

struct NamedFormat {
  const char* name;
  const RefFormat* ref;
  EncodeFn encode;
};
const NamedFormat kFormats[] = {{"float16", &kRefFloat16, encodeF16},
                                {"bfloat16", &kRefBfloat16, encodeBf16},
                                {"float8e4m3", &kRefE4M3, encodeE4M3},
                                {"float8e5m2", &kRefE5M2, encodeE5M2}};

void expectEncodes(const NamedFormat& f, float value) {
  const uint32_t have = f.encode(value);
  const uint32_t want = f.ref->encode(value);
  if (std::isnan(value)) {
    EXPECT_TRUE(f.ref->isNan(have)) << f.name << ": NaN became 0x" << std::hex << have;
    EXPECT_EQ(have & f.ref->signBit(), want & f.ref->signBit()) << f.name << ": NaN lost its sign";
  } else {
    EXPECT_EQ(have, want) << f.name << ": " << std::hexfloat << value << " (" << std::defaultfloat
                          << value << ") gave 0x" << std::hex << have << ", expected 0x" << want;
  }
}

// Every tie between neighbours (and one float ulp either side of it) rounds as the reference says:
// to the even neighbour on the tie, to the nearer one otherwise; past the largest finite value,
// to infinity or to the largest finite value.
TEST(CpuFloatFormats, EveryMidpointBetweenNeighboursRoundsToNearestEven) {
  for (const NamedFormat& f : kFormats) {
    const uint32_t maxFinite = f.ref->maxFiniteBits();
    for (uint32_t bits = 0; bits <= maxFinite; ++bits) {
      const double lo = f.ref->decode(bits);
      // Past max finite, the "next" value is where the next binade step would be.
      const double hi = bits < maxFinite ? f.ref->decode(bits + 1) : lo + (lo - f.ref->decode(bits - 1));
      const auto mid = static_cast<float>((lo + hi) / 2);  // exact: the formats are far narrower than float
      ASSERT_EQ(static_cast<double>(mid), (lo + hi) / 2);
      for (float v : {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, INFINITY)}) {
        expectEncodes(f, v);
        expectEncodes(f, -v);
      }
      if (::testing::Test::HasFailure()) return;
    }
  }
}

TEST(CpuFloatFormats, RandomFloatsAndSpecialsEncodeAsTheReference) {
  std::mt19937 rng(99);
  for (const NamedFormat& f : kFormats) {
    for (int i = 0; i < 300000; ++i) expectEncodes(f, std::bit_cast<float>(static_cast<uint32_t>(rng())));
    for (float v : {0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN, std::numeric_limits<float>::max(),
                    std::numeric_limits<float>::denorm_min(), std::numeric_limits<float>::min(), 1e-30f}) {
      expectEncodes(f, v);
    }
    if (::testing::Test::HasFailure()) return;
  }
}

TEST(CpuFloatFormats, KnownValues) {
  // float16
  EXPECT_EQ(cpu::floatToFloat16(1.0f), 0x3C00);
  EXPECT_EQ(cpu::floatToFloat16(-2.5f), 0xC100);
  EXPECT_EQ(cpu::floatToFloat16(65504.0f), 0x7BFF);
  EXPECT_EQ(cpu::float16ToFloat(0x7BFF), 65504.0f);
  EXPECT_EQ(cpu::float16ToFloat(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(cpu::floatToFloat16(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(cpu::floatToFloat16(std::ldexp(1.0f, -25)), 0x0000);   // tie with 0: even
  EXPECT_EQ(cpu::floatToFloat16(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(cpu::floatToFloat16(2049.0f), 0x6800);  // 2048: tie goes to even
  EXPECT_EQ(cpu::floatToFloat16(2051.0f), 0x6802);  // 2052: tie goes to even
  EXPECT_EQ(cpu::float16ToFloat(0x6802), 2052.0f);
  EXPECT_EQ(cpu::floatToFloat16(65519.0f), 0x7BFF);  // below the overflow tie
  EXPECT_EQ(cpu::floatToFloat16(65520.0f), 0x7C00);  // overflow: infinity
  EXPECT_EQ(cpu::floatToFloat16(-1e9f), 0xFC00);
  EXPECT_EQ(cpu::floatToFloat16(INFINITY), 0x7C00);
  EXPECT_TRUE(std::isnan(cpu::float16ToFloat(cpu::floatToFloat16(NAN))));

  // bfloat16
  EXPECT_EQ(cpu::floatToBfloat16(1.0f), 0x3F80);
  EXPECT_EQ(cpu::floatToBfloat16(-2.5f), 0xC020);
  EXPECT_EQ(cpu::bfloat16ToFloat(0x7F7F), std::bit_cast<float>(0x7F7F0000u));  // max finite
  EXPECT_EQ(cpu::bfloat16ToFloat(0x0001), std::bit_cast<float>(0x00010000u));  // smallest subnormal
  EXPECT_EQ(cpu::floatToBfloat16(257.0f), 0x4380);  // 256: tie to even
  EXPECT_EQ(cpu::floatToBfloat16(259.0f), 0x4382);  // 260: tie to even
  EXPECT_EQ(cpu::floatToBfloat16(std::numeric_limits<float>::max()), 0x7F80);  // overflow: infinity
  EXPECT_EQ(cpu::floatToBfloat16(-INFINITY), 0xFF80);
  EXPECT_TRUE(std::isnan(cpu::bfloat16ToFloat(cpu::floatToBfloat16(NAN))));

  // float8 e4m3 (fn): no infinity, saturates at 448
  EXPECT_EQ(cpu::floatToFp8e4m3(1.0f), 0x38);
  EXPECT_EQ(cpu::floatToFp8e4m3(-2.5f), 0xC2);
  EXPECT_EQ(cpu::floatToFp8e4m3(448.0f), 0x7E);
  EXPECT_EQ(cpu::fp8e4m3ToFloat(0x7E), 448.0f);
  EXPECT_EQ(cpu::fp8e4m3ToFloat(0x01), std::ldexp(1.0f, -9));
  EXPECT_EQ(cpu::floatToFp8e4m3(std::ldexp(1.0f, -9)), 0x01);
  EXPECT_EQ(cpu::floatToFp8e4m3(464.0f), 0x7E);
  EXPECT_EQ(cpu::floatToFp8e4m3(1000.0f), 0x7E);
  EXPECT_EQ(cpu::floatToFp8e4m3(-1e30f), 0xFE);
  EXPECT_EQ(cpu::floatToFp8e4m3(INFINITY), 0x7E);  // satfinite: infinity too
  EXPECT_EQ(cpu::floatToFp8e4m3(NAN) & 0x7F, 0x7F);
  EXPECT_TRUE(std::isnan(cpu::fp8e4m3ToFloat(0x7F)));
  EXPECT_TRUE(std::isnan(cpu::fp8e4m3ToFloat(0xFF)));

  // float8 e5m2: IEEE-like encodings, saturates at 57344
  EXPECT_EQ(cpu::floatToFp8e5m2(1.0f), 0x3C);
  EXPECT_EQ(cpu::floatToFp8e5m2(-2.5f), 0xC1);
  EXPECT_EQ(cpu::floatToFp8e5m2(57344.0f), 0x7B);
  EXPECT_EQ(cpu::fp8e5m2ToFloat(0x7B), 57344.0f);
  EXPECT_EQ(cpu::fp8e5m2ToFloat(0x01), std::ldexp(1.0f, -16));
  EXPECT_EQ(cpu::floatToFp8e5m2(std::ldexp(1.0f, -16)), 0x01);
  EXPECT_EQ(cpu::floatToFp8e5m2(1e6f), 0x7B);
  EXPECT_EQ(cpu::floatToFp8e5m2(-INFINITY), 0xFB);
  EXPECT_EQ(cpu::fp8e5m2ToFloat(0x7C), INFINITY);
  EXPECT_TRUE(std::isnan(cpu::fp8e5m2ToFloat(cpu::floatToFp8e5m2(NAN))));
}

// ---------------------------------------------------------------------------------------------
// The device as a whole.

TEST(CpuDevice, IdentifiesItself) {
  auto device = createCpuDevice(3, 4);
  EXPECT_STREQ(device->kind(), "cpu");
  EXPECT_EQ(device->ordinal(), 3);
  EXPECT_TRUE(device->hostAccessible());
  int local = 0;
  EXPECT_TRUE(device->owns(&local));
  EXPECT_TRUE(device->owns(nullptr));
}

TEST(CpuDevice, AllocatesAlignedMemoryAndReportsFailure) {
  auto device = createCpuDevice(0, 1);
  for (size_t bytes : {size_t{0}, size_t{1}, size_t{100}, size_t{1} << 20}) {
    void* p = nullptr;
    ASSERT_TRUE(device->allocate(bytes, &p).isOk());
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
    std::memset(p, 0xAB, bytes);
    device->release(p);
  }
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  // (Sanitizer allocators abort on impossible sizes instead of failing.)
  void* p = reinterpret_cast<void*>(1);
  const size_t huge = std::numeric_limits<size_t>::max() / 2;
  Status s = device->allocate(huge, &p);
  EXPECT_EQ(s.code(), mixcclSystemError);
  EXPECT_EQ(p, nullptr);
  EXPECT_NE(s.message().find(std::to_string(huge)), std::string::npos) << s.message();
#endif
}

TEST(CpuDevice, CopiesSmallAndLargeBuffers) {
  for (int threads : {1, 2}) {
    auto device = createCpuDevice(0, threads);
    for (size_t bytes : {size_t{1}, size_t{4097}, (size_t{9} << 20) + 5}) {
      const auto src = randomElements(mixcclUint8, bytes, bytes);
      std::vector<char> dst(bytes);
      ASSERT_TRUE(device->copy(dst.data(), src.data(), bytes).isOk());
      EXPECT_EQ(std::memcmp(dst.data(), src.data(), bytes), 0) << bytes << " bytes, " << threads << " threads";
    }
    std::vector<char> same = randomElements(mixcclUint8, 100, 1);
    const std::vector<char> before = same;
    EXPECT_TRUE(device->copy(same.data(), same.data(), same.size()).isOk());
    EXPECT_EQ(same, before);
    Status overlap = device->copy(same.data() + 1, same.data(), 50);
    EXPECT_EQ(overlap.code(), mixcclInvalidArgument);
    EXPECT_FALSE(overlap.message().empty());
  }
}

TEST(CpuDevice, LargeScaleAndDivideSplitOverThreads) {
  auto device = createCpuDevice(0, 2);
  const size_t count = (6u << 20) / sizeof(float) + 3;
  std::vector<float> src(count), out(count);
  for (size_t i = 0; i < count; ++i) src[i] = static_cast<float>(i % 1000) - 500.0f;
  const float factor = 0.25f;
  ASSERT_TRUE(device->scale(out.data(), src.data(), count, mixcclFloat32, &factor).isOk());
  for (size_t i = 0; i < count; ++i) ASSERT_EQ(out[i], src[i] * 0.25f) << i;
  std::vector<int32_t> ints(count), quotients(count);
  for (size_t i = 0; i < count; ++i) ints[i] = static_cast<int32_t>(i) - 1000;
  ASSERT_TRUE(device->divide(quotients.data(), ints.data(), count, mixcclInt32, 7).isOk());
  for (size_t i = 0; i < count; ++i) ASSERT_EQ(quotients[i], ints[i] / 7) << i;
}

TEST(CpuDevice, FloatMaxAndMinPropagateNan) {
  auto device = createCpuDevice(0, 1);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float a[] = {nan, 1.0f, nan, 2.0f};
  const float b[] = {1.0f, nan, nan, 3.0f};
  float out[4];
  for (ReduceOp op : {ReduceOp::Max, ReduceOp::Min}) {
    ASSERT_TRUE(device->reduce(out, a, b, 4, mixcclFloat32, op).isOk());
    EXPECT_TRUE(std::isnan(out[0]) && std::isnan(out[1]) && std::isnan(out[2])) << reduceOpName(op);
    EXPECT_EQ(out[3], op == ReduceOp::Max ? 3.0f : 2.0f);
  }
  // The same through a narrow format.
  const uint16_t ha[] = {0x7E00, 0x3C00};
  const uint16_t hb[] = {0x3C00, 0x7E00};
  uint16_t hout[2];
  ASSERT_TRUE(device->reduce(hout, ha, hb, 2, mixcclFloat16, ReduceOp::Max).isOk());
  EXPECT_TRUE(std::isnan(cpu::float16ToFloat(hout[0])) && std::isnan(cpu::float16ToFloat(hout[1])));
}

// The float16 sum, product, scale and divide of the AVX2 and AVX-512 compilations convert with F16C
// (float16_vector_kernels.h), which quiets a signalling NaN on the way in; arithmetic quiets it
// anyway, so they must give the baseline's bits, payload and sign included (bfloat16, all generic,
// is held to the same). Max and min pass a NaN operand through untouched: a
// signalling NaN must come out signalling, exactly as it went in. Every NaN of both formats, each
// against an ordinary number on the other side (one NaN per element, so which operand's payload wins
// is never the hardware's choice, and the comparison can be exact).
TEST(CpuDevice, NarrowFloatNanBitsAreTheSameInEveryInstructionSet) {
  struct Format {
    mixcclDataType_t type;
    uint16_t exponent, mantissa, quietBit, one, minusTwo;
  };
  for (const Format& f : {Format{mixcclFloat16, 0x7C00, 0x03FF, 0x0200, 0x3E00, 0xC000},
                          Format{mixcclBfloat16, 0x7F80, 0x007F, 0x0040, 0x3FC0, 0xC000}}) {
    std::vector<uint16_t> nans;
    for (uint32_t bits = 0; bits <= 0xFFFF; ++bits) {
      if ((bits & f.exponent) == f.exponent && (bits & f.mantissa) != 0) nans.push_back(static_cast<uint16_t>(bits));
    }
    ASSERT_EQ(nans.size(), 2u * f.mantissa) << dataTypeName(f.type);
    const std::vector<uint16_t> numbers(nans.size(), f.one);  // 1.5
    const size_t count = nans.size();
    const cpu::DataTypeKernels* baseline = cpu::kernelsFor(f.type, cpu::KernelIsa::Baseline);
    ASSERT_NE(baseline, nullptr);
    for (cpu::KernelIsa isa : {cpu::KernelIsa::Baseline, cpu::KernelIsa::Avx2, cpu::KernelIsa::Avx512}) {
      const cpu::DataTypeKernels* k = cpu::kernelsFor(f.type, isa);
      if (k == nullptr) continue;
      const std::string name = std::string(dataTypeName(f.type)) + " " + cpu::kernelIsaName(isa);
      std::vector<uint16_t> want(count), got(count);
      for (int side = 0; side < 2; ++side) {
        const uint16_t* a = side == 0 ? nans.data() : numbers.data();
        const uint16_t* b = side == 0 ? numbers.data() : nans.data();
        for (ReduceOp op : kAllOps) {
          baseline->reduce[static_cast<int>(op)](want.data(), a, b, count);
          k->reduce[static_cast<int>(op)](got.data(), a, b, count);
          for (size_t i = 0; i < count; ++i) {
            ASSERT_EQ(got[i], want[i]) << name << " " << reduceOpName(op) << " with NaN 0x" << std::hex << nans[i]
                                       << (side == 0 ? " on the left" : " on the right");
            const bool passesThrough = op == ReduceOp::Max || op == ReduceOp::Min;
            ASSERT_EQ(got[i], passesThrough ? nans[i] : static_cast<uint16_t>(nans[i] | f.quietBit))
                << name << " " << reduceOpName(op) << " with NaN 0x" << std::hex << nans[i]
                << (passesThrough ? ": the NaN must pass through" : ": the NaN, quieted");
          }
        }
      }
      baseline->scale(want.data(), nans.data(), count, &f.minusTwo);
      k->scale(got.data(), nans.data(), count, &f.minusTwo);
      for (size_t i = 0; i < count; ++i) ASSERT_EQ(got[i], want[i]) << name << " scale of 0x" << std::hex << nans[i];
      baseline->divide(want.data(), nans.data(), count, 3);
      k->divide(got.data(), nans.data(), count, 3);
      for (size_t i = 0; i < count; ++i) ASSERT_EQ(got[i], want[i]) << name << " divide of 0x" << std::hex << nans[i];
    }
  }
}

TEST(CpuDevice, IntegerSumAndProdWrapAround) {
  auto device = createCpuDevice(0, 1);
  const int8_t a[] = {127, -128, 100};
  const int8_t b[] = {1, -1, 3};
  int8_t out[3];
  ASSERT_TRUE(device->reduce(out, a, b, 3, mixcclInt8, ReduceOp::Sum).isOk());
  EXPECT_EQ(out[0], -128);
  EXPECT_EQ(out[1], 127);
  ASSERT_TRUE(device->reduce(out, a, b, 3, mixcclInt8, ReduceOp::Prod).isOk());
  EXPECT_EQ(out[2], static_cast<int8_t>(44));  // 300 mod 256
  const int64_t big[] = {std::numeric_limits<int64_t>::max()};
  const int64_t two[] = {2};
  int64_t r[1];
  ASSERT_TRUE(device->reduce(r, big, two, 1, mixcclInt64, ReduceOp::Prod).isOk());
  EXPECT_EQ(r[0], -2);
  const int32_t neg[] = {-7};
  int32_t q[1];
  ASSERT_TRUE(device->divide(q, neg, 1, mixcclInt32, 2).isOk());
  EXPECT_EQ(q[0], -3);  // toward zero, not -4
}

TEST(CpuDevice, RejectsInvalidArgumentsWithASentence) {
  auto device = createCpuDevice(0, 1);
  float a[4] = {}, b[4] = {}, out[4] = {};
  for (int bad : {-1, 12, 99}) {
    const auto type = static_cast<mixcclDataType_t>(bad);
    Status r = device->reduce(out, a, b, 4, type, ReduceOp::Sum);
    EXPECT_EQ(r.code(), mixcclInvalidArgument);
    EXPECT_NE(r.message().find("data type " + std::to_string(bad)), std::string::npos) << r.message();
    const float one = 1.0f;
    Status s = device->scale(out, a, 4, type, &one);
    EXPECT_EQ(s.code(), mixcclInvalidArgument);
    EXPECT_FALSE(s.message().empty());
    Status d = device->divide(out, a, 4, type, 2);
    EXPECT_EQ(d.code(), mixcclInvalidArgument);
    EXPECT_FALSE(d.message().empty());
  }
  Status op = device->reduce(out, a, b, 4, mixcclFloat32, static_cast<ReduceOp>(7));
  EXPECT_EQ(op.code(), mixcclInvalidArgument);
  Status zero = device->divide(out, a, 4, mixcclInt32, 0);
  EXPECT_EQ(zero.code(), mixcclInvalidArgument);
  EXPECT_NE(zero.message().find("zero"), std::string::npos) << zero.message();
  Status overlap = device->reduce(a + 1, a, b, 3, mixcclFloat32, ReduceOp::Sum);
  EXPECT_EQ(overlap.code(), mixcclInvalidArgument);
  Status null = device->reduce(nullptr, a, b, 3, mixcclFloat32, ReduceOp::Sum);
  EXPECT_EQ(null.code(), mixcclInvalidArgument);
  Status tooMany = device->reduce(out, a, b, std::numeric_limits<size_t>::max() / 2, mixcclFloat32,
                                  ReduceOp::Sum);
  EXPECT_EQ(tooMany.code(), mixcclInvalidArgument);
  // Nothing to do is fine, whatever the pointers.
  EXPECT_TRUE(device->reduce(nullptr, nullptr, nullptr, 0, mixcclFloat32, ReduceOp::Sum).isOk());
}

TEST(DeviceTypes, NamesAndSizes) {
  const char* names[] = {"int8",    "uint8",   "int32",    "uint32",     "int64",      "uint64",
                         "float16", "float32", "float64",  "bfloat16",   "float8e4m3", "float8e5m2"};
  const size_t sizes[] = {1, 1, 4, 4, 8, 8, 2, 4, 8, 2, 1, 1};
  for (int i = 0; i < 12; ++i) {
    const auto t = static_cast<mixcclDataType_t>(i);
    EXPECT_STREQ(dataTypeName(t), names[i]);
    EXPECT_EQ(dataTypeSize(t), sizes[i]);
    EXPECT_EQ(isFloatingType(t), i >= 6);
  }
  EXPECT_STREQ(dataTypeName(static_cast<mixcclDataType_t>(12)), "unknown");
  EXPECT_EQ(dataTypeSize(static_cast<mixcclDataType_t>(-1)), 0u);
  EXPECT_FALSE(isFloatingType(static_cast<mixcclDataType_t>(40)));
  EXPECT_STREQ(reduceOpName(ReduceOp::Sum), "sum");
  EXPECT_STREQ(reduceOpName(ReduceOp::Prod), "prod");
  EXPECT_STREQ(reduceOpName(ReduceOp::Max), "max");
  EXPECT_STREQ(reduceOpName(ReduceOp::Min), "min");
}

}  // namespace
}  // namespace mixccl
