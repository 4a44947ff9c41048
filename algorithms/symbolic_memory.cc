#include "algorithms/symbolic_memory.h"

#include "algorithms/schedule_text.h"

namespace mixccl::sim {

std::string rankSetText(uint64_t ranks) {
  std::string text = "{";
  for (int r = 0; r < 64; ++r) {
    if (!(ranks >> r & 1)) continue;
    if (text.size() > 1) text += ",";
    text += std::to_string(r);
  }
  return text + "}";
}

std::string cellText(const Cell& cell, bool reduction) {
  if (!cell.written()) return "nothing (never written)";
  const std::string index = "element " + std::to_string(cell.index);
  const std::string ofBuffer = cell.tag ? " of its user buffer " + std::to_string(cell.tag - 1) : "";
  if (reduction) return "the reduction over ranks " + rankSetText(cell.ranks) + " of " + index;
  if ((cell.ranks & (cell.ranks - 1)) != 0) return "a mix of ranks " + rankSetText(cell.ranks) + " at " + index;
  int origin = 0;
  while (!(cell.ranks >> origin & 1)) ++origin;
  return "rank " + std::to_string(origin) + "'s " + index + ofBuffer;
}

size_t RankMemory::addStorage(size_t size) {
  storage_.emplace_back(size);
  return storage_.size() - 1;
}

void RankMemory::setView(Buf buf, BufferView view) {
  const size_t i = static_cast<size_t>(buf);
  if (views_.size() <= i) views_.resize(i + 1);
  views_[i] = view;
}

const BufferView& RankMemory::view(Buf buf) const {
  static const BufferView kAbsent{0, 0, 0, false};
  const size_t i = static_cast<size_t>(buf);
  return i < views_.size() ? views_[i] : kAbsent;
}

std::string RankMemory::resolve(const Region& region, bool forWrite, Place* place) const {
  const BufferView& v = view(region.buf);
  if (region.offset > v.size || region.count > v.size - region.offset) {
    if (v.size == 0) return describeRegion(region) + " is out of range: " + bufName(region.buf) + " is not significant here (it holds no elements)";
    return describeRegion(region) + " is out of range: " + bufName(region.buf) + " holds " + elementsText(v.size) + " here";
  }
  if (forWrite && !v.writable) return "it writes " + describeRegion(region) + ", but " + bufName(region.buf) + " is the caller's read-only send buffer";
  *place = {v.storage, v.base + region.offset, region.count};
  return "";
}

const Cell& RankMemory::at(Buf buf, size_t i) const {
  const BufferView& v = view(buf);
  return storage_[v.storage][v.base + i];
}

Cell& RankMemory::at(Buf buf, size_t i) {
  const BufferView& v = view(buf);
  return storage_[v.storage][v.base + i];
}

bool isReduction(Collective c) {
  return c == Collective::AllReduce || c == Collective::Reduce || c == Collective::ReduceScatter;
}

namespace {

struct Sizes {
  size_t input = 0;
  size_t output = 0;
};

// Buffer sizes on this rank, per the C API; 0 where the buffer is not significant (NCCL lets it be
// NULL there), so that any access is reported as out of range.
Sizes collectiveSizes(const CollectiveArgs& a) {
  const size_t n = static_cast<size_t>(a.nranks), c = a.count;
  const bool root = a.rank == a.root;
  switch (a.collective) {
    case Collective::AllReduce: return {c, c};
    case Collective::Broadcast: return {root ? c : 0, c};
    case Collective::Reduce: return {c, root ? c : 0};
    case Collective::AllGather: return {c, n * c};
    case Collective::ReduceScatter: return {n * c, c};
    case Collective::AlltoAll: return {n * c, n * c};
    case Collective::Gather: return {c, root ? n * c : 0};
    case Collective::Scatter: return {root ? n * c : 0, c};
    case Collective::SendRecv: return {0, 0};
  }
  return {0, 0};
}

}  // namespace

RankMemory collectiveMemory(const CollectiveArgs& args, size_t scratchCount) {
  const Sizes sizes = collectiveSizes(args);
  RankMemory memory;
  const size_t input = memory.addStorage(sizes.input);
  const size_t output = memory.addStorage(sizes.output);
  const size_t scratch = memory.addStorage(scratchCount);
  memory.setView(Buf::Input, {input, 0, sizes.input, false});
  memory.setView(Buf::Output, {output, 0, sizes.output, true});
  memory.setView(Buf::Scratch, {scratch, 0, scratchCount, true});
  // In place, one buffer plays both parts (where both are significant on this rank).
  if (args.inPlace && sizes.input > 0 && sizes.output > 0) {
    const size_t shift = static_cast<size_t>(args.rank) * args.count;
    switch (args.collective) {
      case Collective::AllReduce:
      case Collective::Broadcast:
      case Collective::Reduce:
      case Collective::AlltoAll:
        memory.setView(Buf::Input, {output, 0, sizes.input, false});
        break;
      case Collective::AllGather:
      case Collective::Gather:
        memory.setView(Buf::Input, {output, shift, sizes.input, false});
        break;
      case Collective::ReduceScatter:
      case Collective::Scatter:
        memory.setView(Buf::Output, {input, shift, sizes.output, true});
        break;
      case Collective::SendRecv:
        break;
    }
  }
  const uint64_t self = uint64_t{1} << args.rank;
  for (size_t i = 0; i < sizes.input; ++i) memory.at(Buf::Input, i) = {self, 0, static_cast<uint32_t>(i)};
  return memory;
}

RankMemory p2pMemory(int rank, const std::vector<P2POp>& ops, size_t scratchCount) {
  RankMemory memory;
  const size_t none = memory.addStorage(0);
  memory.setView(Buf::Input, {none, 0, 0, false});
  memory.setView(Buf::Output, {none, 0, 0, false});
  memory.setView(Buf::Scratch, {memory.addStorage(scratchCount), 0, scratchCount, true});
  const uint64_t self = uint64_t{1} << rank;
  for (size_t i = 0; i < ops.size(); ++i) {
    const Buf buf = userBuf(i);
    memory.setView(buf, {memory.addStorage(ops[i].count), 0, ops[i].count, !ops[i].isSend});
    if (!ops[i].isSend) continue;
    // tag i+1 so that a p2p cell never looks like a collective's (tag 0).
    for (size_t e = 0; e < ops[i].count; ++e)
      memory.at(buf, e) = {self, static_cast<uint32_t>(i + 1), static_cast<uint32_t>(e)};
  }
  return memory;
}

}  // namespace mixccl::sim
