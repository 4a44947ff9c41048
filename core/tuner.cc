#include "core/tuner.h"

#include <algorithm>
#include <bit>
#include <cctype>
#include <set>
#include <string>
#include <vector>

#include "backends/devices/device.h"
#include "core/comm.h"
#include "core/env.h"
#include "core/log.h"

namespace mixccl {
namespace {

constexpr size_t kMaxCachedSchedules = 256;

struct ForcedAlgo {
  std::string collective;  // empty: every collective
  std::string name;
};

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// "allreduce" from collectiveName's "AllReduce", for matching MIXCCL_ALGO entries.
std::string key(Collective c) { return lower(collectiveName(c)); }

const std::vector<ForcedAlgo>& forcedAlgos() {
  static const std::vector<ForcedAlgo> forced = [] {
    std::vector<ForcedAlgo> out;
    auto spec = env::get("ALGO", true);
    if (!spec) return out;
    std::string s = lower(*spec);
    size_t pos = 0;
    while (pos <= s.size()) {
      size_t end = s.find_first_of(";,", pos);
      if (end == std::string::npos) end = s.size();
      std::string item = s.substr(pos, end - pos);
      pos = end + 1;
      if (item.empty()) continue;
      size_t colon = item.find(':');
      if (colon == std::string::npos) out.push_back({"", item});
      else out.push_back({item.substr(0, colon), item.substr(colon + 1)});
    }
    return out;
  }();
  return forced;
}

// The algorithm MIXCCL_ALGO forces for c, "" when none. An entry naming the collective must name one
// of its algorithms; a bare name applies only to the collectives that have it.
Status forcedFor(Collective c, const Algorithm** out) {
  *out = nullptr;
  for (const auto& f : forcedAlgos()) {
    if (!f.collective.empty() && f.collective != key(c)) continue;
    const Algorithm* a = findAlgorithm(c, f.name);
    if (a == nullptr && !f.collective.empty()) {
      std::string known;
      for (const Algorithm& x : allAlgorithms())
        if (x.collective == c) known += (known.empty() ? "" : ", ") + std::string(x.name);
      return errorStatus(mixcclInvalidArgument, "MIXCCL_ALGO asks for '%s' for %s, which has no such algorithm (it "
                         "has: %s)", f.name.c_str(), collectiveName(c), known.c_str());
    }
    if (a != nullptr) {
      *out = a;
      return Status::ok();
    }
  }
  return Status::ok();
}

// Elements the operation moves in all, the measure its size bucket is taken from.
size_t totalBytes(Collective c, size_t count, size_t es, int nranks) {
  size_t n = static_cast<size_t>(nranks);
  switch (c) {
    case Collective::AllGather:
    case Collective::ReduceScatter:
    case Collective::AlltoAll:
    case Collective::Gather:
    case Collective::Scatter: return count * es * n;
    default: return count * es;
  }
}

}  // namespace

Tuner::Tuner(Topology topology, int rank, std::string name)
    : topology_(std::move(topology)), model_(&topology_), rank_(rank), name_(std::move(name)) {
  islands_ = topology_.islands();
  // Islands of different device kinds may differ in speed: weight each by its device's reduce rate.
  std::vector<double> w;
  bool equal = true;
  for (size_t r = 0; r < topology_.ranks.size(); ++r) {
    size_t i = static_cast<size_t>(islands_[r]);
    if (w.size() <= i) w.resize(i + 1, 0);
    const DeviceRates* d = topology_.ratesOf(topology_.ranks[r].deviceKind);
    w[i] = d != nullptr ? d->reduceGBps : 1.0;
  }
  for (double x : w) equal = equal && x == w.front();
  if (!equal) weights_ = w;
}

Status Tuner::choose(Collective c, size_t count, mixcclDataType_t type, bool inPlace, AlgorithmChoice* out) {
  const size_t es = dataTypeSize(type);
  const size_t bytes = totalBytes(c, count, es, topology_.nranks());
  const int bucket = bytes == 0 ? 0 : static_cast<int>(std::bit_width(bytes));
  const DecisionKey k{static_cast<int>(c), bucket, es, inPlace};
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = decisions_.find(k);
  if (it != decisions_.end()) {
    *out = it->second;
    return Status::ok();
  }

  const Algorithm* forced = nullptr;
  MIXCCL_CHECK(forcedFor(c, &forced));
  DecisionQuery q;
  q.collective = c;
  q.count = count;
  q.elementBytes = es;
  q.inPlace = inPlace;
  q.island = &islands_;
  q.islandWeight = islandWeights();
  int64_t chunkBytes = env::getInt("CHUNK_BYTES", 0);
  if (chunkBytes > 0) q.chunks = {static_cast<size_t>(std::max<int64_t>(chunkBytes, static_cast<int64_t>(es)))};
  std::vector<Candidate> ranked = rankCandidates(model_, q);
  if (ranked.empty()) return errorStatus(mixcclInternalError, "no algorithm registered for %s", collectiveName(c));

  Candidate pick = ranked.front();
  if (forced != nullptr) {
    auto f = std::find_if(ranked.begin(), ranked.end(), [&](const Candidate& x) { return x.algorithm == forced; });
    if (f == ranked.end()) return errorStatus(mixcclInternalError, "forced algorithm %s was not ranked", forced->name);
    pick = *f;
  }
  AlgorithmChoice choice;
  choice.algorithm = pick.algorithm;
  choice.chunkCount = std::max<size_t>(1, pick.chunkBytes / es);
  choice.predictedUs = pick.predictedUs;
  decisions_[k] = choice;
  *out = choice;

  if (log::enabled(log::Level::Info)) {
    std::string others;
    for (const Candidate& x : ranked) {
      if (x.algorithm == pick.algorithm && x.chunkBytes == pick.chunkBytes) continue;
      others += strFormat("%s%s/%s %.1f us", others.empty() ? "" : ", ", x.algorithm->name, sizeText(x.chunkBytes).c_str(),
                          x.predictedUs);
    }
    size_t lo = bucket == 0 ? 0 : size_t{1} << (bucket - 1);
    MIXCCL_INFO("%s rank %d: %s of %s to %s (%zu-byte elements, %s) uses %s with %s chunks, predicted %.1f us (%s); "
                "alternatives: %s", name_.c_str(), rank_, collectiveName(c), sizeText(lo).c_str(),
                sizeText(lo == 0 ? 0 : 2 * lo - 1).c_str(), es, inPlace ? "in place" : "out of place",
                pick.algorithm->name, sizeText(pick.chunkBytes).c_str(), pick.predictedUs,
                forced != nullptr ? "forced by MIXCCL_ALGO"
                                  : "least predicted time; within 0.5 %, the earlier registered wins",
                others.empty() ? "none" : others.c_str());
  }
  return Status::ok();
}

std::shared_ptr<const Schedule> Tuner::schedule(const Algorithm* algorithm, const CollectiveArgs& args) {
  const ScheduleKey k{algorithm, static_cast<int>(args.collective), args.count, args.root, args.inPlace,
                      args.chunkCount};
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = schedules_.find(k);
  if (it != schedules_.end()) return it->second;
  // A long sweep of sizes would grow the cache without bound: start over when it is full (a caller
  // still running an old schedule holds its own reference).
  if (schedules_.size() >= kMaxCachedSchedules) schedules_.clear();
  CollectiveArgs a = args;
  a.island = &islands_;
  a.islandWeight = islandWeights();
  auto built = std::make_shared<const Schedule>(algorithm->build(a));
  schedules_.emplace(k, built);
  return built;
}

Status chooseAlgorithm(mixcclComm* comm, Collective c, size_t count, mixcclDataType_t type, bool inPlace,
                       AlgorithmChoice* out) {
  if (!comm->tuner) return errorStatus(mixcclInternalError, "communicator has no tuner (init did not finish)");
  return comm->tuner->choose(c, count, type, inPlace, out);
}

}  // namespace mixccl
