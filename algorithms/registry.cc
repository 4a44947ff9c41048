// The catalogue. The order is the order in which MIXCCL_DEBUG=INFO lists algorithms, and the tuner
// breaks cost ties in favour of the earlier entry, so put the usual winner first.
#include <array>
#include <cctype>

#include "algorithms/algorithm.h"
#include "algorithms/builders.h"

namespace mixccl {

namespace {

constexpr std::array kAlgorithms{
    // All-reduce: ring (bandwidth), rabenseifner (bandwidth in log rounds), tree (double binary
    // tree, pipelined), hier (islands), twoshot / oneshot / recdoubling (small messages).
    Algorithm{"ring", Collective::AllReduce, buildRingAllReduce},
    Algorithm{"rabenseifner", Collective::AllReduce, buildRabenseifnerAllReduce},
    Algorithm{"tree", Collective::AllReduce, buildDoubleTreeAllReduce},
    Algorithm{"hier", Collective::AllReduce, buildHierAllReduce},
    Algorithm{"twoshot", Collective::AllReduce, buildTwoShotAllReduce},
    Algorithm{"oneshot", Collective::AllReduce, buildOneShotAllReduce},
    Algorithm{"recdoubling", Collective::AllReduce, buildRecDoublingAllReduce},
    Algorithm{"ring", Collective::AllGather, buildRingAllGather},
    Algorithm{"recdoubling", Collective::AllGather, buildRecDoublingAllGather},
    Algorithm{"hier", Collective::AllGather, buildHierAllGather},
    Algorithm{"ring", Collective::ReduceScatter, buildRingReduceScatter},
    Algorithm{"rabenseifner", Collective::ReduceScatter, buildHalvingReduceScatter},
    Algorithm{"hier", Collective::ReduceScatter, buildHierReduceScatter},
    // Rooted: chain (pipelined line), binomial (latency), tree (double binary tree, two halves).
    Algorithm{"chain", Collective::Broadcast, buildChainBroadcast},
    Algorithm{"binomial", Collective::Broadcast, buildTreeBroadcast},
    Algorithm{"tree", Collective::Broadcast, buildDoubleTreeBroadcast},
    Algorithm{"hier", Collective::Broadcast, buildHierBroadcast},
    Algorithm{"chain", Collective::Reduce, buildChainReduce},
    Algorithm{"binomial", Collective::Reduce, buildTreeReduce},
    Algorithm{"tree", Collective::Reduce, buildDoubleTreeReduce},
    Algorithm{"hier", Collective::Reduce, buildHierReduce},
    Algorithm{"pairwise", Collective::AlltoAll, buildPairwiseAlltoAll},
    Algorithm{"bruck", Collective::AlltoAll, buildBruckAlltoAll},
    Algorithm{"direct", Collective::Gather, buildDirectGather},
    Algorithm{"direct", Collective::Scatter, buildDirectScatter},
};

}  // namespace

std::span<const Algorithm> allAlgorithms() { return kAlgorithms; }

namespace {

// MIXCCL_ALGO=Ring and NCCL_ALGO=ring mean the same thing.
bool sameName(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

}  // namespace

const Algorithm* findAlgorithm(Collective c, std::string_view name) {
  for (const Algorithm& algorithm : kAlgorithms)
    if (algorithm.collective == c && sameName(name, algorithm.name)) return &algorithm;
  return nullptr;
}

}  // namespace mixccl
