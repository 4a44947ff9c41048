// Ring ReduceScatter: the reduce-scatter half of the ring AllReduce. Block b of the result travels
// around the ring starting at rank b+1, each rank adding its own contribution, and arrives complete
// at rank b after n-1 rounds. Partial sums wait in Scratch because Output holds only our own block.
#include "algorithms/builder_util.h"
#include "algorithms/builders.h"
#include "algorithms/rank_order.h"

namespace mixccl {

// The ring visits the ranks in `order`.
Schedule ringReduceScatter(const CollectiveArgs& args, const RankOrder& order, const char* name) {
  Schedule schedule;
  schedule.algorithm = name;
  const size_t n = static_cast<size_t>(args.nranks);
  const size_t rank = static_cast<size_t>(args.rank);
  const size_t count = args.count;
  if (count == 0) return schedule;
  if (n == 1) {
    // In place Output is Input at offset 0: nothing to do.
    if (!args.inPlace) addCopy(newRound(schedule), region(Buf::Input, 0, count), region(Buf::Output, 0, count));
    return schedule;
  }
  const size_t pos = order.positionOf[rank];
  const int right = order.rankAfter(pos, 1);
  const int left = order.rankAfter(pos, -1);
  // Two scratch slots: in one round we send the partial received in the previous round (slot
  // (s-1)%2) while receiving the next into the other. The last round receives straight into Output.
  const size_t slots = std::min<size_t>(2, n - 2);
  schedule.scratchCount = slots * count;
  auto slot = [&](size_t s) { return Extent{(s % 2) * count, count}; };

  for (size_t s = 0; s + 1 < n; ++s) {
    Round& round = newRound(schedule);
    // Round s: pass on the partial of block rank-1-s, fold in our share of block rank-2-s.
    const size_t sendBlock = static_cast<size_t>(order.rankAfter(pos, -1 - static_cast<long>(s)));
    const size_t recvBlock = static_cast<size_t>(order.rankAfter(pos, -2 - static_cast<long>(s)));
    const Region sendFrom = s == 0 ? region(Buf::Input, sendBlock * count, count) : region(Buf::Scratch, slot(s - 1));
    const bool last = s + 2 == n;
    const Region recvInto = last ? region(Buf::Output, 0, count) : region(Buf::Scratch, slot(s));
    const std::vector<Extent> pieces = cutIntoPieces({0, count}, args.chunkCount);
    for (Extent piece : pieces)
      addSend(round, right, region(sendFrom.buf, sendFrom.offset + piece.offset, piece.count));
    for (Extent piece : pieces)
      addRecvReduce(round, left, region(Buf::Input, recvBlock * count + piece.offset, piece.count),
                    region(recvInto.buf, recvInto.offset + piece.offset, piece.count));
  }
  return schedule;
}

Schedule buildRingReduceScatter(const CollectiveArgs& args) {
  return ringReduceScatter(args, RankOrder::rotated(static_cast<size_t>(args.nranks), 0), "ring");
}

}  // namespace mixccl
