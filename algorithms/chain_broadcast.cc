// Chain (pipelined) Broadcast: the ranks form a line starting at the root, and the data is cut into
// pieces. In round t a rank at distance p from the root receives piece t-p+1 from its predecessor
// while forwarding piece t-p to its successor, so all links carry data at once and the time is
// about (pieces + n - 2) piece transfers instead of (n - 1) whole-message transfers.
#include "algorithms/builder_util.h"
#include "algorithms/builders.h"
#include "algorithms/rank_order.h"

namespace mixccl {

// The chain visits the ranks in `order`, which starts at the root.
Schedule chainBroadcast(const CollectiveArgs& args, const RankOrder& order, const char* name) {
  Schedule schedule;
  schedule.algorithm = name;
  const size_t n = static_cast<size_t>(args.nranks);
  const size_t rank = static_cast<size_t>(args.rank);
  const size_t root = static_cast<size_t>(args.root);
  if (args.count == 0) return schedule;
  const bool isRoot = rank == root;
  if (isRoot && !args.inPlace)
    addCopy(newRound(schedule), region(Buf::Input, 0, args.count), region(Buf::Output, 0, args.count));
  if (n == 1) return schedule;

  const size_t pos = order.positionOf[rank];
  const int successor = order.rankAfter(pos, 1);
  const int predecessor = order.rankAfter(pos, -1);
  const bool hasSuccessor = pos + 1 < n;
  const std::vector<Extent> pieces =
      cutIntoPieces({0, args.count}, args.chunkCount ? args.chunkCount : kDefaultPipelineChunk);
  const size_t numPieces = pieces.size();
  // The root sends its own input: it does not have to wait for its local copy.
  const Buf sendBuf = isRoot ? Buf::Input : Buf::Output;

  // Rounds are numbered globally; this rank is busy from round pos-1 (first receive) to round
  // pos+numPieces-1 (last send). Index i below is the piece this rank sends in round t.
  const size_t firstRound = isRoot ? 0 : pos - 1;
  const size_t endRound = hasSuccessor ? pos + numPieces : pos + numPieces - 1;
  for (size_t t = firstRound; t < endRound; ++t) {
    Round& round = (t == 0 && !schedule.rounds.empty()) ? schedule.rounds.back() : newRound(schedule);
    if (hasSuccessor && t >= pos && t - pos < numPieces) addSend(round, successor, region(sendBuf, pieces[t - pos]));
    if (!isRoot && t + 1 >= pos && t + 1 - pos < numPieces)
      addRecv(round, predecessor, region(Buf::Output, pieces[t + 1 - pos]));
  }
  dropEmptyRounds(schedule);
  return schedule;
}

Schedule buildChainBroadcast(const CollectiveArgs& args) {
  return chainBroadcast(args, RankOrder::rotated(static_cast<size_t>(args.nranks), static_cast<size_t>(args.root)),
                        "chain");
}

}  // namespace mixccl
