// Double-binary-tree AllReduce: the buffer is split in two halves; each is summed up one of two
// complementary binary trees (algorithms/binary_tree.h) and broadcast back down the same tree,
// pipelined piece by piece, with the broadcast of the first pieces overlapping the reduction of the
// later ones. About 2 log2(n) + pieces rounds: logarithmic latency like a tree, and since each
// rank is an inner node in at most about one tree, near-full link bandwidth for large messages.
#include "algorithms/binary_tree.h"
#include "algorithms/builders.h"

namespace mixccl {

Schedule buildDoubleTreeAllReduce(const CollectiveArgs& args) {
  Schedule schedule;
  schedule.algorithm = "tree";
  const size_t n = static_cast<size_t>(args.nranks);
  if (args.count == 0) return schedule;
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
    work.reduceUp = work.sendDown = true;
    work.accumulator = work.rootSource = Buf::Output;
    addTreeSteps(table, treeNode(n, 0, static_cast<size_t>(args.rank), which), work);
  }
  table.appendTo(schedule);
  return schedule;
}

}  // namespace mixccl
