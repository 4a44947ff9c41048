// The catalogue. The order is the order in which MIXCCL_DEBUG=INFO lists algorithms, and the tuner
// breaks cost ties in favour of the earlier entry, so put the usual winner first.
#include <array>
#include <cctype>

#include "algorithms/algorithm.h"
#include "algorithms/builders.h"

namespace mixccl {

namespace {

constexpr std::array kAlgorithms{
    Algorithm{"ring", Collective::AllReduce, buildRingAllReduce},
    Algorithm{"ring", Collective::AllGather, buildRingAllGather},
    Algorithm{"ring", Collective::ReduceScatter, buildRingReduceScatter},
    Algorithm{"chain", Collective::Broadcast, buildChainBroadcast},
    Algorithm{"tree", Collective::Broadcast, buildTreeBroadcast},
    Algorithm{"chain", Collective::Reduce, buildChainReduce},
    Algorithm{"tree", Collective::Reduce, buildTreeReduce},
    Algorithm{"pairwise", Collective::AlltoAll, buildPairwiseAlltoAll},
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
