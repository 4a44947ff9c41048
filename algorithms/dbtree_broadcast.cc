// Double-binary-tree Broadcast: the root sends one half of the buffer down tree A and the other
// down tree B (algorithms/binary_tree.h), pipelined piece by piece. Both trees are rooted at the
// root; its two subtrees share the other ranks so that most ranks forward data in only one tree.
#include "algorithms/binary_tree.h"
#include "algorithms/builders.h"

namespace mixccl {

Schedule buildDoubleTreeBroadcast(const CollectiveArgs& args) {
  Schedule schedule;
  schedule.algorithm = "tree";
  const size_t n = static_cast<size_t>(args.nranks);
  if (args.count == 0) return schedule;
  RoundTable table;
  // The root's local copy runs first in its first round; its sends read Input, not the copy.
  if (args.rank == args.root && !args.inPlace)
    addCopy(table.at(0), region(Buf::Input, 0, args.count), region(Buf::Output, 0, args.count));
  for (int which = 0; which < 2 && n > 1; ++which) {
    TreeWork work;
    work.data = evenSlice(args.count, 2, static_cast<size_t>(which));
    work.chunk = args.chunkCount;
    work.sendDown = true;
    work.accumulator = Buf::Output;
    work.rootSource = Buf::Input;
    addTreeSteps(table, treeNode(n, static_cast<size_t>(args.root), static_cast<size_t>(args.rank), which), work);
  }
  table.appendTo(schedule);
  return schedule;
}

}  // namespace mixccl
