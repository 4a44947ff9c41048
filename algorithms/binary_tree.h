// The two binary trees of the double-binary-tree algorithms, and the pipelined timetable they run on.
//
// A tree is built on positions 0..n-1 with position 0 at the root: a position p whose lowest set
// bit is b hangs below p+b or p-b (whichever has lowest set bit 2b; p-b when p+b is past the end),
// so every node has at most two children and the depth is about log2(n). Odd positions are leaves.
// Tree A places rank `root` at position 0 and the others in order; tree B keeps the root at 0 and
// shifts the others by one position, so that the leaves of A (odd positions) are mostly inner
// nodes of B and the other way round: each rank forwards about half the data in one tree and is a
// leaf in the other, and every link carries half the data in each direction.
//
// Timetable (one global clock, algorithms/builder_util.h RoundTable): the data a tree carries is cut
// into pieces. Going up, a node with k children receives piece c from its i-th child in round
// up - (k - i) + c and sends it to its parent in round up + c, where up is 0 at the root and each
// child's up is its parent's minus (k - i): children take turns, so a node never reduces two
// messages into the same piece in one round. Going down, the root sends piece c in round c and a
// node at depth d forwards it in round d + c.
#pragma once

#include <cstddef>
#include <vector>

#include "algorithms/builder_util.h"

namespace mixccl {

struct TreeNode {
  int parent = -1;            // rank; -1 at the root
  std::vector<int> children;  // ranks, in the order they deliver pieces going up
  long up = 0;                // round in which piece 0 leaves for the parent (root: 0)
  long depth = 0;
};

// This rank's place in tree `which` (0: A, 1: B) of n ranks rooted at `root`.
TreeNode treeNode(size_t n, size_t root, size_t rank, int which);

// What one tree does with its share of the buffer.
struct TreeWork {
  Extent data;               // the elements this tree carries
  size_t chunk = 0;          // piece size (0: kDefaultPipelineChunk)
  bool reduceUp = false;     // sum toward the root
  bool sendDown = false;     // broadcast from the root
  Buf accumulator = Buf::Output;  // where a node's partial sums (and received data) live
  Buf rootSource = Buf::Output;   // what the root sends down
};

// Adds this rank's steps for one tree to `table`.
void addTreeSteps(RoundTable& table, const TreeNode& node, const TreeWork& work);

}  // namespace mixccl
