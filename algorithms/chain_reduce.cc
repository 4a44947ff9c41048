// Chain (pipelined) Reduce: the mirror image of the chain broadcast. The ranks form a line ending
// at the root; the rank farthest from the root starts sending its input piece by piece, and every
// rank on the way adds its own contribution to each piece as it passes. Non-root ranks keep partial
// sums in Scratch: their Output is not theirs to write (NCCL lets it be NULL off the root).
#include "algorithms/builder_util.h"
#include "algorithms/builders.h"
#include "algorithms/rank_order.h"

namespace mixccl {

// The line visits the ranks in `order`, which starts at the root; data flows toward position 0.
Schedule chainReduce(const CollectiveArgs& args, const RankOrder& order, const char* name) {
  Schedule schedule;
  schedule.algorithm = name;
  const size_t n = static_cast<size_t>(args.nranks);
  const size_t rank = static_cast<size_t>(args.rank);
  const size_t root = static_cast<size_t>(args.root);
  if (args.count == 0) return schedule;
  const bool isRoot = rank == root;
  if (n == 1) {
    if (!args.inPlace)
      addCopy(newRound(schedule), region(Buf::Input, 0, args.count), region(Buf::Output, 0, args.count));
    return schedule;
  }

  // The line runs from the last position to the root's: data moves toward lower positions.
  const size_t pos = order.positionOf[rank];
  const size_t fromTail = n - 1 - pos;  // 0 for the rank that starts
  const int towardRoot = order.rankAfter(pos, -1);
  const int fromSide = order.rankAfter(pos, 1);
  const bool isTail = fromTail == 0;
  const size_t chunk = args.chunkCount ? args.chunkCount : kDefaultPipelineChunk;
  const std::vector<Extent> pieces = cutIntoPieces({0, args.count}, chunk);
  const size_t numPieces = pieces.size();

  // Where piece k's partial sum lives on this rank. Middle ranks alternate between two scratch
  // slots: in one round they send piece k while receiving piece k+1.
  const size_t slotSize = numPieces >= 2 ? chunk : args.count;
  if (!isRoot && !isTail) schedule.scratchCount = std::min<size_t>(numPieces, 2) * slotSize;
  auto partial = [&](size_t k) {
    if (isRoot) return region(Buf::Output, pieces[k]);
    return region(Buf::Scratch, (k % 2) * slotSize, pieces[k].count);
  };

  // In global round t this rank forwards piece t-fromTail and folds in piece t-fromTail+1.
  const size_t firstRound = isTail ? 0 : fromTail - 1;
  const size_t endRound = isRoot ? fromTail + numPieces - 1 : fromTail + numPieces;
  for (size_t t = firstRound; t < endRound; ++t) {
    Round& round = newRound(schedule);
    if (!isRoot && t >= fromTail && t - fromTail < numPieces) {
      const size_t k = t - fromTail;
      addSend(round, towardRoot, isTail ? region(Buf::Input, pieces[k]) : partial(k));
    }
    if (!isTail && t + 1 >= fromTail && t + 1 - fromTail < numPieces) {
      const size_t k = t + 1 - fromTail;
      addRecvReduce(round, fromSide, region(Buf::Input, pieces[k]), partial(k));
    }
  }
  dropEmptyRounds(schedule);
  return schedule;
}

Schedule buildChainReduce(const CollectiveArgs& args) {
  return chainReduce(args, RankOrder::rotated(static_cast<size_t>(args.nranks), static_cast<size_t>(args.root)),
                     "chain");
}

}  // namespace mixccl
