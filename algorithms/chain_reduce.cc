// Chain (pipelined) Reduce: the mirror image of the chain broadcast. The ranks form a line ending
// at the root; the rank farthest from the root starts sending its input piece by piece, and every
// rank on the way adds its own contribution to each piece as it passes. Non-root ranks keep partial
// sums in Scratch: their Output is not theirs to write (NCCL lets it be NULL off the root).
#include "algorithms/builder_util.h"
#include "algorithms/builders.h"

namespace mixccl {

Schedule buildChainReduce(const CollectiveArgs& args) {
  Schedule schedule;
  schedule.algorithm = "chain";
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

  // The line runs root+n-1, ..., root+1, root: data moves from rank+1 toward rank-1.
  const size_t fromTail = n - 1 - (rank + n - root) % n;  // 0 for the rank that starts
  const int towardRoot = static_cast<int>((rank + n - 1) % n);
  const int fromSide = static_cast<int>((rank + 1) % n);
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

}  // namespace mixccl
