#include "algorithms/builder_util.h"

namespace mixccl {

std::vector<Extent> cutIntoPieces(Extent extent, size_t chunk) {
  std::vector<Extent> pieces;
  if (extent.count == 0) return pieces;
  if (chunk == 0 || chunk >= extent.count) {
    pieces.push_back(extent);
    return pieces;
  }
  for (size_t done = 0; done < extent.count; done += chunk)
    pieces.push_back({extent.offset + done, std::min(chunk, extent.count - done)});
  return pieces;
}

size_t pieceCountFor(size_t count, size_t chunk) {
  if (chunk == 0) chunk = kDefaultPipelineChunk;
  return (count + chunk - 1) / chunk;
}

Round& newRound(Schedule& schedule) { return schedule.rounds.emplace_back(); }

void addSend(Round& round, int peer, Region src) {
  if (src.count == 0) return;
  Step step;
  step.kind = StepKind::Send;
  step.peer = peer;
  step.src = src;
  round.steps.push_back(step);
}

void addRecv(Round& round, int peer, Region dst) {
  if (dst.count == 0) return;
  Step step;
  step.kind = StepKind::Recv;
  step.peer = peer;
  step.dst = dst;
  round.steps.push_back(step);
}

void addRecvReduce(Round& round, int peer, Region local, Region dst) {
  if (dst.count == 0) return;
  Step step;
  step.kind = StepKind::RecvReduce;
  step.peer = peer;
  step.src = local;
  step.dst = dst;
  round.steps.push_back(step);
}

void addCopy(Round& round, Region src, Region dst) {
  if (dst.count == 0) return;
  Step step;
  step.kind = StepKind::Copy;
  step.src = src;
  step.dst = dst;
  round.steps.push_back(step);
}

void addReduce(Round& round, Region src, Region src2, Region dst) {
  if (dst.count == 0) return;
  Step step;
  step.kind = StepKind::Reduce;
  step.src = src;
  step.src2 = src2;
  step.dst = dst;
  round.steps.push_back(step);
}

void RoundTable::appendTo(Schedule& schedule) {
  for (auto& [clock, round] : rounds_)
    if (!round.steps.empty()) schedule.rounds.push_back(std::move(round));
  rounds_.clear();
}

size_t scratchUsed(const Schedule& schedule) {
  size_t end = 0;
  for (const Round& round : schedule.rounds)
    for (const Step& step : round.steps)
      for (const Region* r : {&step.src, &step.src2, &step.dst})
        if (r->buf == Buf::Scratch && r->count > 0) end = std::max(end, r->offset + r->count);
  return end;
}

void dropEmptyRounds(Schedule& schedule) {
  std::erase_if(schedule.rounds, [](const Round& round) { return round.steps.empty(); });
}

}  // namespace mixccl
