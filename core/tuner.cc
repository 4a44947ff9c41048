#include "core/tuner.h"

#include <algorithm>
#include <bit>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "backends/devices/device.h"
#include "core/comm.h"
#include "core/env.h"
#include "core/log.h"
#include "core/shm_fastpath.h"

namespace mixccl {
namespace {

constexpr size_t kMaxCachedSchedules = 256;

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// "allreduce" from collectiveName's "AllReduce", for matching MIXCCL_ALGO entries.
std::string key(Collective c) { return lower(collectiveName(c)); }

}  // namespace

std::vector<ForcedAlgo> parseForcedAlgos(const std::string& spec) {
  std::vector<ForcedAlgo> out;
  std::string s = lower(spec);
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
}

// The algorithm the forced list names for c, nullptr when none. An entry naming the collective must
// name one of its algorithms; a bare name applies only to the collectives that have it.
Status Tuner::forcedFor(Collective c, const Algorithm** out) const {
  *out = nullptr;
  for (const auto& f : forced_) {
    if (!f.collective.empty() && f.collective != key(c)) continue;
    if (f.name == "auto") return Status::ok();  // the tuner's own pick (lets a communicator undo MIXCCL_ALGO)
    const Algorithm* a = findAlgorithm(c, f.name);
    if (a == nullptr && !f.collective.empty()) {
      std::string known;
      for (const Algorithm& x : allAlgorithms())
        if (x.collective == c) known += (known.empty() ? "" : ", ") + std::string(x.name);
      return errorStatus(mixcclInvalidArgument, "%s asks for '%s' for %s, which has no such algorithm (it "
                         "has: %s)", forcedSource_.c_str(), f.name.c_str(), collectiveName(c), known.c_str());
    }
    if (a != nullptr) {
      *out = a;
      return Status::ok();
    }
  }
  return Status::ok();
}

Status Tuner::setIslandWeights(const std::string& spec, const std::string& source) {
  const size_t m = islandCount(islands_);
  std::vector<double> w;
  size_t pos = 0;
  while (pos <= spec.size()) {
    size_t end = spec.find(',', pos);
    if (end == std::string::npos) end = spec.size();
    const std::string item = spec.substr(pos, end - pos);
    pos = end + 1;
    char* stop = nullptr;
    const double x = std::strtod(item.c_str(), &stop);
    if (item.empty() || stop == item.c_str() || *stop != '\0' || !(x > 0) || !std::isfinite(x)) {
      return errorStatus(mixcclInvalidArgument, "%s='%s': '%s' is not a positive number (give one weight per island, "
                         "comma-separated, e.g. 4,1)", source.c_str(), spec.c_str(), item.c_str());
    }
    w.push_back(x);
  }
  // A variable set for the job also reaches its sub-communicators, which may have other islands:
  // those keep the model's weights (one island has none), and say so.
  if (w.size() != m) {
    if (m > 1) {
      MIXCCL_WARN("%s rank %d: %s='%s' gives %zu weight(s), but this communicator has %zu islands (ranks of one "
                  "device kind on one host, numbered in the order of their first rank: mixccl-topo lists them); "
                  "keeping the model's weights", name_.c_str(), rank_, source.c_str(), spec.c_str(), w.size(), m);
    }
    return Status::ok();
  }
  std::lock_guard<std::mutex> lock(mutex_);
  weights_ = m > 1 ? w : std::vector<double>{};
  weightsWhy_ = "set by " + source;
  decisions_.clear();
  schedules_.clear();  // hierarchical schedules are cut by the weights
  MIXCCL_INFO("%s rank %d: hierarchical island weights %s (%s)", name_.c_str(), rank_, spec.c_str(), weightsWhy_.c_str());
  return Status::ok();
}

void Tuner::forceAlgorithms(const std::string& spec, std::string source) {
  std::lock_guard<std::mutex> lock(mutex_);
  forced_ = parseForcedAlgos(spec);
  forcedSource_ = std::move(source);
  decisions_.clear();
}

namespace {

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

// The all-reduce size island weights are judged at: large, where they matter.
constexpr size_t kJudgedBytes = size_t{32} << 20;

std::vector<double> chooseIslandWeights(const CostModel& model, const std::vector<int>& islands, std::string* why) {
  const Topology& t = model.topology();
  const size_t m = islandCount(islands);
  *why = "equal";
  if (m < 2) return {};
  // Each island's measured speeds: its device's reduce rate and its host's own network rate.
  std::vector<double> device(m, 0), net(m, 0);
  for (size_t r = 0; r < t.ranks.size(); ++r) {
    const size_t i = static_cast<size_t>(islands[r]);
    const DeviceRates* d = t.ratesOf(t.ranks[r].deviceKind);
    // At the rate of the working set the weights are judged at (below): every rank's input and output.
    device[i] = d != nullptr ? 1e-3 / d->reduceUsPerByte(2.0 * kJudgedBytes * static_cast<double>(t.ranks.size())) : 1.0;
    net[i] = t.hosts[static_cast<size_t>(t.ranks[r].host)].netGBps;
  }
  auto uneven = [](const std::vector<double>& w) {
    for (double x : w)
      if (!(x > 0)) return false;
    return *std::min_element(w.begin(), w.end()) < 0.95 * *std::max_element(w.begin(), w.end());
  };
  auto power = [](std::vector<double> w, double p) {
    for (double& x : w) x = std::pow(x, p);
    return w;
  };
  std::vector<std::pair<std::string, std::vector<double>>> options;
  if (uneven(device)) {
    options.push_back({"device reduce rate", device});
    options.push_back({"device reduce rate squared", power(device, 2)});
  }
  if (uneven(net)) {
    options.push_back({"host network rate", net});
    options.push_back({"host network rate squared", power(net, 2)});
    // Moving a byte through the island costs 1/net, reducing it 1/device: the rate of both.
    std::vector<double> both(m);
    for (size_t i = 0; i < m; ++i) both[i] = 1.0 / (1.0 / std::max(device[i], 1e-9) + 1.0 / net[i]);
    options.push_back({"device and network rates together", both});
  }
  if (options.empty()) return {};
  // The model decides: hierarchical all-reduce of 32 MiB of floats (large, where the weights
  // matter) under each option; equal weights stay unless an option is predicted faster.
  DecisionQuery q;
  q.collective = Collective::AllReduce;
  q.count = kJudgedBytes / 4;
  q.elementBytes = 4;
  q.island = &islands;
  q.onlyAlgorithm = "hier";
  q.chunks = {chunkCandidates().front()};
  std::vector<Candidate> base = rankCandidates(model, q);
  if (base.empty()) return {};
  double best = base.front().predictedUs;
  std::vector<double> pick;
  for (const auto& [name, w] : options) {
    q.islandWeight = &w;
    std::vector<Candidate> c = rankCandidates(model, q);
    if (!c.empty() && c.front().predictedUs < 0.99 * best) {
      best = c.front().predictedUs;
      pick = w;
      *why = strFormat("by %s: predicted %.1f ms for a 32 MiB hierarchical all-reduce against %.1f ms with equal weights",
                       name.c_str(), best * 1e-3, base.front().predictedUs * 1e-3);
    }
  }
  return pick;
}

Tuner::Tuner(Topology topology, int rank, std::string name)
    : topology_(std::move(topology)), model_(&topology_), rank_(rank), name_(std::move(name)) {
  if (auto spec = env::get("ALGO", true)) forced_ = parseForcedAlgos(*spec);
  islands_ = topology_.islands();
  weights_ = chooseIslandWeights(model_, islands_, &weightsWhy_);
  if (!weights_.empty()) {
    std::string text;
    for (double x : weights_) text += strFormat("%s%.3g", text.empty() ? "" : " ", x);
    MIXCCL_INFO("%s rank %d: hierarchical island weights %s (%s)", name_.c_str(), rank_, text.c_str(),
                weightsWhy_.c_str());
  }
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
  // Sizes the shm fast path serves (the whole bucket fits its slots): one-shot costs what it costs there.
  if (c == Collective::AllReduce && fastPathMaxBytes_ > 0 && bucket > 0 &&
      (size_t{1} << bucket) - 1 <= fastPathMaxBytes_) {
    costOneShotFastPath(&ranked, count * es);
  }

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
                forced != nullptr ? ("forced by " + forcedSource_).c_str()
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

void Tuner::enableOneShotFastPath(size_t maxBytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  fastPathMaxBytes_ = maxBytes;
  decisions_.clear();
}

void Tuner::costOneShotFastPath(std::vector<Candidate>* ranked, size_t bytes) const {
  const DeviceRates* cpu = topology_.ratesOf("cpu");
  double shmGBps = 0, shmAlphaUs = 0;
  int n = topology_.nranks();
  if (n >= 2 && topology_.linkClasses.size() > 0) {
    shmGBps = topology_.link(0, 1).betaGBps;
    shmAlphaUs = topology_.link(0, 1).alphaUs;
  }
  int host = topology_.ranks.empty() ? 0 : topology_.ranks[0].host;
  double over = topology_.hosts.empty() ? 1.0
                : static_cast<double>(topology_.ranksOnHost(host)) / std::max(1, topology_.hosts[static_cast<size_t>(host)].cores);
  double waitUs = topology_.hosts.empty() ? 0.0 : topology_.hosts[static_cast<size_t>(host)].waitUs;
  double us = ShmFastPath::predictUs(bytes, n, cpu != nullptr ? cpu->copyGBps : 0, cpu != nullptr ? cpu->reduceGBps : 0,
                                     shmAlphaUs, shmGBps, over, waitUs);
  auto one = std::find_if(ranked->begin(), ranked->end(), [](const Candidate& x) {
    return std::string_view(x.algorithm->name) == "oneshot";
  });
  if (one == ranked->end()) return;
  one->predictedUs = us;
  // Keep the rule of rankCandidates: the front wins unless beaten by more than half a percent.
  if (one != ranked->begin() && us < ranked->front().predictedUs * 0.995) std::rotate(ranked->begin(), one, one + 1);
}

Status chooseAlgorithm(mixcclComm* comm, Collective c, size_t count, mixcclDataType_t type, bool inPlace,
                       AlgorithmChoice* out) {
  if (!comm->tuner) return errorStatus(mixcclInternalError, "communicator has no tuner (init did not finish)");
  return comm->tuner->choose(c, count, type, inPlace, out);
}

}  // namespace mixccl
