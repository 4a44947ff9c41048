// Recursive-doubling AllGather: in round k every core rank swaps everything it has gathered so far
// with the core rank 2^k away, so the gathered run doubles each round and log2(p) rounds finish it.
// Few rounds, hence for small blocks. Other rank counts fold the extra ranks in first (the even
// rank of a pair sends its block to the odd one) and send them the whole result last
// (algorithms/power_of_two.h). Because core ranks cover consecutive original ranks, what a group
// of core ranks holds is always one contiguous run of Output: one message per round.
#include "algorithms/builder_util.h"
#include "algorithms/builders.h"
#include "algorithms/power_of_two.h"

namespace mixccl {

Schedule buildRecDoublingAllGather(const CollectiveArgs& args) {
  Schedule schedule;
  schedule.algorithm = "recdoubling";
  const size_t n = static_cast<size_t>(args.nranks);
  const size_t rank = static_cast<size_t>(args.rank);
  const size_t count = args.count;
  if (count == 0) return schedule;
  auto blocks = [&](size_t first, size_t end) { return region(Buf::Output, first * count, (end - first) * count); };
  const Region input = region(Buf::Input, 0, count);
  // In place our block already sits in Output.
  auto copyOwn = [&](Round& round) {
    if (!args.inPlace) addCopy(round, input, blocks(rank, rank + 1));
  };
  if (n == 1) {
    copyOwn(newRound(schedule));
    dropEmptyRounds(schedule);
    return schedule;
  }
  const PowerOfTwoCore core(n);
  if (core.sitsOut(rank)) {
    Round& first = newRound(schedule);
    copyOwn(first);
    addSend(first, static_cast<int>(rank + 1), input);
    Round& last = newRound(schedule);
    addRecv(last, static_cast<int>(rank + 1), blocks(0, rank));
    addRecv(last, static_cast<int>(rank + 1), blocks(rank + 1, n));
    return schedule;
  }
  const size_t me = core.coreRank(rank);
  Round& first = newRound(schedule);
  copyOwn(first);
  if (core.folds(rank)) {
    addRecv(first, static_cast<int>(rank - 1), blocks(rank - 1, rank));
  }
  for (size_t width = 1; width < core.size(); width *= 2) {
    // The first exchange shares the round of the local copy (which runs first), unless it has to
    // send the block being received from the folded partner.
    Round& round = width == 1 && !core.folds(rank) ? schedule.rounds.back() : newRound(schedule);
    const size_t mine = me & ~(width - 1), theirs = mine ^ width;
    const int partner = static_cast<int>(core.originalRank(me ^ width));
    addSend(round, partner, blocks(core.firstCovered(mine), core.endCovered(mine + width - 1)));
    addRecv(round, partner, blocks(core.firstCovered(theirs), core.endCovered(theirs + width - 1)));
  }
  if (core.folds(rank)) {
    Round& last = newRound(schedule);
    addSend(last, static_cast<int>(rank - 1), blocks(0, rank - 1));
    addSend(last, static_cast<int>(rank - 1), blocks(rank, n));
  }
  dropEmptyRounds(schedule);
  return schedule;
}

}  // namespace mixccl
