// One-shot AllReduce: every rank sends its whole input to every other rank in a single round and
// adds up what it receives. One round of latency and no dependency chain, at the price of n-1 times
// the data on every link: the choice for small messages on one host (shared memory, many links
// at once). Contributions are received into Scratch and summed locally in rank order, so every rank
// computes the very same floating-point result.
#include "algorithms/builder_util.h"
#include "algorithms/builders.h"

namespace mixccl {

Schedule buildOneShotAllReduce(const CollectiveArgs& args) {
  Schedule schedule;
  schedule.algorithm = "oneshot";
  const size_t n = static_cast<size_t>(args.nranks);
  const size_t rank = static_cast<size_t>(args.rank);
  const size_t count = args.count;
  if (count == 0) return schedule;
  const Region input = region(Buf::Input, 0, count), output = region(Buf::Output, 0, count);
  if (n == 1) {
    if (!args.inPlace) addCopy(newRound(schedule), input, output);
    return schedule;
  }
  // Scratch slot of each rank's contribution. In place our own contribution is copied to its slot
  // too: Output (which is Input) is overwritten by the first sum.
  auto slot = [&](size_t r) { return region(Buf::Scratch, r * count, count); };
  auto contribution = [&](size_t r) { return r == rank && !args.inPlace ? input : slot(r); };
  Round& exchange = newRound(schedule);
  if (args.inPlace) addCopy(exchange, input, slot(rank));
  for (size_t peer = 0; peer < n; ++peer) {
    if (peer == rank) continue;
    addSend(exchange, static_cast<int>(peer), input);
    addRecv(exchange, static_cast<int>(peer), slot(peer));
  }
  Round& sum = newRound(schedule);
  addReduce(sum, contribution(0), contribution(1), output);
  for (size_t r = 2; r < n; ++r) addReduce(sum, output, contribution(r), output);
  schedule.scratchCount = scratchUsed(schedule);
  return schedule;
}

}  // namespace mixccl
