#include "algorithms/binary_tree.h"

namespace mixccl {

namespace {

size_t lowestBit(size_t p) { return p & (~p + 1); }

// Parent position of p > 0 in a tree of n positions.
size_t parentPosition(size_t p, size_t n) {
  const size_t b = lowestBit(p);
  const size_t m = p / b;  // odd
  const bool upIsParent = ((m + 1) / 2) % 2 == 1;
  if (upIsParent && p + b < n) return p + b;
  return p - b;
}

std::vector<size_t> childPositions(size_t p, size_t n) {
  std::vector<size_t> children;
  // A child has a lower lowest bit than its parent; the root's children are powers of two.
  size_t limit = p == 0 ? n : lowestBit(p);
  for (size_t c = 1; c < limit && c < n; c *= 2) {
    for (size_t q : {p + c, p - c}) {
      if (q == p || q >= n || (c > p && q == p - c)) continue;
      if (q != 0 && parentPosition(q, n) == p) children.push_back(q);
    }
  }
  std::sort(children.begin(), children.end());
  children.erase(std::unique(children.begin(), children.end()), children.end());
  return children;
}

// Relative rank (rank - root mod n) <-> position.
size_t positionOf(size_t relative, size_t n, int which) {
  if (which == 0 || relative == 0) return relative;
  return relative == n - 1 ? 1 : relative + 1;
}
size_t relativeOf(size_t position, size_t n, int which) {
  if (which == 0 || position == 0) return position;
  return position == 1 ? n - 1 : position - 1;
}

}  // namespace

TreeNode treeNode(size_t n, size_t root, size_t rank, int which) {
  auto rankAt = [&](size_t position) { return static_cast<int>((relativeOf(position, n, which) + root) % n); };
  const size_t me = positionOf((rank + n - root) % n, n, which);
  TreeNode node;
  for (size_t c : childPositions(me, n)) node.children.push_back(rankAt(c));
  if (me != 0) node.parent = rankAt(parentPosition(me, n));
  // Walk to the root: each step subtracts this node's turn among its parent's children.
  for (size_t p = me; p != 0;) {
    const size_t parent = parentPosition(p, n);
    const std::vector<size_t> siblings = childPositions(parent, n);
    size_t index = 0;
    while (siblings[index] != p) ++index;
    node.up -= static_cast<long>(siblings.size() - index);
    ++node.depth;
    p = parent;
  }
  return node;
}

void addTreeSteps(RoundTable& table, const TreeNode& node, const TreeWork& work) {
  const std::vector<Extent> pieces =
      cutIntoPieces(work.data, work.chunk ? work.chunk : kDefaultPipelineChunk);
  const long k = static_cast<long>(node.children.size());
  const Buf acc = work.accumulator;
  for (size_t c = 0; c < pieces.size(); ++c) {
    const long piece = static_cast<long>(c);
    if (work.reduceUp) {
      for (long i = 0; i < k; ++i)
        addRecvReduce(table.at(node.up - (k - i) + piece), node.children[static_cast<size_t>(i)],
                      region(i == 0 ? Buf::Input : acc, pieces[c]), region(acc, pieces[c]));
      if (node.parent >= 0) addSend(table.at(node.up + piece), node.parent, region(k > 0 ? acc : Buf::Input, pieces[c]));
    }
    if (work.sendDown) {
      if (node.parent >= 0) addRecv(table.at(node.depth - 1 + piece), node.parent, region(acc, pieces[c]));
      const Buf source = node.parent >= 0 ? acc : work.rootSource;
      for (int child : node.children) addSend(table.at(node.depth + piece), child, region(source, pieces[c]));
    }
  }
}

}  // namespace mixccl
