// Recursive-doubling AllReduce: in round k every core rank swaps its whole partial sum with the
// core rank 2^k away and adds what it gets, so after log2(p) rounds every core rank holds the full
// result. Each rank sends the whole vector log2(p) times: latency-optimal (log rounds) but not
// bandwidth-optimal, hence for small messages. Rank counts that are not a power of two fold the
// extra ranks in first and hand them the result last (algorithms/power_of_two.h): 2 more rounds.
//
// A round sends its accumulator while the partner's data is being reduced into it, so the
// accumulator alternates between Output and Scratch; the first one is picked so that the last lands
// in Output. Only in place without a fold (Input is Output, which must not be written while it is
// sent) can the parity not be met: one final copy then.
#include "algorithms/builder_util.h"
#include "algorithms/builders.h"
#include "algorithms/power_of_two.h"

namespace mixccl {

Schedule buildRecDoublingAllReduce(const CollectiveArgs& args) {
  Schedule schedule;
  schedule.algorithm = "recdoubling";
  const size_t n = static_cast<size_t>(args.nranks);
  const size_t rank = static_cast<size_t>(args.rank);
  const size_t count = args.count;
  if (count == 0) return schedule;
  auto all = [&](Buf buf) { return region(buf, 0, count); };
  if (n == 1) {
    if (!args.inPlace) addCopy(newRound(schedule), all(Buf::Input), all(Buf::Output));
    return schedule;
  }
  const PowerOfTwoCore core(n);
  if (core.sitsOut(rank)) {
    addSend(newRound(schedule), static_cast<int>(rank + 1), all(Buf::Input));
    addRecv(newRound(schedule), static_cast<int>(rank + 1), all(Buf::Output));
    return schedule;
  }
  const size_t steps = core.log2Size();
  const size_t me = core.coreRank(rank);
  const bool folds = core.folds(rank);
  auto other = [](Buf b) { return b == Buf::Output ? Buf::Scratch : Buf::Output; };
  // into[i]: where exchange i accumulates; the last one is Output.
  std::vector<Buf> into(steps);
  for (size_t i = 0; i < steps; ++i) into[i] = (steps - 1 - i) % 2 == 0 ? Buf::Output : Buf::Scratch;
  Buf from = folds ? other(into[0]) : Buf::Input;
  bool finalCopy = false;
  if (!folds && args.inPlace && into[0] == Buf::Output) {
    for (Buf& b : into) b = other(b);
    finalCopy = true;
  }
  if (folds) addRecvReduce(newRound(schedule), static_cast<int>(rank - 1), all(Buf::Input), all(from));
  for (size_t i = 0; i < steps; ++i) {
    Round& round = newRound(schedule);
    const int partner = static_cast<int>(core.originalRank(me ^ (size_t{1} << i)));
    addSend(round, partner, all(from));
    addRecvReduce(round, partner, all(from), all(into[i]));
    from = into[i];
  }
  if (finalCopy || folds) {
    Round& round = newRound(schedule);
    if (finalCopy) addCopy(round, all(Buf::Scratch), all(Buf::Output));
    if (folds) addSend(round, static_cast<int>(rank - 1), all(Buf::Output));
  }
  schedule.scratchCount = scratchUsed(schedule);
  return schedule;
}

}  // namespace mixccl
