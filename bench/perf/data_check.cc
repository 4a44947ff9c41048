#include "bench/perf/data_check.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace mixcclperf {

namespace {

uint64_t splitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

bool isReducing(Collective c) { return collectiveInfo(c).hasRedOp; }

}  // namespace

InputPattern::InputPattern(Collective c, RedOp op, mixcclDataType_t type, int nranks, uint64_t seed)
    : nranks_(nranks), seed_(seed) {
  const DataTypeInfo& t = dataTypeInfo(type);
  // Keep one value below the integer limit free for the sentinel of unsigned types.
  const double limit = std::min(t.exactIntegerLimit - (t.isSigned ? 0 : 1), 1e15);
  const double n = nranks;
  auto setRange = [&](double magnitude) {
    magnitude = std::floor(magnitude);
    lo_ = t.isSigned ? -magnitude : 0;
    hi_ = magnitude;
  };
  if (!isReducing(c) || op == RedOp::Max || op == RedOp::Min) {
    setRange(limit);  // nothing is combined: use the whole exact range
    return;
  }
  if (op == RedOp::Prod) {
    if (t.isSigned) {
      kind_ = Kind::PlusMinusOne;
    } else {
      kind_ = Kind::OneOrTwo;  // a product of at most log2(limit) twos
      twos_ = std::min<size_t>(static_cast<size_t>(nranks), static_cast<size_t>(std::log2(limit)));
    }
    return;
  }
  // Sum, avg, premulsum: all partial sums (times the premulsum scalar) stay within the limit.
  const double sumLimit = op == RedOp::PreMulSum ? limit / kPreMulSumScalar : limit;
  if (sumLimit / n >= 1) {
    setRange(sumLimit / n);
  } else {
    // More ranks than the type can count (fp8 with many ranks): only every stride-th rank adds a ±1.
    setRange(1);
    stride_ = static_cast<size_t>(std::ceil(n / std::floor(sumLimit)));
  }
}

double InputPattern::value(int rank, size_t index) const {
  const uint64_t h = splitMix64(seed_ ^ (static_cast<uint64_t>(rank) << 48) ^ index);
  switch (kind_) {
    case Kind::PlusMinusOne: return (h & 1) ? 1.0 : -1.0;
    case Kind::OneOrTwo: return (static_cast<size_t>(rank) + index) % static_cast<size_t>(nranks_) < twos_ ? 2.0 : 1.0;
    case Kind::Range: break;
  }
  if ((static_cast<size_t>(rank) + index) % stride_ != 0) return 0;
  const uint64_t span = static_cast<uint64_t>(hi_ - lo_) + 1;
  return lo_ + static_cast<double>(h % span);
}

void fillInput(void* buffer, size_t count, mixcclDataType_t type, const InputPattern& p, int rank) {
  for (size_t i = 0; i < count; ++i) storeElement(buffer, i, type, p.value(rank, i));
}

void fillSentinel(void* buffer, size_t count, mixcclDataType_t type) {
  const DataTypeInfo& t = dataTypeInfo(type);
  double sentinel;
  if (t.isFloat) sentinel = std::numeric_limits<double>::quiet_NaN();
  else if (t.isSigned) sentinel = -std::ldexp(1.0, static_cast<int>(t.bytes * 8 - 1));
  else sentinel = t.bytes == 8 ? 0 : std::ldexp(1.0, static_cast<int>(t.bytes * 8)) - 1;
  if (!t.isFloat && t.bytes == 8) {
    // 64-bit extremes do not round-trip through double; write the bit pattern directly.
    const unsigned char byte = t.isSigned ? 0 : 0xff;
    for (size_t i = 0; i < count; ++i) {
      auto* e = static_cast<unsigned char*>(buffer) + i * 8;
      std::fill(e, e + 8, byte);
      if (t.isSigned) e[7] = 0x80;  // little endian: INT64_MIN
    }
    return;
  }
  for (size_t i = 0; i < count; ++i) storeElement(buffer, i, type, sentinel);
}

namespace {

struct Expected {
  double value;
  double tolerance;
};

// The reduction over all ranks of their input element `index`.
Expected reduceOverRanks(const CheckSetup& s, const InputPattern& p, size_t index) {
  const DataTypeInfo& t = dataTypeInfo(s.type);
  double acc = p.value(0, index);
  double absSum = std::fabs(acc);
  for (int r = 1; r < s.nranks; ++r) {
    const double v = p.value(r, index);
    absSum += std::fabs(v);
    switch (s.op) {
      case RedOp::Prod: acc *= v; break;
      case RedOp::Max: acc = std::max(acc, v); break;
      case RedOp::Min: acc = std::min(acc, v); break;
      default: acc += v; break;  // sum, avg, premulsum
    }
  }
  if (s.op == RedOp::PreMulSum) return {acc * kPreMulSumScalar, 0};
  if (s.op != RedOp::Avg) return {acc, 0};
  if (!t.isFloat) return {std::trunc(acc / s.nranks), 0};  // integer avg: sum, then truncating divide
  // Each of the nranks scaled inputs and each addition may round by half an ulp of the running sum.
  const double n = s.nranks;
  return {acc / n, t.epsilon * (n + 2) * (absSum / n) + (n + 2) * t.minPositive};
}

Expected expectedAt(const CheckSetup& s, const InputPattern& p, size_t j) {
  const size_t c = s.shape.count;
  const size_t me = static_cast<size_t>(s.rank);
  switch (s.collective) {
    case Collective::AllReduce:
    case Collective::Reduce: return reduceOverRanks(s, p, j);
    case Collective::ReduceScatter: return reduceOverRanks(s, p, me * c + j);
    case Collective::Broadcast: return {p.value(s.root, j), 0};
    case Collective::AllGather:
    case Collective::Gather: return {p.value(static_cast<int>(j / c), j % c), 0};
    case Collective::AlltoAll: return {p.value(static_cast<int>(j / c), me * c + j % c), 0};
    case Collective::Scatter: return {p.value(s.root, me * c + j), 0};
    case Collective::SendRecv: return {p.value((s.rank + s.nranks - 1) % s.nranks, j), 0};
  }
  return {0, 0};
}

}  // namespace

uint64_t countWrongElements(const void* recvbuff, const CheckSetup& s, const InputPattern& p) {
  // Reduce and gather deliver to the root only; the other ranks' receive buffers are not outputs.
  if ((s.collective == Collective::Reduce || s.collective == Collective::Gather) && s.rank != s.root) return 0;
  uint64_t wrong = 0;
  for (size_t j = 0; j < s.shape.recvCount; ++j) {
    const Expected e = expectedAt(s, p, j);
    const double got = loadElement(recvbuff, j, s.type);
    const bool ok = e.tolerance == 0 ? got == e.value : std::fabs(got - e.value) <= e.tolerance;
    if (!ok) ++wrong;  // NaN (the sentinel) fails both comparisons
  }
  return wrong;
}

}  // namespace mixcclperf
