#include "core/tuner.h"

#include <algorithm>
#include <bit>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <limits>
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

// One bucket's measured trial (core/tuner.h). Guarded by the tuner's mutex.
struct TrialState {
  std::tuple<int, int, size_t> key;        // the bucket's decision key
  std::string what;                        // "AllReduce of 16 KiB to 32 KiB (4-byte elements)"
  std::vector<Candidate> candidates;       // the model's order: [0] is its pick
  std::vector<std::vector<double>> samples;  // this rank's timed calls of each candidate (us), in order
  // After kTrialWarmupRounds untimed turns of each candidate, the candidates take turns in blocks:
  // `block` calls of one in a row, the first `blockWarmup` of them untimed, `blocks` blocks each.
  // With a core per rank a block is one call (calls alternate); on an oversubscribed host a block is
  // several calls in a row, timed together (see kTrialBlockTimed).
  int block = 1;
  int blockWarmup = 0;
  int blocks = 0;
  int calls = 0;                           // calls that took a turn so far
  int gap = 0;                             // lead-in calls before each turn but the first (kTrialMinSpanUs)
  int gapLeft = 0;                         // of the next turn's lead-in, still to run
  int timedPerBlock() const { return block - blockWarmup; }
  // Calls of turns; turns (a warm-up turn, a block); calls in all, lead-ins included.
  int total() const { return (kTrialWarmupRounds + blocks * block) * static_cast<int>(candidates.size()); }
  int turns() const { return (kTrialWarmupRounds + blocks) * static_cast<int>(candidates.size()); }
  int allCalls() const { return total() + (turns() - 1) * gap; }
};

// bench/compare/run.py warms each size up with TRIAL_MAX_CALLS calls (TRIAL_MAX_TURN_CALLS above
// 8 MiB, where trials need no lead-ins), and a few more, so that its timed calls come after the trial:
// change both together.
static_assert(kTrialMaxCalls == 1224, "bench/compare/run.py's TRIAL_MAX_CALLS is kTrialMaxCalls");
static_assert(kTrialMaxTurnCalls == 144, "bench/compare/run.py's TRIAL_MAX_TURN_CALLS is kTrialMaxTurnCalls");

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
  // Measured trials need a call's time on this host to be the call's time: cpu ranks only (a device
  // rank's call may only enqueue work). Where a host has more ranks than cores, trials time blocks
  // of calls in a row (TrialState): there a single call's time is mostly the wait for a descheduled
  // peer (4 ranks on 2 cores timed a 4 KiB one-shot at 15-50 us a call where a loop of them ran at
  // 12 us a call). Every rank sees the same topology, so all decide alike.
  const int64_t measure = env::getInt("TUNE_MEASURE", 1);
  bool ownCores = true;
  for (size_t h = 0; h < topology_.hosts.size(); ++h)
    ownCores = ownCores && topology_.ranksOnHost(static_cast<int>(h)) <= std::max(1, topology_.hosts[h].cores);
  oversubscribed_ = !ownCores;
  measure_ = topology_.nranks() >= 2 && measure != 0 &&
             std::all_of(topology_.ranks.begin(), topology_.ranks.end(),
                         [](const RankInfo& r) { return r.deviceKind == "cpu"; });
  islands_ = topology_.islands();
  weights_ = chooseIslandWeights(model_, islands_, &weightsWhy_);
  if (!weights_.empty()) {
    std::string text;
    for (double x : weights_) text += strFormat("%s%.3g", text.empty() ? "" : " ", x);
    MIXCCL_INFO("%s rank %d: hierarchical island weights %s (%s)", name_.c_str(), rank_, text.c_str(),
                weightsWhy_.c_str());
  }
}

namespace {

// The choice for one call of a bucket under trial `d` (d.algorithm is the model's pick).
void takeTurn(const AlgorithmChoice& d, bool mayTrial, AlgorithmChoice* out) {
  TrialState& t = *d.trial;
  *out = d;
  out->trial = nullptr;
  // A call in a group is timed with the others, and one after the trial's last waits for its
  // settlement (only a failed agreement leaves a trial unsettled): the model's pick.
  if (!mayTrial || t.calls >= t.total()) return;
  const int i = t.calls;  // the turn call this one is, or leads in to
  const int k = static_cast<int>(t.candidates.size());
  int which = i % k, slot = -1;  // the warm-up turns alternate, untimed
  bool turnStarts = true, turnEnds = true;
  if (i >= kTrialWarmupRounds * k) {
    const int j = i - kTrialWarmupRounds * k;
    which = (j / t.block) % k;
    if (j % t.block >= t.blockWarmup) slot = which;
    turnStarts = j % t.block == 0;
    turnEnds = j % t.block == t.block - 1;
  }
  const Candidate& c = t.candidates[static_cast<size_t>(which)];
  out->algorithm = c.algorithm;
  out->chunkCount = std::max<size_t>(1, c.chunkBytes / std::get<2>(t.key));
  out->predictedUs = c.predictedUs;
  out->trial = d.trial;
  if (turnStarts && t.gapLeft > 0) {  // a lead-in call: the coming turn's candidate, untimed
    --t.gapLeft;
    out->trialGap = true;
    return;
  }
  ++t.calls;
  out->trialSlot = slot;
  out->trialLast = t.calls == t.total();
  if (turnEnds && t.calls < t.total()) t.gapLeft = t.gap;
}

}  // namespace

std::shared_ptr<TrialState> Tuner::planTrial(const DecisionQuery& q, const std::vector<Candidate>& ranked,
                                             const Candidate& pick) const {
  // A trial times at least two candidates (the checks below; first a cheap bound, before any schedule
  // is built).
  if (!measure_ || !(pick.predictedUs * 2 * (kTrialWarmupRounds + 1) <= kTrialMaxTotalUs)) return nullptr;
  auto t = std::make_shared<TrialState>();
  t->candidates.push_back(pick);
  // One candidate per algorithm (the model's best chunk for it), and none that builds the same
  // steps as one already taken, or that talks to the same peers as one the model prices within half
  // a percent of it (ring, Rabenseifner and hier at 2 ranks: the same two exchanges, pieces in
  // another order): timing twins tells little, and would crowd out the different schedules the model
  // may misjudge. Until 2026-12-07 the price alone made a twin, which also left out Rabenseifner at 4
  // ranks wherever the model priced it within 0.5 % of ring (16 MiB: 10.11 against 10.12 ms), the
  // very place where measuring tells them apart.
  std::vector<std::vector<Schedule>> taken{buildSchedules(q, topology_.nranks(), pick)};
  for (const Candidate& x : ranked) {
    if (t->candidates.size() >= kTrialCandidates) break;
    if (!(x.predictedUs <= pick.predictedUs * kTrialWithin)) continue;
    bool seen = false;
    for (const Candidate& y : t->candidates) seen = seen || y.algorithm == x.algorithm;
    if (seen) continue;
    std::vector<Schedule> built = buildSchedules(q, topology_.nranks(), x);
    for (size_t i = 0; i < taken.size() && !seen; ++i) {
      const double y = t->candidates[i].predictedUs;
      const bool priceTwin = std::abs(x.predictedUs - y) <= 0.005 * y;
      seen = sameSteps(built, taken[i]) || (priceTwin && samePeers(built, taken[i]));
    }
    if (seen) continue;
    t->candidates.push_back(x);
    taken.push_back(std::move(built));
  }
  if (t->candidates.size() < 2) return nullptr;
  if (oversubscribed_) {
    t->blockWarmup = kTrialBlockWarmup;
    t->block = kTrialBlockWarmup + kTrialBlockTimed;
    t->blocks = kTrialBlocks;
  } else {  // one call a block: as many as kTrialBudgetUs of the pick's predicted time, clamped
    const double samples = kTrialBudgetUs / std::max(pick.predictedUs, 1e-3);
    t->blocks = static_cast<int>(std::clamp(samples, double{kTrialMinSamples}, double{kTrialMaxSamples}));
  }
  // Lead-in calls before each turn, so that the trial spans at least kTrialMinSpanUs.
  const double missingCalls = kTrialMinSpanUs / pick.predictedUs - t->total();
  if (missingCalls > 0 && t->turns() > 1)
    t->gap = static_cast<int>(std::min<double>(kTrialMaxGap, std::ceil(missingCalls / (t->turns() - 1))));
  if (!(t->allCalls() * pick.predictedUs <= kTrialMaxTotalUs)) return nullptr;  // too dear to time
  t->samples.resize(t->candidates.size());
  return t;
}

Status Tuner::choose(Collective c, size_t count, mixcclDataType_t type, AlgorithmChoice* out, bool mayTrial) {
  const size_t es = dataTypeSize(type);
  const size_t bytes = totalBytes(c, count, es, topology_.nranks());
  const int bucket = bytes == 0 ? 0 : static_cast<int>(std::bit_width(bytes));
  const DecisionKey k{static_cast<int>(c), bucket, es};
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = decisions_.find(k);
  if (it != decisions_.end()) {
    if (it->second.trial) takeTurn(it->second, mayTrial, out);
    else *out = it->second;
    return Status::ok();
  }

  const Algorithm* forced = nullptr;
  MIXCCL_CHECK(forcedFor(c, &forced));
  DecisionQuery q;
  q.collective = c;
  q.count = count;
  q.elementBytes = es;
  q.placement = Placement::Either;  // ranks may differ in it (see the top of core/tuner.h)
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
  // "AllReduce of 32 KiB to 65535 B (4-byte elements)", for logs.
  auto bucketText = [&] {
    const size_t lo = bucket == 0 ? 0 : size_t{1} << (bucket - 1);
    return strFormat("%s of %s to %s (%zu-byte elements)", collectiveName(c), sizeText(lo).c_str(),
                     sizeText(lo == 0 ? 0 : 2 * lo - 1).c_str(), es);
  };
  if (forced == nullptr) choice.trial = planTrial(q, ranked, pick);
  if (choice.trial) {
    choice.trial->key = k;
    choice.trial->what = bucketText();
  }
  decisions_[k] = choice;
  if (choice.trial) takeTurn(choice, mayTrial, out);
  else *out = choice;

  if (log::enabled(log::Level::Info)) {
    std::string others;
    for (const Candidate& x : ranked) {
      if (x.algorithm == pick.algorithm && x.chunkBytes == pick.chunkBytes) continue;
      others += strFormat("%s%s/%s %.1f us", others.empty() ? "" : ", ", x.algorithm->name, sizeText(x.chunkBytes).c_str(),
                          x.predictedUs);
    }
    std::string trialText;
    if (choice.trial) {
      for (const Candidate& x : choice.trial->candidates)
        trialText += strFormat("%s%s/%s", trialText.empty() ? "" : ", ", x.algorithm->name, sizeText(x.chunkBytes).c_str());
      const TrialState& t = *choice.trial;
      const std::string gapText =
          t.gap > 0 ? strFormat("; %d untimed calls of each turn's candidate lead in to it", t.gap) : "";
      trialText = t.block == 1
          ? strFormat("; the next %d calls try %s in turn (%d untimed and %d timed calls each%s) to settle it",
                      t.allCalls(), trialText.c_str(), kTrialWarmupRounds, t.blocks, gapText.c_str())
          : strFormat("; the next %d calls try %s in turn (%d untimed calls each, then %d blocks of %d calls in a "
                      "row, %d of them timed%s) to settle it", t.allCalls(), trialText.c_str(), kTrialWarmupRounds,
                      t.blocks, t.block, t.timedPerBlock(), gapText.c_str());
    }
    MIXCCL_INFO("%s rank %d: %s uses %s with %s chunks, predicted %.1f us (%s); alternatives: %s%s", name_.c_str(),
                rank_, bucketText().c_str(), pick.algorithm->name, sizeText(pick.chunkBytes).c_str(), pick.predictedUs,
                forced != nullptr ? ("forced by " + forcedSource_).c_str()
                                  : "least predicted time; within 0.5 %, the earlier registered wins",
                others.empty() ? "none" : others.c_str(), trialText.c_str());
  }
  return Status::ok();
}

bool Tuner::recordTrial(const AlgorithmChoice& choice, double us) {
  if (!choice.trial) return false;
  std::lock_guard<std::mutex> lock(mutex_);
  TrialState& t = *choice.trial;
  if (choice.trialSlot >= 0 && static_cast<size_t>(choice.trialSlot) < t.samples.size())
    t.samples[static_cast<size_t>(choice.trialSlot)].push_back(us);
  return choice.trialLast;
}

std::vector<Candidate> Tuner::trialCandidates(const AlgorithmChoice& choice) {
  if (!choice.trial) return {};
  std::lock_guard<std::mutex> lock(mutex_);
  return choice.trial->candidates;
}

void Tuner::returnTurn(const AlgorithmChoice& choice) {
  if (!choice.trial) return;
  std::lock_guard<std::mutex> lock(mutex_);
  if (choice.trialGap) {
    ++choice.trial->gapLeft;  // the next call leads in again
    return;
  }
  if (choice.trial->calls > 0) --choice.trial->calls;
  choice.trial->gapLeft = 0;  // the next call takes the turn again
}

std::vector<double> Tuner::trialTimes(const AlgorithmChoice& choice) {
  if (!choice.trial) return {};
  std::lock_guard<std::mutex> lock(mutex_);
  // The median of each candidate's blocks, a block counting as the mean of its timed calls (with a
  // core per rank a block is one call). A call's time on one rank swings with when the others arrive
  // (a rank that arrives first waits inside its call), and the fastest call of a few is the one
  // where this rank came last, which ranks the algorithms by luck more than by speed. Where ranks
  // outnumber cores a single call swings with the scheduler far more than a loop does, and the
  // calls of a block in a row add up to the loop's time.
  std::vector<double> out;
  const size_t per = static_cast<size_t>(std::max(1, choice.trial->timedPerBlock()));
  for (const std::vector<double>& calls : choice.trial->samples) {
    std::vector<double> v;
    for (size_t b = 0; b + per <= calls.size(); b += per) {
      double sum = 0;
      for (size_t i = b; i < b + per; ++i) sum += calls[i];
      v.push_back(sum / static_cast<double>(per));
    }
    if (v.empty()) {
      out.push_back(std::numeric_limits<double>::infinity());
      continue;
    }
    std::sort(v.begin(), v.end());
    const size_t m = v.size() / 2;
    out.push_back(v.size() % 2 == 1 ? v[m] : 0.5 * (v[m - 1] + v[m]));
  }
  return out;
}

int Tuner::trialsPending() {
  std::lock_guard<std::mutex> lock(mutex_);
  int n = 0;
  for (const auto& [key, choice] : decisions_) n += choice.trial != nullptr ? 1 : 0;
  return n;
}

void Tuner::settleTrial(const AlgorithmChoice& choice, const std::vector<double>& agreedUs) {
  if (!choice.trial) return;
  std::lock_guard<std::mutex> lock(mutex_);
  const TrialState& t = *choice.trial;
  auto it = decisions_.find(t.key);
  if (it == decisions_.end() || it->second.trial != choice.trial) return;  // decisions were reset meanwhile
  // The model's pick stays unless another candidate was measured faster by more than the margin.
  const double margin = t.block > 1 ? kTrialBlockMargin : kTrialMargin;
  size_t win = 0;
  if (agreedUs.size() == t.candidates.size()) {
    for (size_t i = 1; i < agreedUs.size(); ++i)
      if (agreedUs[i] < agreedUs[win] * (win == 0 ? 1.0 - margin : 1.0)) win = i;
  }
  const Candidate& w = t.candidates[win];
  AlgorithmChoice settled;
  settled.algorithm = w.algorithm;
  settled.chunkCount = std::max<size_t>(1, w.chunkBytes / std::get<2>(t.key));
  settled.predictedUs = w.predictedUs;
  it->second = settled;
  settled_.fetch_add(1, std::memory_order_relaxed);
  if (log::enabled(log::Level::Info)) {
    std::string times;
    for (size_t i = 0; i < t.candidates.size(); ++i) {
      times += strFormat("%s%s/%s %.2f us (predicted %.1f)", times.empty() ? "" : ", ", t.candidates[i].algorithm->name,
                         sizeText(t.candidates[i].chunkBytes).c_str(), i < agreedUs.size() ? agreedUs[i] : -1.0,
                         t.candidates[i].predictedUs);
    }
    MIXCCL_INFO("%s rank %d: %s %s %s with %s chunks after timing its candidates (the mean over ranks of each "
                "rank's median %s of each: %s)", name_.c_str(), rank_, t.what.c_str(),
                win == 0 ? "keeps" : "switches to", w.algorithm->name, sizeText(w.chunkBytes).c_str(),
                t.block == 1 ? "call" : strFormat("block of %d calls", t.timedPerBlock()).c_str(), times.c_str());
  }
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

Status chooseAlgorithm(mixcclComm* comm, Collective c, size_t count, mixcclDataType_t type, AlgorithmChoice* out,
                       bool mayTrial) {
  if (!comm->tuner) return errorStatus(mixcclInternalError, "communicator has no tuner (init did not finish)");
  return comm->tuner->choose(c, count, type, out, mayTrial);
}

}  // namespace mixccl
