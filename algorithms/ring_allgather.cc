// Ring AllGather: every rank's block travels around the ring; in round s each rank forwards the
// block it received in round s-1 (its own in round 0) to its right neighbour and receives the next
// one from its left. n-1 rounds, each moving one block per rank.
#include "algorithms/builder_util.h"
#include "algorithms/builders.h"
#include "algorithms/rank_order.h"

namespace mixccl {

// The ring visits the ranks in `order`.
Schedule ringAllGather(const CollectiveArgs& args, const RankOrder& order, const char* name) {
  Schedule schedule;
  schedule.algorithm = name;
  const size_t n = static_cast<size_t>(args.nranks);
  const size_t rank = static_cast<size_t>(args.rank);
  const size_t count = args.count;
  if (count == 0) return schedule;
  auto block = [&](size_t owner) { return Extent{owner * count, count}; };
  const Extent ownInput{0, count};

  // Round 0 starts with the local copy of our own block (in place our input already sits there),
  // then sends straight from Input so that the first send does not depend on the copy.
  newRound(schedule);
  if (!args.inPlace) addCopy(schedule.rounds[0], region(Buf::Input, ownInput), region(Buf::Output, block(rank)));
  const size_t pos = order.positionOf[rank];
  const int right = order.rankAfter(pos, 1);
  const int left = order.rankAfter(pos, -1);
  for (size_t s = 0; s + 1 < n; ++s) {
    Round& round = s == 0 ? schedule.rounds[0] : newRound(schedule);
    const size_t sendOwner = static_cast<size_t>(order.rankAfter(pos, -static_cast<long>(s)));
    const size_t recvOwner = static_cast<size_t>(order.rankAfter(pos, -static_cast<long>(s) - 1));
    if (s == 0) {
      for (Extent piece : cutIntoPieces(ownInput, args.chunkCount)) addSend(round, right, region(Buf::Input, piece));
    } else {
      for (Extent piece : cutIntoPieces(block(sendOwner), args.chunkCount))
        addSend(round, right, region(Buf::Output, piece));
    }
    for (Extent piece : cutIntoPieces(block(recvOwner), args.chunkCount))
      addRecv(round, left, region(Buf::Output, piece));
  }
  dropEmptyRounds(schedule);
  return schedule;
}

Schedule buildRingAllGather(const CollectiveArgs& args) {
  return ringAllGather(args, RankOrder::rotated(static_cast<size_t>(args.nranks), 0), "ring");
}

}  // namespace mixccl
