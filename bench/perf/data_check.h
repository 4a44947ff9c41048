// Filling inputs and checking outputs. Every rank fills its input from (rank, index) alone, so every
// rank can compute what every other rank sent, and the expected output, on the host without talking.
//
// Values are small integers chosen so that every partial result of any reduction order is exactly
// representable in the data type: then sum, prod, max, min and premulsum (scalar 2) must match
// exactly, whatever algorithm the library picked. Only avg on floating types is compared with a
// tolerance (NCCL divides each input by nranks before summing, so rounding depends on the order).
#pragma once

#include <cstddef>
#include <cstdint>

#include "bench/perf/collectives.h"
#include "bench/perf/dtypes.h"
#include "bench/perf/options.h"

namespace mixcclperf {

// The scalar of every premulsum the benchmark creates: exact in every type, so results stay exact.
constexpr double kPreMulSumScalar = 2;

// How inputs are drawn for one (collective, reduction, type, nranks).
class InputPattern {
 public:
  InputPattern(Collective c, RedOp op, mixcclDataType_t type, int nranks, uint64_t seed);
  // Element `index` of rank `rank`'s send buffer.
  double value(int rank, size_t index) const;

 private:
  enum class Kind { Range, PlusMinusOne, OneOrTwo };
  Kind kind_ = Kind::Range;
  double lo_ = 0, hi_ = 0;
  size_t stride_ = 1;     // Range: only indices with (rank + index) % stride == 0 are non-zero
  size_t twos_ = 0;       // OneOrTwo: how many ranks contribute a 2 to each element
  int nranks_;
  uint64_t seed_;
};

// Writes rank `rank`'s input: count elements starting at send-buffer index 0.
void fillInput(void* buffer, size_t count, mixcclDataType_t type, const InputPattern& p, int rank);
// Marks every element as "not written yet" with a value no correct output can hold (NaN for floating
// types, the type's minimum for signed and maximum for unsigned integers).
void fillSentinel(void* buffer, size_t count, mixcclDataType_t type);

struct CheckSetup {
  Collective collective;
  RedOp op;
  mixcclDataType_t type;
  int nranks;
  int rank;
  int root;
  Shape shape;
};

// Compares every output element this rank owns with the host reference; returns how many differ.
uint64_t countWrongElements(const void* recvbuff, const CheckSetup& s, const InputPattern& p);

}  // namespace mixcclperf
