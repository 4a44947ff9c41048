// Pairwise AlltoAll: after copying its own block, in round s each rank sends its block for rank+s
// and receives rank-s's block for itself, so every round is a permutation in which each rank has
// exactly one send and one receive in flight (n-1 rounds).
//
// In place (Input is Output) the block we receive in round s lands where our outgoing block for
// rank-s sits, and that one is only sent in round n-s. When n-s > s it is still needed (and when
// n-s == s it is being sent in the same round), so such blocks are received into Scratch and moved
// to Output at the end; floor(n/2) blocks of scratch.
#include "algorithms/builder_util.h"
#include "algorithms/builders.h"

namespace mixccl {

Schedule buildPairwiseAlltoAll(const CollectiveArgs& args) {
  Schedule schedule;
  schedule.algorithm = "pairwise";
  const size_t n = static_cast<size_t>(args.nranks);
  const size_t rank = static_cast<size_t>(args.rank);
  const size_t count = args.count;
  if (count == 0) return schedule;
  auto block = [&](Buf buf, size_t owner) { return region(buf, owner * count, count); };

  newRound(schedule);
  if (!args.inPlace) addCopy(schedule.rounds[0], block(Buf::Input, rank), block(Buf::Output, rank));
  auto staged = [&](size_t s) { return args.inPlace && 2 * s <= n; };
  Round finalCopies;  // Scratch -> Output moves of staged blocks, run after the last exchange
  size_t slotsUsed = 0;
  for (size_t s = 1; s < n; ++s) {
    Round& round = s == 1 ? schedule.rounds[0] : newRound(schedule);
    const size_t to = (rank + s) % n;
    const size_t from = (rank + n - s) % n;
    addSend(round, static_cast<int>(to), block(Buf::Input, to));
    if (staged(s)) {
      const Region slot = block(Buf::Scratch, slotsUsed++);
      addRecv(round, static_cast<int>(from), slot);
      addCopy(finalCopies, slot, block(Buf::Output, from));
    } else {
      addRecv(round, static_cast<int>(from), block(Buf::Output, from));
    }
  }
  schedule.scratchCount = slotsUsed * count;
  schedule.rounds.push_back(std::move(finalCopies));
  dropEmptyRounds(schedule);
  return schedule;
}

}  // namespace mixccl
