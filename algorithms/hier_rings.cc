// Hierarchical all-gather, reduce-scatter, broadcast and reduce: the ring and pipelined-chain
// algorithms laid out island by island (algorithms/islands.h islandOrder), so that the ring or chain
// crosses between islands once per island boundary (a ring over m islands uses m cross-island links,
// a chain m-1) instead of at every step where consecutive ranks sit on different hosts. Rooted
// operations start the chain at the root and finish its island before moving on. Bandwidth-optimal
// like the plain ring and chain; with one island they are the plain ones.
#include "algorithms/builders.h"
#include "algorithms/islands.h"

namespace mixccl {

Schedule buildHierAllGather(const CollectiveArgs& args) {
  return ringAllGather(args, islandOrder(islandLayout(args), 0), "hier");
}

Schedule buildHierReduceScatter(const CollectiveArgs& args) {
  return ringReduceScatter(args, islandOrder(islandLayout(args), 0), "hier");
}

Schedule buildHierBroadcast(const CollectiveArgs& args) {
  return chainBroadcast(args, islandOrder(islandLayout(args), args.root), "hier");
}

Schedule buildHierReduce(const CollectiveArgs& args) {
  return chainReduce(args, islandOrder(islandLayout(args), args.root), "hier");
}

}  // namespace mixccl
