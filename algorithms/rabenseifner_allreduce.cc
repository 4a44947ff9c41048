// Rabenseifner AllReduce (recursive halving, then recursive doubling). The data is cut into p
// segments. Reduce-scatter by halving: in round k each core rank keeps half of its current range
// of segments, sends the other half to the core rank p/2^(k+1) away and adds the half it receives,
// so after log2(p) rounds core rank j owns segment j fully reduced. All-gather by doubling then
// swaps owned ranges with partners 1, 2, 4, ... away. Each rank sends about 2(p-1)/p of the data in
// 2 log2(p) rounds: bandwidth-optimal like the ring with far fewer rounds. Non-power-of-two rank
// counts fold the extra ranks in first and hand them the result last (algorithms/power_of_two.h).
//
// The kept half and the sent half are disjoint, so a rank can reduce into its accumulator (Output)
// in place while it sends; no scratch is needed.
#include "algorithms/builder_util.h"
#include "algorithms/builders.h"
#include "algorithms/power_of_two.h"

namespace mixccl {

Schedule buildRabenseifnerAllReduce(const CollectiveArgs& args) {
  Schedule schedule;
  schedule.algorithm = "rabenseifner";
  const size_t n = static_cast<size_t>(args.nranks);
  const size_t rank = static_cast<size_t>(args.rank);
  const size_t count = args.count;
  if (count == 0) return schedule;
  const Region all = region(Buf::Output, 0, count);
  if (n == 1) {
    if (!args.inPlace) addCopy(newRound(schedule), region(Buf::Input, 0, count), all);
    return schedule;
  }
  const PowerOfTwoCore core(n);
  if (core.sitsOut(rank)) {
    addSend(newRound(schedule), static_cast<int>(rank + 1), region(Buf::Input, 0, count));
    addRecv(newRound(schedule), static_cast<int>(rank + 1), all);
    return schedule;
  }
  const size_t p = core.size();
  const size_t me = core.coreRank(rank);
  auto segments = [&](Buf buf, size_t first, size_t end) { return region(buf, segmentRange(count, p, first, end)); };
  Buf current = Buf::Input;  // where this rank's partial sums are read from
  if (core.folds(rank)) {
    addRecvReduce(newRound(schedule), static_cast<int>(rank - 1), region(Buf::Input, 0, count), all);
    current = Buf::Output;
  }
  size_t first = 0, end = p;  // the range of segments this rank is still reducing
  for (size_t half = p / 2; half >= 1; half /= 2) {
    Round& round = newRound(schedule);
    const int partner = static_cast<int>(core.originalRank(me ^ half));
    const size_t middle = first + half;
    const bool keepLow = (me & half) == 0;
    const size_t keepFirst = keepLow ? first : middle, keepEnd = keepLow ? middle : end;
    const size_t sendFirst = keepLow ? middle : first, sendEnd = keepLow ? end : middle;
    addSend(round, partner, segments(current, sendFirst, sendEnd));
    addRecvReduce(round, partner, segments(current, keepFirst, keepEnd), segments(Buf::Output, keepFirst, keepEnd));
    current = Buf::Output;
    first = keepFirst;
    end = keepEnd;
  }
  for (size_t width = 1; width < p; width *= 2) {
    Round& round = newRound(schedule);
    const size_t mine = me & ~(width - 1), theirs = mine ^ width;
    const int partner = static_cast<int>(core.originalRank(me ^ width));
    addSend(round, partner, segments(Buf::Output, mine, mine + width));
    addRecv(round, partner, segments(Buf::Output, theirs, theirs + width));
  }
  if (core.folds(rank)) addSend(newRound(schedule), static_cast<int>(rank - 1), all);
  dropEmptyRounds(schedule);
  return schedule;
}

}  // namespace mixccl
