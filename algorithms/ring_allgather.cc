// Ring AllGather: every rank's block travels around the ring; in round s each rank forwards the
// block it received in round s-1 (its own in round 0) to its right neighbour and receives the next
// one from its left. n-1 rounds, each moving one block per rank.
#include "algorithms/builder_util.h"
#include "algorithms/builders.h"

namespace mixccl {

Schedule buildRingAllGather(const CollectiveArgs& args) {
  Schedule schedule;
  schedule.algorithm = "ring";
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
  const int right = static_cast<int>((rank + 1) % n);
  const int left = static_cast<int>((rank + n - 1) % n);
  for (size_t s = 0; s + 1 < n; ++s) {
    Round& round = s == 0 ? schedule.rounds[0] : newRound(schedule);
    const size_t sendOwner = (rank + n - s) % n;
    const size_t recvOwner = (rank + n - s - 1) % n;
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

}  // namespace mixccl
