// The simulator's picture of one rank's memory. Every element is a symbolic Cell that says where its
// value came from instead of holding a number, so that a wrong schedule shows up as "element 7 of
// rank 2's Output lacks rank 5's contribution" rather than as a wrong float.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "algorithms/schedule.h"

namespace mixccl::sim {

// A value: for reductions, the set of ranks whose contributions it sums (bit r for rank r) and the
// element index they all came from; for data movement a single bit (the origin rank) and the index
// in the origin's buffer. `tag` tells apart the buffers of grouped point-to-point ops (op index).
// ranks == 0 means never written.
struct Cell {
  uint64_t ranks = 0;
  uint32_t tag = 0;
  uint32_t index = 0;
  bool written() const { return ranks != 0; }
  bool operator==(const Cell&) const = default;
};

// "{0,3,5}"
std::string rankSetText(uint64_t ranks);
// "rank 3's element 7", "the reduction over ranks {0,1} of element 7", "nothing (never written)".
std::string cellText(const Cell& cell, bool reduction);

// A region resolved to the storage it really lives in, after in-place aliasing.
struct Place {
  size_t storage = 0;
  size_t offset = 0;
  size_t count = 0;
  bool operator==(const Place&) const = default;
  bool overlaps(const Place& other) const {
    return storage == other.storage && offset < other.offset + other.count && other.offset < offset + count;
  }
};

// What a logical buffer (Input, Output, Scratch, a user buffer) is on one rank: a window of `size`
// elements at `base` in a storage. size 0 means the buffer is not significant on this rank.
struct BufferView {
  size_t storage = 0;
  size_t base = 0;
  size_t size = 0;
  bool writable = true;
};

class RankMemory {
 public:
  // A new storage of `size` unwritten cells; returns its id.
  size_t addStorage(size_t size);
  void setView(Buf buf, BufferView view);
  const BufferView& view(Buf buf) const;
  // Resolves `region`; on failure returns why (out of range, read-only, unknown buffer).
  std::string resolve(const Region& region, bool forWrite, Place* place) const;
  Cell& cell(const Place& place, size_t i) { return storage_[place.storage][place.offset + i]; }
  const Cell& cell(const Place& place, size_t i) const { return storage_[place.storage][place.offset + i]; }
  // Logical element `i` of `buf` (which must be in range).
  const Cell& at(Buf buf, size_t i) const;
  Cell& at(Buf buf, size_t i);

 private:
  std::vector<std::vector<Cell>> storage_;
  std::vector<BufferView> views_;  // indexed by Buf
};

// Rank args.rank's memory for a collective: buffer sizes and in-place aliasing as schedule.h and the
// C API define them, with Input filled with this rank's symbolic contribution.
RankMemory collectiveMemory(const CollectiveArgs& args, size_t scratchCount);
// Memory for grouped point-to-point: user buffer i sized ops[i].count; send buffers hold
// {rank, tag i, index} and are read-only.
RankMemory p2pMemory(int rank, const std::vector<P2POp>& ops, size_t scratchCount);

// Whether the collective combines values (Reduce/RecvReduce steps allowed).
bool isReduction(Collective c);
// Compares rank args.rank's final Output with what the collective must produce there; "" if right.
std::string checkCollectiveResult(const CollectiveArgs& args, const RankMemory& memory);
// Checks that every receive of `rank` holds the data of the send it was matched with.
std::string checkP2PResult(int rank, const std::vector<std::vector<P2POp>>& allOps, const RankMemory& memory);

}  // namespace mixccl::sim
