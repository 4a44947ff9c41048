// Every schedule builder, one per file, listed in algorithms/registry.cc. Exposed so that tests and
// the cost-model simulator can call a builder directly.
#pragma once

#include "algorithms/rank_order.h"
#include "algorithms/schedule.h"

namespace mixccl {

Schedule buildRingAllReduce(const CollectiveArgs& args);
Schedule buildRingAllGather(const CollectiveArgs& args);
Schedule buildRingReduceScatter(const CollectiveArgs& args);
Schedule buildChainBroadcast(const CollectiveArgs& args);
Schedule buildChainReduce(const CollectiveArgs& args);
Schedule buildTreeBroadcast(const CollectiveArgs& args);
Schedule buildTreeReduce(const CollectiveArgs& args);
Schedule buildPairwiseAlltoAll(const CollectiveArgs& args);
Schedule buildDirectGather(const CollectiveArgs& args);
Schedule buildDirectScatter(const CollectiveArgs& args);
Schedule buildDoubleTreeAllReduce(const CollectiveArgs& args);
Schedule buildDoubleTreeBroadcast(const CollectiveArgs& args);
Schedule buildDoubleTreeReduce(const CollectiveArgs& args);
Schedule buildRecDoublingAllReduce(const CollectiveArgs& args);
Schedule buildRecDoublingAllGather(const CollectiveArgs& args);
Schedule buildRabenseifnerAllReduce(const CollectiveArgs& args);
Schedule buildHalvingReduceScatter(const CollectiveArgs& args);
Schedule buildOneShotAllReduce(const CollectiveArgs& args);
Schedule buildTwoShotAllReduce(const CollectiveArgs& args);
Schedule buildBruckAlltoAll(const CollectiveArgs& args);
Schedule buildHierAllReduce(const CollectiveArgs& args);
Schedule buildHierAllGather(const CollectiveArgs& args);
Schedule buildHierReduceScatter(const CollectiveArgs& args);
Schedule buildHierBroadcast(const CollectiveArgs& args);
Schedule buildHierReduce(const CollectiveArgs& args);

// Rings and chains over any order of the ranks (rooted ones: the order starts at the root); the
// plain builders above use rank order, the hierarchical ones an island-by-island order.
Schedule ringAllGather(const CollectiveArgs& args, const RankOrder& order, const char* name);
Schedule ringReduceScatter(const CollectiveArgs& args, const RankOrder& order, const char* name);
Schedule chainBroadcast(const CollectiveArgs& args, const RankOrder& order, const char* name);
Schedule chainReduce(const CollectiveArgs& args, const RankOrder& order, const char* name);

}  // namespace mixccl
