// Two-shot AllReduce: a reduce-scatter by direct exchange (every rank sends segment s of its input
// straight to rank s and sums the n-1 pieces it gets for its own segment), then an all-gather by
// direct exchange (every rank sends its finished segment to everyone). Two rounds of latency, and
// each rank sends 2(n-1)/n of the data like the ring: for small and medium messages on one host.
#include "algorithms/builder_util.h"
#include "algorithms/builders.h"

namespace mixccl {

Schedule buildTwoShotAllReduce(const CollectiveArgs& args) {
  Schedule schedule;
  schedule.algorithm = "twoshot";
  const size_t n = static_cast<size_t>(args.nranks);
  const size_t rank = static_cast<size_t>(args.rank);
  const size_t count = args.count;
  if (count == 0) return schedule;
  if (n == 1) {
    if (!args.inPlace) addCopy(newRound(schedule), region(Buf::Input, 0, count), region(Buf::Output, 0, count));
    return schedule;
  }
  auto segment = [&](size_t s) { return evenSlice(count, n, s); };
  const Extent mine = segment(rank);
  // Peer r's piece of our segment goes to slot r (slot `rank` stays unused: simpler indexing).
  auto slot = [&](size_t r) { return region(Buf::Scratch, r * mine.count, mine.count); };

  Round& scatter = newRound(schedule);
  for (size_t peer = 0; peer < n; ++peer) {
    if (peer == rank) continue;
    addSend(scatter, static_cast<int>(peer), region(Buf::Input, segment(peer)));
    addRecv(scatter, static_cast<int>(peer), slot(peer));
  }
  // Our own input first: in place Output's segment is our input until the first sum writes it.
  Round& gather = newRound(schedule);
  const Region result = region(Buf::Output, mine);
  bool first = true;
  for (size_t peer = 0; peer < n; ++peer) {
    if (peer == rank) continue;
    addReduce(gather, first ? region(Buf::Input, mine) : result, slot(peer), result);
    first = false;
  }
  for (size_t peer = 0; peer < n; ++peer) {
    if (peer == rank) continue;
    addSend(gather, static_cast<int>(peer), result);
    addRecv(gather, static_cast<int>(peer), region(Buf::Output, segment(peer)));
  }
  schedule.scratchCount = scratchUsed(schedule);
  dropEmptyRounds(schedule);
  return schedule;
}

}  // namespace mixccl
