// Every schedule builder, one per file, listed in algorithms/registry.cc. Exposed so that tests and
// the cost-model simulator can call a builder directly.
#pragma once

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

}  // namespace mixccl
