// The power-of-two core used by recursive doubling and halving on any rank count. With p the
// largest power of two <= n and r = n - p, the first 2r ranks pair up: the even rank of each pair
// (2i) hands its data to the odd one (2i+1) and sits out, so p ranks remain, renumbered 0..p-1
// ("core ranks"); at the end the odd rank hands the result back. Core rank j stands for the
// original ranks [firstCovered(j), endCovered(j)): two for a folded pair, one otherwise, so a run of
// consecutive core ranks always covers a run of consecutive original ranks (blocks stay contiguous).
#pragma once

#include <cstddef>

namespace mixccl {

class PowerOfTwoCore {
 public:
  explicit PowerOfTwoCore(size_t n) : n_(n) {
    while (p_ * 2 <= n) p_ *= 2;
    extra_ = n - p_;
  }
  size_t size() const { return p_; }  // p
  size_t log2Size() const {
    size_t k = 0;
    while ((size_t{1} << k) < p_) ++k;
    return k;
  }
  // Even rank of a folded pair: gives its data away and waits for the result.
  bool sitsOut(size_t rank) const { return rank < 2 * extra_ && rank % 2 == 0; }
  // Odd rank of a folded pair: takes its partner's data (partner is rank - 1).
  bool folds(size_t rank) const { return rank < 2 * extra_ && rank % 2 == 1; }
  // Core number of a rank that does not sit out.
  size_t coreRank(size_t rank) const { return rank < 2 * extra_ ? rank / 2 : rank - extra_; }
  // The original rank playing core rank j.
  size_t originalRank(size_t j) const { return j < extra_ ? 2 * j + 1 : j + extra_; }
  size_t firstCovered(size_t j) const { return j < extra_ ? 2 * j : j + extra_; }
  size_t endCovered(size_t j) const { return j < extra_ ? 2 * j + 2 : j + extra_ + 1; }

 private:
  size_t n_;
  size_t p_ = 1;
  size_t extra_ = 0;
};

}  // namespace mixccl
