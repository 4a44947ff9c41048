// Double-binary-tree Reduce: each half of the buffer is summed up one of two binary trees rooted at
// the root (algorithms/binary_tree.h), pipelined piece by piece. Ranks other than the root keep
// their partial sums in Scratch: their Output is not theirs to write.
#include "algorithms/binary_tree.h"
#include "algorithms/builders.h"

namespace mixccl {

Schedule buildDoubleTreeReduce(const CollectiveArgs& args) {
  Schedule schedule;
  schedule.algorithm = "tree";
  const size_t n = static_cast<size_t>(args.nranks);
  if (args.count == 0) return schedule;
  const bool isRoot = args.rank == args.root;
  if (n == 1) {
    if (!args.inPlace)
      addCopy(newRound(schedule), region(Buf::Input, 0, args.count), region(Buf::Output, 0, args.count));
    return schedule;
  }
  RoundTable table;
  for (int which = 0; which < 2; ++which) {
    TreeWork work;
    work.data = evenSlice(args.count, 2, static_cast<size_t>(which));
    work.chunk = args.chunkCount;
    work.reduceUp = true;
    work.accumulator = isRoot ? Buf::Output : Buf::Scratch;  // Scratch uses the same offsets
    addTreeSteps(table, treeNode(n, static_cast<size_t>(args.root), static_cast<size_t>(args.rank), which), work);
  }
  table.appendTo(schedule);
  schedule.scratchCount = scratchUsed(schedule);
  return schedule;
}

}  // namespace mixccl
