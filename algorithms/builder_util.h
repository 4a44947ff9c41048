// Small helpers shared by the schedule builders: slicing a buffer into segments and pipeline pieces,
// and appending steps. Every helper drops zero-count steps so that builders can describe the general
// case (count < nranks leaves some segments empty) without special cases; the engine and the
// simulator drop them too, so both sides of a message agree.
#pragma once

#include <algorithm>
#include <cstddef>
#include <map>
#include <vector>

#include "algorithms/schedule.h"

namespace mixccl {

// A run of elements [offset, offset + count).
struct Extent {
  size_t offset = 0;
  size_t count = 0;
};

// Pipeline piece size used when the tuner leaves CollectiveArgs::chunkCount at 0: big enough that
// per-message overhead is amortized, small enough that a long chain starts forwarding early.
constexpr size_t kDefaultPipelineChunk = size_t{1} << 16;

// The k-th of `parts` nearly equal consecutive slices of [0, total): sizes differ by at most one,
// the larger ones first. Used for ring segments, so every rank computes the same boundaries.
inline Extent evenSlice(size_t total, size_t parts, size_t k) {
  const size_t base = total / parts, extra = total % parts;
  return {k * base + std::min(k, extra), base + (k < extra ? 1 : 0)};
}

// `extent` cut into consecutive pieces of at most `chunk` elements (chunk 0: a single piece).
// An empty extent has no pieces.
std::vector<Extent> cutIntoPieces(Extent extent, size_t chunk);

// Number of pieces of `chunk` elements (chunk 0: the default) that `count` elements make.
size_t pieceCountFor(size_t count, size_t chunk);

inline Region region(Buf buf, Extent extent) { return {buf, extent.offset, extent.count}; }
inline Region region(Buf buf, size_t offset, size_t count) { return {buf, offset, count}; }

Round& newRound(Schedule& schedule);
void addSend(Round& round, int peer, Region src);
void addRecv(Round& round, int peer, Region dst);
// dst = local op (received from peer).
void addRecvReduce(Round& round, int peer, Region local, Region dst);
void addCopy(Round& round, Region src, Region dst);
// dst = src op src2 (local).
void addReduce(Round& round, Region src, Region src2, Region dst);

// The elements of consecutive segments [first, last) when [0, total) is cut into `parts` even
// slices (evenSlice); empty when first == last.
inline Extent segmentRange(size_t total, size_t parts, size_t first, size_t last) {
  if (first >= last) return {evenSlice(total, parts, first).offset, 0};
  const Extent a = evenSlice(total, parts, first), b = evenSlice(total, parts, last - 1);
  return {a.offset, b.offset + b.count - a.offset};
}

// Rounds addressed by a global clock shared by all ranks (possibly negative), for builders whose
// ranks follow one timetable (pipelined trees): a message is placed in the same global round on
// both sides, so every round can complete once all earlier ones have, and no rank waits in a cycle.
// Steps keep their insertion order inside a round, which fixes the order of messages per pair.
class RoundTable {
 public:
  Round& at(long t) { return rounds_[t]; }
  // Appends the non-empty rounds in clock order.
  void appendTo(Schedule& schedule);

 private:
  std::map<long, Round> rounds_;
};
// Elements of Scratch the schedule's steps touch (the end of the highest Scratch region).
size_t scratchUsed(const Schedule& schedule);
// Removes rounds left without steps (a rank with nothing to do in some phase).
void dropEmptyRounds(Schedule& schedule);

}  // namespace mixccl
