// Bruck AlltoAll: ceil(log2 n) rounds instead of pairwise's n-1, for small blocks where the number
// of messages, not their size, sets the time. Scratch holds a working copy W of all n blocks,
// rotated so that W[i] is the block bound for rank+i. In round k every block whose index has bit k
// set moves 2^k ranks further: those blocks are packed into one contiguous message, sent to
// rank+2^k, and the message from rank-2^k is unpacked into the same indices. After the last round
// W[i] holds the block that rank-i sent to us, and an inverse rotation writes it to Output.
// Each block travels about log2(n)/2 times, so large blocks are better served by pairwise.
#include "algorithms/builder_util.h"
#include "algorithms/builders.h"

namespace mixccl {

Schedule buildBruckAlltoAll(const CollectiveArgs& args) {
  Schedule schedule;
  schedule.algorithm = "bruck";
  const size_t n = static_cast<size_t>(args.nranks);
  const size_t rank = static_cast<size_t>(args.rank);
  const size_t count = args.count;
  if (count == 0) return schedule;
  if (n == 1) {
    if (!args.inPlace) addCopy(newRound(schedule), region(Buf::Input, 0, count), region(Buf::Output, 0, count));
    return schedule;
  }
  // Scratch layout: W (n blocks), then the pack and unpack areas (at most n/2 blocks each).
  const size_t half = n / 2;
  auto work = [&](size_t first, size_t blocks) { return region(Buf::Scratch, first * count, blocks * count); };
  auto pack = [&](size_t first, size_t blocks) { return region(Buf::Scratch, (n + first) * count, blocks * count); };
  auto unpack = [&](size_t first, size_t blocks) {
    return region(Buf::Scratch, (n + half + first) * count, blocks * count);
  };

  // Rotation: W[i] = Input block (rank + i) % n.
  Round* round = &newRound(schedule);
  addCopy(*round, region(Buf::Input, rank * count, (n - rank) * count), work(0, n - rank));
  addCopy(*round, region(Buf::Input, 0, rank * count), work(n - rank, rank));
  for (size_t distance = 1; distance < n; distance *= 2) {
    // Indices with this bit set form runs [m, m + distance) for m = distance, 3 distance, ...
    size_t packed = 0;
    std::vector<Extent> runs;
    for (size_t start = distance; start < n; start += 2 * distance) {
      const size_t blocks = std::min(distance, n - start);
      runs.push_back({start, blocks});
      addCopy(*round, work(start, blocks), pack(packed, blocks));
      packed += blocks;
    }
    addSend(*round, static_cast<int>((rank + distance) % n), pack(0, packed));
    addRecv(*round, static_cast<int>((rank + n - distance) % n), unpack(0, packed));
    // Unpacking runs first in the next round, before that round packs.
    round = &newRound(schedule);
    size_t unpacked = 0;
    for (const Extent& run : runs) {
      addCopy(*round, unpack(unpacked, run.count), work(run.offset, run.count));
      unpacked += run.count;
    }
  }
  // Inverse rotation: Output block (rank - i) % n = W[i].
  for (size_t i = 0; i < n; ++i) addCopy(*round, work(i, 1), region(Buf::Output, ((rank + n - i) % n) * count, count));
  schedule.scratchCount = scratchUsed(schedule);
  return schedule;
}

}  // namespace mixccl
