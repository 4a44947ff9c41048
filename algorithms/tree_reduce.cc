// Binomial-tree Reduce: the broadcast tree run backwards. In round k every relative rank with bit k
// set (and lower bits clear) sends its partial sum to the rank 2^k below it and is done; the others
// receive from 2^k above and fold it in. ceil(log2 n) rounds; good for small messages. Non-root
// ranks accumulate in Scratch because their Output is not theirs to write.
#include "algorithms/builder_util.h"
#include "algorithms/builders.h"

namespace mixccl {

Schedule buildTreeReduce(const CollectiveArgs& args) {
  Schedule schedule;
  schedule.algorithm = "binomial";
  const size_t n = static_cast<size_t>(args.nranks);
  const size_t rank = static_cast<size_t>(args.rank);
  const size_t root = static_cast<size_t>(args.root);
  const size_t count = args.count;
  if (count == 0) return schedule;
  const size_t relative = (rank + n - root) % n;
  auto actual = [&](size_t rel) { return static_cast<int>((rel + root) % n); };
  const bool isRoot = relative == 0;
  const Region input = region(Buf::Input, 0, count);
  const Region accumulator = isRoot ? region(Buf::Output, 0, count) : region(Buf::Scratch, 0, count);

  bool received = false;
  for (size_t distance = 1; distance < n; distance *= 2) {
    if (relative & distance) {
      addSend(newRound(schedule), actual(relative - distance), received ? accumulator : input);
      break;
    }
    if (relative + distance < n) {
      addRecvReduce(newRound(schedule), actual(relative + distance), received ? accumulator : input, accumulator);
      received = true;
    }
  }
  if (isRoot && !received && !args.inPlace) addCopy(newRound(schedule), input, accumulator);  // n == 1
  if (!isRoot && received) schedule.scratchCount = count;
  return schedule;
}

}  // namespace mixccl
