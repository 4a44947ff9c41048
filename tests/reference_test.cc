// The reference itself. Every collective test trusts fillInput, checkInputs and checkReduction; a
// checker that accepted everything would let every one of them pass. These tests hold the checker to
// data computed here by another route (decoding the filled bytes and reducing them), and make sure a
// single wrong element is caught, for every type and reduction.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "tests/reference.h"

namespace mixccl_test {
namespace {

constexpr uint64_t kSeed = 12345;
constexpr size_t kFirst = 5;    // logical index of the first element: not 0, as in a reduce-scatter block
constexpr size_t kCount = 1031;  // odd, and more than the 7- and 11-periodic patterns of products

std::vector<unsigned char> filled(mixcclDataType_t t, Reduction r, int rank, int nranks) {
  std::vector<unsigned char> buf(kCount * typeSize(t));
  fillInput(t, r, kSeed, rank, nranks, kFirst, kCount, buf.data());
  return buf;
}

// The element-wise sum over ranks of their filled inputs: wrapping for integers, exact for floats
// (the inputs are chosen so that it is).
std::vector<unsigned char> summed(mixcclDataType_t t, int nranks) {
  const size_t size = typeSize(t);
  std::vector<unsigned char> out(kCount * size);
  std::vector<std::vector<unsigned char>> inputs;
  for (int q = 0; q < nranks; ++q) inputs.push_back(filled(t, Reduction::Sum, q, nranks));
  for (size_t i = 0; i < kCount; ++i) {
    if (isFloatType(t)) {
      double acc = 0;
      for (const auto& in : inputs) acc += loadFloat(t, in.data() + i * size);
      storeFloat(t, acc, out.data() + i * size);
    } else {
      uint64_t acc = 0;
      for (const auto& in : inputs) {
        uint64_t x = 0;
        std::memcpy(&x, in.data() + i * size, size);
        acc += x;
      }
      std::memcpy(out.data() + i * size, &acc, size);  // the low bytes: the wrapped sum
    }
  }
  return out;
}

// Flips one bit of element `index`: a check bit for bit must see it.
void flipBit(mixcclDataType_t t, std::vector<unsigned char>* buf, size_t index) {
  buf->data()[index * typeSize(t)] ^= 0x01;
}

// Moves element `index` from v to -v - 3 (rounded to the type): at least 3 away, more than the
// tolerance of an average or a pre-multiplied sum (at most (nranks + 1) ulps of the magnitudes).
void changeValue(mixcclDataType_t t, std::vector<unsigned char>* buf, size_t index) {
  unsigned char* p = buf->data() + index * typeSize(t);
  if (isFloatType(t)) {
    storeFloat(t, -loadFloat(t, p) - 3, p);
  } else {
    p[0] ^= 0x01;
  }
}

// The largest magnitude up to which every integer is exact in a narrow float type (2^(mantissa+1)).
double exactIntegers(mixcclDataType_t t) {
  switch (t) {
    case mixcclFloat16: return 2048;
    case mixcclBfloat16: return 256;
    case mixcclFloat8e4m3: return 16;
    default: return 8;  // fp8e5m2
  }
}

std::string what(mixcclDataType_t t, Reduction r, int nranks) {
  return std::string(typeName(t)) + " " + reductionName(r) + " " + std::to_string(nranks) + " ranks";
}

TEST(Reference, EveryRanksInputsCheckAgainstTheirFillAndOneChangedElementIsCaught) {
  std::vector<Reduction> kinds = allReductions();
  kinds.push_back(Reduction::None);
  for (mixcclDataType_t t : allTypes()) {
    for (Reduction r : kinds) {
      for (int nranks : {1, 3, 8}) {
        for (int rank : {0, nranks - 1}) {
          SCOPED_TRACE(what(t, r, nranks) + ", rank " + std::to_string(rank));
          auto buf = filled(t, r, rank, nranks);
          EXPECT_EQ(checkInputs(t, r, kSeed, rank, nranks, kFirst, kCount, buf.data(), "fill"), 0u);
          flipBit(t, &buf, kCount / 2);
          EXPECT_EQ(checkInputs(t, r, kSeed, rank, nranks, kFirst, kCount, buf.data(), "spoiled"), 1u);
        }
      }
    }
  }
}

TEST(Reference, RanksInputsDifferSoThatAMixUpIsCaught) {
  // A gather that put rank 1's block where rank 0's belongs must fail its check.
  for (mixcclDataType_t t : allTypes()) {
    for (Reduction r : {Reduction::None, Reduction::Sum, Reduction::Prod}) {
      SCOPED_TRACE(what(t, r, 4));
      const auto rank1 = filled(t, r, 1, 4);
      EXPECT_GT(checkInputs(t, r, kSeed, 0, 4, kFirst, kCount, rank1.data(), "rank 1's data as rank 0's"),
                kCount / 4);
    }
  }
}

TEST(Reference, ASumComputedFromTheFilledInputsPassesAndOneWrongElementIsCaught) {
  for (mixcclDataType_t t : allTypes()) {
    for (int nranks : {1, 2, 5, 8}) {
      SCOPED_TRACE(what(t, Reduction::Sum, nranks));
      auto sum = summed(t, nranks);
      EXPECT_EQ(checkReduction(t, Reduction::Sum, kSeed, nranks, kFirst, kCount, sum.data(), "sum"), 0u);
      changeValue(t, &sum, 17);
      EXPECT_EQ(checkReduction(t, Reduction::Sum, kSeed, nranks, kFirst, kCount, sum.data(), "spoiled"), 1u);
    }
  }
}

TEST(Reference, OneRanksInputIsItsOwnSumProductMaxMinAndAverage) {
  for (mixcclDataType_t t : allTypes()) {
    for (Reduction r : {Reduction::Sum, Reduction::Prod, Reduction::Max, Reduction::Min, Reduction::Avg}) {
      SCOPED_TRACE(what(t, r, 1));
      auto in = filled(t, r, 0, 1);
      EXPECT_EQ(checkReduction(t, r, kSeed, 1, kFirst, kCount, in.data(), "one rank"), 0u);
      changeValue(t, &in, kCount - 1);
      EXPECT_EQ(checkReduction(t, r, kSeed, 1, kFirst, kCount, in.data(), "spoiled"), 1u);
    }
  }
}

TEST(Reference, FloatInputsAreExactMultiplesOfTheirStepWithinTheirRange) {
  // Sums of up to 8 of them are exact only if they are: quarters within 1000 for float32 and
  // float64, whole numbers within (exact integers) / nranks for the narrow types, and +-1/2, 1 or 2
  // in products.
  for (mixcclDataType_t t : allTypes()) {
    if (!isFloatType(t)) continue;
    const size_t size = typeSize(t);
    const bool wide = t == mixcclFloat32 || t == mixcclFloat64;
    const double step = wide ? 0.25 : 1.0;
    for (int nranks : {1, 8}) {
      SCOPED_TRACE(what(t, Reduction::Sum, nranks));
      const double limit = wide ? 1000.0 : std::max(1.0, std::floor(exactIntegers(t) / nranks));
      const auto sum = filled(t, Reduction::Sum, 0, nranks);
      const auto prod = filled(t, Reduction::Prod, 0, nranks);
      double lowest = 0, highest = 0;
      for (size_t i = 0; i < kCount; ++i) {
        const double v = loadFloat(t, sum.data() + i * size);
        EXPECT_EQ(v / step, std::floor(v / step)) << "element " << i << " is " << v;
        EXPECT_LE(std::fabs(v), limit) << "element " << i;
        lowest = std::min(lowest, v);
        highest = std::max(highest, v);
        const double p = std::fabs(loadFloat(t, prod.data() + i * size));
        EXPECT_TRUE(p == 0.5 || p == 1.0 || p == 2.0) << "product input " << i << " is " << p;
      }
      // Spread over the range, not stuck at a few values.
      EXPECT_LE(lowest, -limit / 2);
      EXPECT_GE(highest, limit / 2);
    }
  }
}

}  // namespace
}  // namespace mixccl_test
