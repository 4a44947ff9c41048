#include "topology/decision.h"

#include <algorithm>
#include <cstdio>
#include <strings.h>

namespace mixccl {
namespace {

bool sameSchedules(const std::vector<Schedule>& a, const std::vector<Schedule>& b) {
  if (a.size() != b.size()) return false;
  for (size_t r = 0; r < a.size(); ++r) {
    if (a[r].rounds.size() != b[r].rounds.size()) return false;
    for (size_t k = 0; k < a[r].rounds.size(); ++k)
      if (a[r].rounds[k].steps.size() != b[r].rounds[k].steps.size()) return false;
  }
  return true;
}

}  // namespace

const std::vector<size_t>& chunkCandidates() {
  static const std::vector<size_t> chunks{256 * 1024, 64 * 1024, 1024 * 1024, 4096 * 1024};
  return chunks;
}

std::vector<Candidate> rankCandidates(const CostModel& model, const DecisionQuery& q) {
  std::vector<Candidate> out;
  const int n = model.topology().nranks();
  const std::vector<size_t>& chunks = q.chunks.empty() ? chunkCandidates() : q.chunks;
  for (const Algorithm& algo : allAlgorithms()) {
    if (algo.collective != q.collective) continue;
    if (!q.onlyAlgorithm.empty() && strcasecmp(q.onlyAlgorithm.c_str(), algo.name) != 0) continue;
    std::vector<Schedule> previous;
    for (size_t chunk : chunks) {
      std::vector<Schedule> schedules = buildSchedules(q, n, Candidate{&algo, chunk, 0});
      // The same schedule shape with another chunk size would cost the same: list it once.
      if (!previous.empty() && sameSchedules(previous, schedules)) continue;
      double us = model.predictUs(schedules, q.elementBytes);
      if (q.placement == Placement::Either) {
        DecisionQuery inPlace = q;
        inPlace.placement = Placement::InPlace;
        us = 0.5 * (us + model.predictUs(buildSchedules(inPlace, n, Candidate{&algo, chunk, 0}), q.elementBytes));
      }
      out.push_back({&algo, chunk, us});
      previous = std::move(schedules);
    }
  }
  if (out.empty()) return out;
  // Predictions within half a percent are a tie (rounding, or chunk sizes that change nothing that
  // matters): the earlier registered algorithm and the earlier chunk candidate win it, so that the
  // choice does not flip between equivalent options.
  double best = std::min_element(out.begin(), out.end(), [](const Candidate& a, const Candidate& b) {
                  return a.predictedUs < b.predictedUs;
                })->predictedUs;
  auto winner = std::find_if(out.begin(), out.end(), [&](const Candidate& c) { return c.predictedUs <= best * 1.005; });
  Candidate first = *winner;
  out.erase(winner);
  std::stable_sort(out.begin(), out.end(),
                   [](const Candidate& a, const Candidate& b) { return a.predictedUs < b.predictedUs; });
  out.insert(out.begin(), first);
  return out;
}

std::vector<Schedule> buildSchedules(const DecisionQuery& q, int nranks, const Candidate& c) {
  CollectiveArgs args;
  args.collective = q.collective;
  args.nranks = nranks;
  args.count = q.count;
  args.root = q.root;
  args.inPlace = q.placement == Placement::InPlace;
  args.chunkCount = std::max<size_t>(1, c.chunkBytes / q.elementBytes);
  args.island = q.island;
  args.islandWeight = q.islandWeight;
  std::vector<Schedule> out;
  out.reserve(static_cast<size_t>(nranks));
  for (int r = 0; r < nranks; ++r) {
    args.rank = r;
    out.push_back(c.algorithm->build(args));
  }
  return out;
}

bool sameSteps(const std::vector<Schedule>& a, const std::vector<Schedule>& b) {
  auto sameRegion = [](const Region& x, const Region& y) {
    return x.buf == y.buf && x.offset == y.offset && x.count == y.count;
  };
  if (!sameSchedules(a, b)) return false;
  for (size_t r = 0; r < a.size(); ++r) {
    if (a[r].scratchCount != b[r].scratchCount) return false;
    for (size_t k = 0; k < a[r].rounds.size(); ++k) {
      const std::vector<Step>& x = a[r].rounds[k].steps;
      const std::vector<Step>& y = b[r].rounds[k].steps;
      for (size_t i = 0; i < x.size(); ++i) {
        if (x[i].kind != y[i].kind || x[i].peer != y[i].peer || !sameRegion(x[i].src, y[i].src) ||
            !sameRegion(x[i].src2, y[i].src2) || !sameRegion(x[i].dst, y[i].dst))
          return false;
      }
    }
  }
  return true;
}

bool samePeers(const std::vector<Schedule>& a, const std::vector<Schedule>& b) {
  auto peers = [](const Schedule& s) {
    std::vector<int> out;
    for (const Round& round : s.rounds)
      for (const Step& step : round.steps)
        if (step.kind == StepKind::Send || step.kind == StepKind::Recv || step.kind == StepKind::RecvReduce)
          out.push_back(step.peer);
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  };
  if (a.size() != b.size()) return false;
  for (size_t r = 0; r < a.size(); ++r)
    if (peers(a[r]) != peers(b[r])) return false;
  return true;
}

std::string sizeText(size_t bytes) {
  char buf[32];
  if (bytes >= (1u << 30) && bytes % (1u << 30) == 0) std::snprintf(buf, sizeof(buf), "%zu GiB", bytes >> 30);
  else if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) std::snprintf(buf, sizeof(buf), "%zu MiB", bytes >> 20);
  else if (bytes >= 1024 && bytes % 1024 == 0) std::snprintf(buf, sizeof(buf), "%zu KiB", bytes >> 10);
  else std::snprintf(buf, sizeof(buf), "%zu B", bytes);
  return buf;
}

}  // namespace mixccl
