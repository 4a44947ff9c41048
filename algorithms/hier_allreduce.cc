// Hierarchical AllReduce for ranks spread over islands (hosts; algorithms/islands.h):
//  1. inside each island, a ring reduce-scatter: the island's s ranks each end up holding the
//     island's sum of one segment (the buffer cut into s even segments);
//  2. across islands, every piece of the buffer is all-reduced between the ranks (one per island)
//     that hold it: each of them sends the others its island's partial sums, and each reduces one
//     share of the piece and sends the result back (a direct reduce-scatter + all-gather);
//  3. inside each island, a ring all-gather of the segments.
// Only step 2 crosses islands, and each island sends its data across once in each direction,
// spread over all its ranks (so over all their network links) instead of funnelled through one.
//
// Islands of different sizes cut the buffer differently, so step 2 works on the common refinement
// of all islands' segment boundaries: every piece lies within one segment of every island, and so
// has exactly one holder per island. A single-rank island skips steps 1 and 3 and works on Input.
//
// Weights. islandWeight[i] is island i's relative speed. In step 2 each piece is cut into one
// share per island, island i's share being weight_i / sum(weights) of the piece; island i's holder
// receives the other islands' partials of its share, reduces them and returns the result. So a
// faster island (a GPU host beside CPU hosts, say) does proportionally more of the cross-island
// reduction, and with more than two islands also moves more of the cross-island bytes, instead of
// every island taking an equal share and the slowest setting the pace. Equal weights by default.
#include <algorithm>

#include "algorithms/builder_util.h"
#include "algorithms/builders.h"
#include "algorithms/islands.h"

namespace mixccl {

namespace {

struct HierPlan {
  IslandLayout layout;
  size_t island = 0;  // this rank's island number
  size_t local = 0;   // this rank's index in its island
  size_t size = 1;    // ranks in this island
};

// The segment (after the ring reduce-scatter) held by local index q of an island of s ranks.
size_t heldSegment(size_t q, size_t s) { return (q + 1) % s; }

// Rank of island `i` holding element `e` after step 1.
int holderOf(const IslandLayout& layout, size_t i, size_t count, size_t e) {
  const std::vector<int>& members = layout.members[i];
  const size_t s = members.size();
  // Segment k holds e when its offset <= e < end; evenSlice sizes differ by at most one.
  size_t lo = 0, hi = s;
  while (hi - lo > 1) {
    const size_t mid = (lo + hi) / 2;
    if (evenSlice(count, s, mid).offset <= e) lo = mid;
    else hi = mid;
  }
  // Skip empty segments that start at e too (count < s): the first non-empty one holds e.
  while (evenSlice(count, s, lo).count == 0 || evenSlice(count, s, lo).offset + evenSlice(count, s, lo).count <= e)
    ++lo;
  return members[(lo + s - 1) % s];
}

}  // namespace

Schedule buildHierAllReduce(const CollectiveArgs& args) {
  Schedule schedule;
  schedule.algorithm = "hier";
  const size_t n = static_cast<size_t>(args.nranks);
  const size_t rank = static_cast<size_t>(args.rank);
  const size_t count = args.count;
  if (count == 0) return schedule;
  if (n == 1) {
    if (!args.inPlace) addCopy(newRound(schedule), region(Buf::Input, 0, count), region(Buf::Output, 0, count));
    return schedule;
  }
  const IslandLayout layout = islandLayout(args);
  const size_t me = layout.islandOf[rank];
  const std::vector<int>& members = layout.members[me];
  const size_t s = members.size();
  const size_t q = static_cast<size_t>(std::find(members.begin(), members.end(), static_cast<int>(rank)) - members.begin());
  const int right = members[(q + 1) % s], left = members[(q + s - 1) % s];
  auto segment = [&](size_t k) { return evenSlice(count, s, k % s); };

  // 1. Ring reduce-scatter inside the island (as in ring_allreduce.cc).
  for (size_t step = 0; step + 1 < s; ++step) {
    Round& round = newRound(schedule);
    addSend(round, right, region(step == 0 ? Buf::Input : Buf::Output, segment(q + s - step)));
    addRecvReduce(round, left, region(Buf::Input, segment(q + 2 * s - step - 1)),
                  region(Buf::Output, segment(q + 2 * s - step - 1)));
  }
  // 2. Across islands, on the pieces of our segment.
  const Extent held = segment(heldSegment(q, s));
  const size_t m = layout.count();
  if (m > 1 && held.count > 0) {
    std::vector<size_t> cuts = {held.offset, held.offset + held.count};
    for (size_t i = 0; i < m; ++i) {
      const size_t si = layout.members[i].size();
      for (size_t k = 0; k < si; ++k) {
        const size_t at = evenSlice(count, si, k).offset;
        if (at > held.offset && at < held.offset + held.count) cuts.push_back(at);
      }
    }
    std::sort(cuts.begin(), cuts.end());
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
    const Buf partial = s == 1 ? Buf::Input : Buf::Output;  // where our island's sums are
    Round& scatter = newRound(schedule);
    Round gather;
    size_t slotEnd = 0;
    std::vector<size_t> starts;
    for (size_t c = 0; c + 1 < cuts.size(); ++c) {
      const size_t offset = cuts[c], length = cuts[c + 1] - cuts[c];
      weightedParts(layout, offset, length, &starts);
      const Region mine = region(Buf::Output, starts[me], starts[me + 1] - starts[me]);
      bool first = true;
      for (size_t i = 0; i < m; ++i) {
        if (i == me) continue;
        const int holder = holderOf(layout, i, count, offset);
        const Extent theirs{starts[i], starts[i + 1] - starts[i]};
        addSend(scatter, holder, region(partial, theirs));
        const Region slot = region(Buf::Scratch, slotEnd, mine.count);
        slotEnd += mine.count;
        addRecv(scatter, holder, slot);
        // Sum our share (runs at the start of the gather round, before its messages).
        addReduce(gather, first ? region(partial, mine.offset, mine.count) : mine, slot, mine);
        first = false;
        addSend(gather, holder, mine);
        addRecv(gather, holder, region(Buf::Output, theirs));
      }
    }
    // Local steps run first in a round whatever their position, but keep them first for readers.
    std::stable_partition(gather.steps.begin(), gather.steps.end(),
                          [](const Step& st) { return st.kind == StepKind::Reduce; });
    schedule.rounds.push_back(std::move(gather));
  } else if (s == 1 && !args.inPlace) {
    addCopy(newRound(schedule), region(Buf::Input, 0, count), region(Buf::Output, 0, count));
  }
  // 3. Ring all-gather inside the island.
  for (size_t step = 0; step + 1 < s; ++step) {
    Round& round = newRound(schedule);
    addSend(round, right, region(Buf::Output, segment(q + 1 + s - step)));
    addRecv(round, left, region(Buf::Output, segment(q + s - step)));
  }
  schedule.scratchCount = scratchUsed(schedule);
  dropEmptyRounds(schedule);
  return schedule;
}

}  // namespace mixccl
