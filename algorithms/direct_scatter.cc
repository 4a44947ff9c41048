// Direct Scatter: the root sends every rank its block in a single round; each other rank posts one
// receive. The mirror image of the direct gather.
#include "algorithms/builder_util.h"
#include "algorithms/builders.h"

namespace mixccl {

Schedule buildDirectScatter(const CollectiveArgs& args) {
  Schedule schedule;
  schedule.algorithm = "direct";
  const int n = args.nranks;
  const size_t count = args.count;
  if (count == 0) return schedule;
  Round& round = newRound(schedule);
  const Region output = region(Buf::Output, 0, count);
  if (args.rank != args.root) {
    addRecv(round, args.root, output);
    return schedule;
  }
  // In place the root's Output is its block of Input already.
  if (!args.inPlace) addCopy(round, region(Buf::Input, static_cast<size_t>(args.root) * count, count), output);
  for (int peer = 0; peer < n; ++peer)
    if (peer != args.root) addSend(round, peer, region(Buf::Input, static_cast<size_t>(peer) * count, count));
  dropEmptyRounds(schedule);
  return schedule;
}

}  // namespace mixccl
