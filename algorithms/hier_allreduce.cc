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
//
// Step 2 is pipelined over stripes of the buffer (stripeCount below), one stripe's gather running
// beside the next one's scatter, so each host's link carries traffic both ways at once.
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

// Stripes: the buffer is cut into this many even stripes (evenSlice), the same on every rank, and
// the cross-island step runs stripe by stripe, each stripe's gather beside the next one's scatter.
// That keeps both directions of a host's link busy: with uneven weights a slow island sends most
// in the scatter and receives most in the gather, which would otherwise take turns. At most
// kMaxStripes, each about chunkCount elements (the tuner's pipelining chunk).
constexpr size_t kMaxStripes = 16;
size_t stripeCount(const CollectiveArgs& args) {
  const size_t chunk = args.chunkCount > 0 ? args.chunkCount : kDefaultPipelineChunk;
  return std::clamp<size_t>((args.count + chunk - 1) / chunk, 1, kMaxStripes);
}

// The stripe holding element e.
size_t stripeOf(size_t count, size_t stripes, size_t e) {
  size_t lo = 0, hi = stripes;
  while (hi - lo > 1) {
    const size_t mid = (lo + hi) / 2;
    if (evenSlice(count, stripes, mid).offset <= e) lo = mid;
    else hi = mid;
  }
  return lo;
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
  // 2. Across islands, on the pieces of our segment, pipelined over stripes (below).
  const Extent held = segment(heldSegment(q, s));
  const size_t m = layout.count();
  if (m > 1 && held.count > 0) {
    const size_t stripes = stripeCount(args);
    std::vector<size_t> cuts = {held.offset, held.offset + held.count};
    auto cutAt = [&](size_t at) {
      if (at > held.offset && at < held.offset + held.count) cuts.push_back(at);
    };
    for (size_t i = 0; i < m; ++i) {
      const size_t si = layout.members[i].size();
      for (size_t k = 0; k < si; ++k) cutAt(evenSlice(count, si, k).offset);
    }
    for (size_t j = 1; j < stripes; ++j) cutAt(evenSlice(count, stripes, j).offset);
    std::sort(cuts.begin(), cuts.end());
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
    const Buf partial = s == 1 ? Buf::Input : Buf::Output;  // where our island's sums are
    // Per stripe: the scatter (send the other islands' shares of our partials, receive theirs of
    // our share) and the gather (reduce our share, send it, receive theirs). Round j carries stripe
    // j's scatter and stripe j-1's gather, so a host's link sends and receives at once.
    std::vector<Round> scatter(stripes), gather(stripes);
    size_t slotEnd = 0;
    std::vector<size_t> starts;
    for (size_t c = 0; c + 1 < cuts.size(); ++c) {
      const size_t offset = cuts[c], length = cuts[c + 1] - cuts[c];
      const size_t j = stripeOf(count, stripes, offset);
      weightedParts(layout, offset, length, &starts);
      const Region mine = region(Buf::Output, starts[me], starts[me + 1] - starts[me]);
      bool first = true;
      for (size_t i = 0; i < m; ++i) {
        if (i == me) continue;
        const int holder = holderOf(layout, i, count, offset);
        const Extent theirs{starts[i], starts[i + 1] - starts[i]};
        addSend(scatter[j], holder, region(partial, theirs));
        const Region slot = region(Buf::Scratch, slotEnd, mine.count);
        slotEnd += mine.count;
        addRecv(scatter[j], holder, slot);
        // Sum our share (runs at the start of the gather's round, before its messages).
        addReduce(gather[j], first ? region(partial, mine.offset, mine.count) : mine, slot, mine);
        first = false;
        addSend(gather[j], holder, mine);
        addRecv(gather[j], holder, region(Buf::Output, theirs));
      }
    }
    // Round j: gather of stripe j-1 first (its reduces run first anyway), then the scatter of j.
    // Every rank orders its messages to a peer the same way, so they pair up in order.
    for (size_t j = 0; j <= stripes; ++j) {
      Round round;
      if (j > 0)
        for (Step& st : gather[j - 1].steps) round.steps.push_back(st);
      if (j < stripes)
        for (Step& st : scatter[j].steps) round.steps.push_back(st);
      std::stable_partition(round.steps.begin(), round.steps.end(),
                            [](const Step& st) { return st.kind == StepKind::Reduce; });
      if (!round.steps.empty()) schedule.rounds.push_back(std::move(round));
    }
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
