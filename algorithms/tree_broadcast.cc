// Binomial-tree Broadcast: in round k every rank that already has the data (relative ranks below
// 2^k) sends it to the rank 2^k further on, so the number of holders doubles each round and the
// whole message reaches everyone in ceil(log2 n) rounds. Latency-optimal, hence the choice for
// small messages; large ones are better served by the pipelined chain.
#include "algorithms/builder_util.h"
#include "algorithms/builders.h"

namespace mixccl {

Schedule buildTreeBroadcast(const CollectiveArgs& args) {
  Schedule schedule;
  schedule.algorithm = "binomial";
  const size_t n = static_cast<size_t>(args.nranks);
  const size_t rank = static_cast<size_t>(args.rank);
  const size_t root = static_cast<size_t>(args.root);
  const size_t count = args.count;
  if (count == 0) return schedule;
  const size_t relative = (rank + n - root) % n;
  auto actual = [&](size_t rel) { return static_cast<int>((rel + root) % n); };
  const Region all = region(Buf::Output, 0, count);

  // The round in which we receive is the one where 2^k passes our relative rank: k = floor(log2).
  size_t distance = 1;  // 2^k for the first round in which we send
  if (relative == 0) {
    if (!args.inPlace) addCopy(newRound(schedule), region(Buf::Input, 0, count), all);
  } else {
    while (distance * 2 <= relative) distance *= 2;
    addRecv(newRound(schedule), actual(relative - distance), all);
    distance *= 2;
  }
  // The root sends its own Input, so its sends do not wait for its local copy.
  const Region source = relative == 0 ? region(Buf::Input, 0, count) : all;
  for (; relative + distance < n; distance *= 2) addSend(newRound(schedule), actual(relative + distance), source);
  return schedule;
}

}  // namespace mixccl
