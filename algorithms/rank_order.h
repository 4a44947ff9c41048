// The order in which a ring or a line (chain) visits the ranks. Plain builders use rank order; the
// hierarchical ones (hier_rings.cc) visit the ranks island by island, so that a ring or chain crosses
// between islands as few times as possible.
#pragma once

#include <cstddef>
#include <vector>

namespace mixccl {

struct RankOrder {
  std::vector<int> rankAt;        // position -> rank
  std::vector<size_t> positionOf;  // rank -> position

  // Rank order, rotated so that `first` is at position 0.
  static RankOrder rotated(size_t n, size_t first) {
    RankOrder order;
    for (size_t i = 0; i < n; ++i) order.rankAt.push_back(static_cast<int>((first + i) % n));
    order.fill();
    return order;
  }
  size_t size() const { return rankAt.size(); }
  // The rank `step` positions after (or, negative, before) position p, cyclically.
  int rankAfter(size_t p, long step) const {
    const long n = static_cast<long>(rankAt.size());
    return rankAt[static_cast<size_t>(((static_cast<long>(p) + step) % n + n) % n)];
  }
  void fill() {
    positionOf.assign(rankAt.size(), 0);
    for (size_t i = 0; i < rankAt.size(); ++i) positionOf[static_cast<size_t>(rankAt[i])] = i;
  }
};

}  // namespace mixccl
