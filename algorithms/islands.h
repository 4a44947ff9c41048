// Islands: groups of ranks that talk to each other much faster than to the rest (a host, or the
// ranks of one device kind on a host). CollectiveArgs::island gives each rank's island index and
// CollectiveArgs::islandWeight an optional relative speed per island index; the tuner fills both
// from the topology. The hierarchical builders read them through islandLayout().
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "algorithms/rank_order.h"
#include "algorithms/schedule.h"

namespace mixccl {

struct IslandLayout {
  std::vector<size_t> islandOf;              // per rank: island number 0..m-1 (by ascending index)
  std::vector<std::vector<int>> members;     // per island number: its ranks, ascending
  std::vector<uint64_t> weight;              // per island number: integer weight (> 0)
  size_t count() const { return members.size(); }
};

// "" if args.island / args.islandWeight are usable, else a sentence saying what is wrong. A
// missing island vector is fine (one island). Weights must be finite and > 0 for every island index
// used; a missing weight vector means equal weights.
std::string checkIslands(const CollectiveArgs& args);

// The layout the builders use. Invalid input (see checkIslands, which callers run first) is read as
// one island with equal weights, so that a builder never fails; the schedules stay correct.
IslandLayout islandLayout(const CollectiveArgs& args);

// The ranks island by island (islands by number, ranks ascending within each), starting with
// `first` and the rest of its island: a ring or chain in this order crosses between islands only
// once per island boundary.
RankOrder islandOrder(const IslandLayout& layout, int first);

// Cuts [offset, offset + length) into one consecutive part per island number, sizes in proportion
// to the weights (integer arithmetic, so every rank computes the same cut): island i's part is
// [(*starts)[i], (*starts)[i + 1]).
void weightedParts(const IslandLayout& layout, size_t offset, size_t length, std::vector<size_t>* starts);

}  // namespace mixccl
