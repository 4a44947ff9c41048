// Recursive-halving ReduceScatter (the first half of Rabenseifner's all-reduce, registered under
// that name): in round k each core rank keeps half of the blocks it is still reducing, sends the
// other half to the core rank p/2^(k+1) away and adds the half it receives. log2(p) rounds instead
// of the ring's n-1, each rank sending (p-1)/p of the data: the choice for small and medium sizes.
// Other rank counts fold the extra ranks in first (algorithms/power_of_two.h); a core rank then
// reduces the blocks of both ranks of its pair and sends the partner its block at the end.
//
// Partial sums live in Scratch (Output holds only our own block). In the last round the message
// is cut at block boundaries so that our own block is reduced straight into Output.
#include "algorithms/builder_util.h"
#include "algorithms/builders.h"
#include "algorithms/power_of_two.h"

namespace mixccl {

Schedule buildHalvingReduceScatter(const CollectiveArgs& args) {
  Schedule schedule;
  schedule.algorithm = "rabenseifner";
  const size_t n = static_cast<size_t>(args.nranks);
  const size_t rank = static_cast<size_t>(args.rank);
  const size_t count = args.count;
  if (count == 0) return schedule;
  const Region output = region(Buf::Output, 0, count);
  auto blocks = [&](Buf buf, size_t first, size_t end) { return region(buf, first * count, (end - first) * count); };
  if (n == 1) {
    // In place Output is Input at offset 0: nothing to do.
    if (!args.inPlace) addCopy(newRound(schedule), region(Buf::Input, 0, count), output);
    return schedule;
  }
  const PowerOfTwoCore core(n);
  if (core.sitsOut(rank)) {
    addSend(newRound(schedule), static_cast<int>(rank + 1), blocks(Buf::Input, 0, n));
    addRecv(newRound(schedule), static_cast<int>(rank + 1), output);
    return schedule;
  }
  const size_t p = core.size();
  const size_t me = core.coreRank(rank);
  Buf current = Buf::Input;
  if (core.folds(rank)) {
    addRecvReduce(newRound(schedule), static_cast<int>(rank - 1), blocks(Buf::Input, 0, n), blocks(Buf::Scratch, 0, n));
    current = Buf::Scratch;
  }
  size_t first = 0, end = p;  // core ranks whose blocks this rank is still reducing
  for (size_t half = p / 2; half >= 1; half /= 2) {
    Round& round = newRound(schedule);
    const size_t partnerCore = me ^ half;
    const int partner = static_cast<int>(core.originalRank(partnerCore));
    const size_t middle = first + half;
    const bool keepLow = (me & half) == 0;
    const size_t keepFirst = keepLow ? first : middle, keepEnd = keepLow ? middle : end;
    const size_t sendFirst = keepLow ? middle : first, sendEnd = keepLow ? end : middle;
    const size_t keepBlock0 = core.firstCovered(keepFirst), keepBlockEnd = core.endCovered(keepEnd - 1);
    const size_t sendBlock0 = core.firstCovered(sendFirst), sendBlockEnd = core.endCovered(sendEnd - 1);
    if (half > 1) {
      addSend(round, partner, blocks(current, sendBlock0, sendBlockEnd));
      addRecvReduce(round, partner, blocks(current, keepBlock0, keepBlockEnd),
                    blocks(Buf::Scratch, keepBlock0, keepBlockEnd));
    } else {
      // Last round: one message per block of the receiver, so each can land where it belongs.
      for (size_t b = sendBlock0; b < sendBlockEnd; ++b) addSend(round, partner, blocks(current, b, b + 1));
      for (size_t b = keepBlock0; b < keepBlockEnd; ++b)
        addRecvReduce(round, partner, blocks(current, b, b + 1), b == rank ? output : blocks(Buf::Scratch, b, b + 1));
    }
    current = Buf::Scratch;
    first = keepFirst;
    end = keepEnd;
  }
  if (core.folds(rank)) addSend(newRound(schedule), static_cast<int>(rank - 1), blocks(Buf::Scratch, rank - 1, rank));
  schedule.scratchCount = scratchUsed(schedule);
  dropEmptyRounds(schedule);
  return schedule;
}

}  // namespace mixccl
