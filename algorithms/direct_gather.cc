// Direct Gather: every rank sends its block straight to the root in a single round; the root posts
// all n-1 receives at once. One round, so best when the root's link is not the bottleneck.
#include "algorithms/builder_util.h"
#include "algorithms/builders.h"

namespace mixccl {

Schedule buildDirectGather(const CollectiveArgs& args) {
  Schedule schedule;
  schedule.algorithm = "direct";
  const int n = args.nranks;
  const size_t count = args.count;
  if (count == 0) return schedule;
  Round& round = newRound(schedule);
  const Region input = region(Buf::Input, 0, count);
  if (args.rank != args.root) {
    addSend(round, args.root, input);
    return schedule;
  }
  // In place the root's input already sits at its block of Output.
  if (!args.inPlace) addCopy(round, input, region(Buf::Output, static_cast<size_t>(args.root) * count, count));
  for (int peer = 0; peer < n; ++peer)
    if (peer != args.root) addRecv(round, peer, region(Buf::Output, static_cast<size_t>(peer) * count, count));
  dropEmptyRounds(schedule);
  return schedule;
}

}  // namespace mixccl
