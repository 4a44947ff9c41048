// Ring AllReduce: the data is cut into nranks segments. In the reduce-scatter phase (nranks-1
// rounds) each rank adds its contribution to the partial sum arriving from its left neighbour and
// passes it on to the right, so that every rank ends owning one fully reduced segment; in the
// all-gather phase (nranks-1 rounds) the finished segments travel once more around the ring.
// Every rank sends and receives 2*(n-1)/n of the data, the bandwidth-optimal amount.
#include "algorithms/builder_util.h"
#include "algorithms/builders.h"

namespace mixccl {

Schedule buildRingAllReduce(const CollectiveArgs& args) {
  Schedule schedule;
  schedule.algorithm = "ring";
  const size_t n = static_cast<size_t>(args.nranks);
  const size_t rank = static_cast<size_t>(args.rank);
  if (args.count == 0) return schedule;
  if (n == 1) {
    if (!args.inPlace)
      addCopy(newRound(schedule), region(Buf::Input, 0, args.count), region(Buf::Output, 0, args.count));
    return schedule;
  }
  const int right = static_cast<int>((rank + 1) % n);
  const int left = static_cast<int>((rank + n - 1) % n);
  auto segment = [&](size_t step) { return evenSlice(args.count, n, (rank + n * 2 - step) % n); };

  // Reduce-scatter: in round s, send the partial sum of segment rank-s (for s = 0 that is our own
  // input) and fold the left neighbour's partial of segment rank-s-1 into our input's share of it.
  // The partials live in Output; Input's share of a segment is read exactly once, so in place
  // (Input is Output) the RecvReduce reads and writes the same cells and nothing is lost.
  for (size_t s = 0; s + 1 < n; ++s) {
    Round& round = newRound(schedule);
    const Buf sendBuf = s == 0 ? Buf::Input : Buf::Output;
    for (Extent piece : cutIntoPieces(segment(s), args.chunkCount)) addSend(round, right, region(sendBuf, piece));
    for (Extent piece : cutIntoPieces(segment(s + 1), args.chunkCount))
      addRecvReduce(round, left, region(Buf::Input, piece), region(Buf::Output, piece));
  }
  // Now segment rank+1 is complete here. All-gather: in round s, forward segment rank+1-s and
  // receive the finished segment rank-s.
  for (size_t s = 0; s + 1 < n; ++s) {
    Round& round = newRound(schedule);
    for (Extent piece : cutIntoPieces(segment(s + n - 1), args.chunkCount))
      addSend(round, right, region(Buf::Output, piece));
    for (Extent piece : cutIntoPieces(segment(s), args.chunkCount)) addRecv(round, left, region(Buf::Output, piece));
  }
  dropEmptyRounds(schedule);
  return schedule;
}

}  // namespace mixccl
