// What each collective must leave in each rank's Output, as symbolic cells, and the comparison.
#include "algorithms/schedule_text.h"
#include "algorithms/symbolic_memory.h"

namespace mixccl::sim {

namespace {

Cell data(int origin, size_t index) { return {uint64_t{1} << origin, 0, static_cast<uint32_t>(index)}; }

uint64_t allRanks(int n) { return n >= 64 ? ~uint64_t{0} : (uint64_t{1} << n) - 1; }

std::string explainMismatch(const Cell& got, const Cell& want, bool reduction) {
  std::string text = "holds " + cellText(got, reduction) + " but should hold " + cellText(want, reduction);
  if (reduction && got.written() && got.index == want.index && (got.ranks & ~want.ranks) == 0)
    text += ": the contribution of ranks " + rankSetText(want.ranks & ~got.ranks) + " is missing";
  return text;
}

}  // namespace

std::string checkCollectiveResult(const CollectiveArgs& args, const RankMemory& memory) {
  const int n = args.nranks, r = args.rank, root = args.root;
  const size_t c = args.count;
  const uint64_t all = allRanks(n);
  const bool reduction = isReduction(args.collective);
  // Expected value of Output element i on this rank; Output not significant here: nothing to check.
  auto expected = [&](size_t i) -> Cell {
    switch (args.collective) {
      case Collective::AllReduce:
      case Collective::Reduce: return {all, 0, static_cast<uint32_t>(i)};
      case Collective::Broadcast: return data(root, i);
      case Collective::AllGather:
      case Collective::Gather: return data(static_cast<int>(i / c), i % c);
      case Collective::ReduceScatter: return {all, 0, static_cast<uint32_t>(static_cast<size_t>(r) * c + i)};
      case Collective::AlltoAll: return data(static_cast<int>(i / c), static_cast<size_t>(r) * c + i % c);
      case Collective::Scatter: return data(root, static_cast<size_t>(r) * c + i);
      case Collective::SendRecv: break;
    }
    return {};
  };
  const size_t size = memory.view(Buf::Output).size;
  size_t wrong = 0, firstWrong = 0;
  for (size_t i = 0; i < size; ++i) {
    if (memory.at(Buf::Output, i) == expected(i)) continue;
    if (wrong++ == 0) firstWrong = i;
  }
  if (wrong == 0) return "";
  return "rank " + std::to_string(r) + "'s result is wrong in " + std::to_string(wrong) + " of " +
         elementsText(size) + "; the first, Output element " + std::to_string(firstWrong) + ", " +
         explainMismatch(memory.at(Buf::Output, firstWrong), expected(firstWrong), reduction);
}

std::string checkP2PResult(int rank, const std::vector<std::vector<P2POp>>& allOps, const RankMemory& memory) {
  const std::vector<P2POp>& ops = allOps[static_cast<size_t>(rank)];
  // Zero-count ops are dropped by the engine and the simulator, so they take no part in matching.
  std::vector<size_t> receivedFrom(allOps.size(), 0);
  for (size_t j = 0; j < ops.size(); ++j) {
    if (ops[j].isSend || ops[j].count == 0) continue;
    const int from = ops[j].peer;
    const size_t ordinal = receivedFrom[static_cast<size_t>(from)]++;
    // The ordinal-th nonempty send from `from` to us.
    const std::vector<P2POp>& peerOps = allOps[static_cast<size_t>(from)];
    size_t seen = 0, sendIndex = peerOps.size();
    for (size_t i = 0; i < peerOps.size() && sendIndex == peerOps.size(); ++i)
      if (peerOps[i].isSend && peerOps[i].peer == rank && peerOps[i].count > 0 && seen++ == ordinal) sendIndex = i;
    const std::string what = "rank " + std::to_string(rank) + "'s op " + std::to_string(j) + " (receive " +
                             elementsText(ops[j].count) + " from rank " + std::to_string(from) + ")";
    if (sendIndex == peerOps.size()) return what + " has no matching send on rank " + std::to_string(from);
    for (size_t e = 0; e < ops[j].count; ++e) {
      const Cell want{uint64_t{1} << from, static_cast<uint32_t>(sendIndex + 1), static_cast<uint32_t>(e)};
      const Cell& got = memory.at(userBuf(j), e);
      if (got != want)
        return what + ": element " + std::to_string(e) + " holds " + cellText(got, false) + " but should hold " +
               cellText(want, false);
    }
  }
  return "";
}

}  // namespace mixccl::sim
