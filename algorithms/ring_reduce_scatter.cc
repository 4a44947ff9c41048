// Ring ReduceScatter: the reduce-scatter half of the ring AllReduce. Block b of the result travels
// around the ring starting at rank b+1, each rank adding its own contribution, and arrives complete
// at rank b after n-1 rounds. Partial sums wait in Scratch because Output holds only our own block.
#include "algorithms/builder_util.h"
#include "algorithms/builders.h"

namespace mixccl {

Schedule buildRingReduceScatter(const CollectiveArgs& args) {
  Schedule schedule;
  schedule.algorithm = "ring";
  const size_t n = static_cast<size_t>(args.nranks);
  const size_t rank = static_cast<size_t>(args.rank);
  const size_t count = args.count;
  if (count == 0) return schedule;
  if (n == 1) {
    // In place Output is Input at offset 0: nothing to do.
    if (!args.inPlace) addCopy(newRound(schedule), region(Buf::Input, 0, count), region(Buf::Output, 0, count));
    return schedule;
  }
  const int right = static_cast<int>((rank + 1) % n);
  const int left = static_cast<int>((rank + n - 1) % n);
  // Two scratch slots: in one round we send the partial received in the previous round (slot
  // (s-1)%2) while receiving the next into the other. The last round receives straight into Output.
  const size_t slots = std::min<size_t>(2, n - 2);
  schedule.scratchCount = slots * count;
  auto slot = [&](size_t s) { return Extent{(s % 2) * count, count}; };

  for (size_t s = 0; s + 1 < n; ++s) {
    Round& round = newRound(schedule);
    // Round s: pass on the partial of block rank-1-s, fold in our share of block rank-2-s.
    const size_t sendBlock = (rank + 2 * n - 1 - s) % n;
    const size_t recvBlock = (rank + 2 * n - 2 - s) % n;
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

}  // namespace mixccl
