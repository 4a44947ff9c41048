// Small helpers shared by the schedule builders: slicing a buffer into segments and pipeline pieces,
// and appending steps. Every helper drops zero-count steps so that builders can describe the general
// case (count < nranks leaves some segments empty) without special cases; the engine and the
// simulator drop them too, so both sides of a message agree.
#pragma once

#include <algorithm>
#include <cstddef>
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
// Removes rounds left without steps (a rank with nothing to do in some phase).
void dropEmptyRounds(Schedule& schedule);

}  // namespace mixccl
