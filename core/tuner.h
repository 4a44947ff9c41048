// The tuner: which algorithm and pipelining chunk run an operation. For each (collective, log2 size
// bucket, element size) it asks the cost model (topology/cost_model.h) to rank every algorithm
// registered for the collective with every candidate chunk, keeps the cheapest, and logs
// the choice with the runners-up once at MIXCCL_DEBUG=INFO. Later calls in the bucket are a table
// lookup. Built schedules are cached too, per (algorithm, collective, count, root, in place, chunk),
// so a repeated small call builds nothing.
//
// Whether a call runs in place is no part of the decision: NCCL lets each rank choose it for itself
// (sendbuff == recvbuff on some ranks only), and every rank must take the same algorithm, chunk and
// trial turns, so each candidate is priced at the mean of its in-place and out-of-place schedules
// (Placement::Either) and each rank then builds the schedule for its own buffers.
//
// MIXCCL_ALGO (or NCCL_ALGO) forces a choice:
//   MIXCCL_ALGO=ring                          every collective that has "ring" uses it
//   MIXCCL_ALGO=allreduce:ring;broadcast:tree per collective (',' also separates entries)
//   MIXCCL_ALGO=allreduce:auto;ring           "auto" is the tuner's own pick (the first match wins)
// MIXCCL_CHUNK_BYTES forces the chunk size.
//
// Measured selection. The model's ranking of algorithms it predicts close together is the least
// certain (at 2 ranks it priced one-shot and two-shot dearest where they measure fastest; at 4 ranks
// on 2 cores Rabenseifner under ring at 2 MiB, where ring measures 11-29 % faster). Where every rank
// computes on the cpu (a call's time is then the host's own: a device rank's call may only enqueue
// work), and the model puts other algorithms within kTrialWithin of its pick at a size where the
// whole trial is predicted to take at most kTrialMaxTotalUs, the bucket starts as a trial: its
// first calls take turns between those candidates (kTrialWarmupRounds untimed turns of each, then
// timed ones), each rank keeps the median of its timed turns of each, and after the trial's last
// call the ranks agree on the mean over ranks of those medians (a small internal all-reduce,
// core/op.cc). With a core per rank a turn is one call. Where a host has more ranks than cores a
// turn is a block of calls in a row (kTrialBlockWarmup untimed, then kTrialBlockTimed timed, counted
// as their mean; kTrialBlocks of each candidate): there one call's time is mostly the wait for a
// descheduled peer, while the calls of a block add up to a loop's time. A cheap trial's turns are
// spread out by untimed lead-in calls (kTrialMinSpanUs). The candidate measured fastest by more
// than kTrialMargin (kTrialBlockMargin for blocks) over the model's pick replaces it, for good;
// MIXCCL_DEBUG=INFO logs the settlement with the times. Every rank sees the same calls in the same
// order (NCCL's rule), so every rank takes the same turns and settles at the same call.
// MIXCCL_TUNE_MEASURE=0 keeps the model's pick (set it alike on every rank, as MIXCCL_ALGO).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "algorithms/algorithm.h"
#include "core/status.h"
#include "mixccl.h"
#include "topology/cost_model.h"
#include "topology/decision.h"
#include "topology/topology.h"

struct mixcclComm;

namespace mixccl {

struct TrialState;  // a bucket's measured trial (core/tuner.cc)

struct AlgorithmChoice {
  const Algorithm* algorithm = nullptr;
  size_t chunkCount = 0;
  double predictedUs = 0;
  // Set on a call that belongs to a measured trial: the caller times it and hands the time to
  // Tuner::recordTrial (no trial for calls in a group, or where choose() was told not to time).
  std::shared_ptr<TrialState> trial;
  int trialSlot = -1;      // the candidate this call is timed for; -1: an untimed warm-up turn
  bool trialLast = false;  // the trial's last call: the ranks agree on the winner right after it
  bool trialGap = false;   // an untimed lead-in call before a turn (kTrialMinSpanUs), not a turn
};

// Measured selection's limits (see above).
// The window and the cap were 1.6x and 3 until run T (docs/performance.md): at 2 ranks the model
// priced the fast path's one-shot at 4 KiB at 0.8-1.0 us where it measures 1.6-1.7 (recursive
// doubling 1.5), just outside 1.6x, and the generic one-shot at 32 KiB 4th at 5.5-6.6 us where it
// measures fastest, 3.8 us: left out by the cap.
constexpr double kTrialWithin = 2.0;      // candidates: predicted at most this many times the pick's
// Only where the trial's calls (kTrialMaxCalls at most, lead-ins included), priced at the model's
// pick, add up to at most this, once per size bucket (its candidates are priced within kTrialWithin
// of the pick). Until 2026-12-07 the limit was a call predicted under 2 ms (4 ranks here: up to about
// 8 MiB), which left 16 MiB at 4 ranks to the model: it prices ring and Rabenseifner within 0.1 %
// there, and either measured up to 22 % faster than the other in one process (docs/performance.md,
// "Runs AQ and after"). At 4 ranks on 2 cores 16 MiB now takes a trial (144 calls at 10 ms
// predicted), 32 MiB not; at 2 ranks every size to 64 MiB (72 calls at 6.4 ms predicted).
constexpr double kTrialMaxTotalUs = 2.0e6;
constexpr size_t kTrialCandidates = 4;    // at most this many: one chunk size per algorithm, no twins
constexpr int kTrialWarmupRounds = 6;     // untimed first turns of every candidate: they build its
                                          // schedules and touch the shm ring pages of links only it
                                          // uses for the first time (0.1-3 ms a call on this VM)
constexpr double kTrialBudgetUs = 30;     // timed calls per candidate: this over the prediction,
constexpr int kTrialMinSamples = 10;      //   clamped to [kTrialMinSamples, kTrialMaxSamples]; the
                                          //   floor was 5 until run U, where 5 calls of each of 4
                                          //   candidates at 256 KiB settled on one 22 % slower
constexpr int kTrialMaxSamples = 12;
// On a host with more ranks than cores, after the warm-up turns each candidate runs kTrialBlocks
// blocks of calls in a row, in turn: kTrialBlockWarmup untimed calls (the first after a switch pays
// for the ranks' scheduling pattern of the last candidate), then kTrialBlockTimed timed. Until
// 2026-12-05 trials were off on such hosts: timed one call at a time, 4 ranks on 2 cores ranked a
// 4 KiB one-shot (15-50 us a call, 12 in a loop) behind recursive doubling (15 in a loop).
constexpr int kTrialBlocks = 3;
constexpr int kTrialBlockWarmup = 2;
constexpr int kTrialBlockTimed = 8;
// A trial's turns are spread over at least kTrialMinSpanUs of the model's predicted time: before each
// turn but the first (an untimed warm-up turn, a timed call, or a block), up to kTrialMaxGap untimed
// calls of that turn's candidate lead in to it. This VM has slow spells of tens of milliseconds that
// slow some algorithms more than others; a trial of 72 calls at 2 MiB took 15 ms, and one that fell
// in a spell timed ring at 241 us against recursive doubling's 195 and switched, where the two ran
// 152 and 170 us for the rest of the run (2 ranks; docs/performance.md, "Runs AQ and after"). The
// lead-in runs the coming candidate, not the model's pick: every timed call then follows calls of
// its own algorithm, as in a job's loop, where calls of the pick would warm the caches for the pick
// alone. Only cheap trials get lead-ins (the span), so they cost at most about kTrialMinSpanUs.
constexpr double kTrialMinSpanUs = 100000;
constexpr int kTrialMaxGap = 15;
// The most turns, calls of turns, and calls in all one trial takes before it settles (every call
// after it runs the settled choice).
constexpr int kTrialMaxTurns =
    static_cast<int>(kTrialCandidates) * (kTrialWarmupRounds + std::max(kTrialMaxSamples, kTrialBlocks));
constexpr int kTrialMaxTurnCalls =
    static_cast<int>(kTrialCandidates) *
    (kTrialWarmupRounds + std::max(kTrialMaxSamples, kTrialBlocks * (kTrialBlockWarmup + kTrialBlockTimed)));
constexpr int kTrialMaxCalls = kTrialMaxTurnCalls + kTrialMaxTurns * kTrialMaxGap;
constexpr double kTrialMargin = 0.05;     // the model's pick stays unless beaten by more than 5 %
// ... or by more than 10 % where ranks outnumber cores (a trial of blocks): there three blocks of each
// candidate resolve no better than that. At 4 ranks on 2 cores, 15 trials at 256 KiB switched from
// Rabenseifner to two-shot three times on a lead of 6.7-7.7 %, and those communicators then ran 9-13.5 %
// slower than Rabenseifner forced beside them; at 2 MiB and 16 MiB, ring and Rabenseifner (forced:
// within 2 %) won trials both ways by 6-13 % (2026-12-07).
constexpr double kTrialBlockMargin = 0.10;

// One entry of MIXCCL_ALGO or config.algorithms: "ring" (every collective that has it) or
// "allreduce:ring".
struct ForcedAlgo {
  std::string collective;  // empty: every collective
  std::string name;
};
// "allreduce:ring;broadcast:tree" (or ',' between entries), case-insensitive.
std::vector<ForcedAlgo> parseForcedAlgos(const std::string& spec);

class Tuner {
 public:
  // `rank` is this process's rank in the topology (for logs); `name` the communicator's.
  Tuner(Topology topology, int rank, std::string name);

  const Topology& topology() const { return topology_; }
  const CostModel& model() const { return model_; }
  const std::vector<int>& islands() const { return islands_; }
  // nullptr when every island is as fast as the others.
  const std::vector<double>* islandWeights() const { return weights_.empty() ? nullptr : &weights_; }
  // Why these weights ("equal", or which measured rate and the predicted gain), for logs and tools.
  const std::string& islandWeightsWhy() const { return weightsWhy_; }

  // The choice for one call. With mayTrial, a call in a bucket under trial runs the trial's next
  // candidate (out->trial says so); without, it runs the model's pick and the trial does not advance.
  Status choose(Collective c, size_t count, mixcclDataType_t type, AlgorithmChoice* out, bool mayTrial = false);
  // A trial call took `us` on this rank. True when it was the trial's last call: then the ranks
  // agree (the mean over ranks of each one's trialTimes(), its median per candidate) and every rank
  // calls settleTrial.
  bool recordTrial(const AlgorithmChoice& choice, double us);
  std::vector<double> trialTimes(const AlgorithmChoice& choice);
  // The candidates a trial times, the model's pick first (empty without a trial): for tools.
  std::vector<Candidate> trialCandidates(const AlgorithmChoice& choice);
  // A trial call failed: its turn is given back (the next call takes it again).
  void returnTurn(const AlgorithmChoice& choice);
  // Ends the trial of choice.trial with the ranks' agreed times (one per candidate, in trial order).
  void settleTrial(const AlgorithmChoice& choice, const std::vector<double>& agreedUs);
  // Whether buckets may be decided by measured trials (all-cpu communicator; not MIXCCL_TUNE_MEASURE=0).
  bool measures() const { return measure_; }
  // Whether its trials time blocks of calls in a row (a host has more ranks than cores).
  bool timesBlocks() const { return oversubscribed_; }
  // Trials settled so far (tests and tools).
  int trialsSettled() const { return settled_.load(std::memory_order_relaxed); }
  // Buckets still on trial (tests and tools).
  int trialsPending();
  // The schedule for args built by `algorithm`, from the cache when it was built before.
  std::shared_ptr<const Schedule> schedule(const Algorithm* algorithm, const CollectiveArgs& args);
  // The shm fast path (core/shm_fastpath.h) runs "oneshot" all-reduce up to maxBytes per rank: cost
  // it at those sizes with the fast path's prediction instead of the engine's. Called once at init.
  void enableOneShotFastPath(size_t maxBytes);
  // Replaces the island weights the model chose with `spec`: one positive number per island, in
  // island order (islands are numbered as their first rank), comma-separated, e.g. "4,1". A spec with
  // another count leaves the weights as they are (a WARN says so where there are several islands); a
  // value that is not a positive number is an error. `source` names where it came from in errors and
  // logs ("MIXCCL_ISLAND_WEIGHTS").
  Status setIslandWeights(const std::string& spec, const std::string& source);
  // Replaces the algorithms forced by MIXCCL_ALGO (read at construction) with `spec`, in the same
  // syntax; `source` names where it came from in errors and logs ("config.algorithms").
  void forceAlgorithms(const std::string& spec, std::string source);

 private:
  void costOneShotFastPath(std::vector<Candidate>* ranked, size_t bytes) const;
  Status forcedFor(Collective c, const Algorithm** out) const;
  // The trial for a new decision, or nullptr where the model's pick stands alone.
  std::shared_ptr<TrialState> planTrial(const DecisionQuery& q, const std::vector<Candidate>& ranked,
                                        const Candidate& pick) const;

  using DecisionKey = std::tuple<int, int, size_t>;  // collective, log2 bucket, element size
  using ScheduleKey = std::tuple<const Algorithm*, int, size_t, int, bool, size_t>;

  Topology topology_;
  CostModel model_;
  std::vector<int> islands_;
  std::vector<double> weights_;
  std::string weightsWhy_;
  int rank_;
  std::string name_;
  std::mutex mutex_;
  std::map<DecisionKey, AlgorithmChoice> decisions_;
  std::map<ScheduleKey, std::shared_ptr<const Schedule>> schedules_;
  size_t fastPathMaxBytes_ = 0;  // 0: no fast path
  std::vector<ForcedAlgo> forced_;
  std::string forcedSource_ = "MIXCCL_ALGO";
  bool measure_ = false;
  bool oversubscribed_ = false;  // a host has more ranks than cores: trials time blocks of calls
  std::atomic<int> settled_{0};
};

// Island weights for the hierarchical algorithms (algorithms/islands.h): candidate weightings from
// the islands' measured speeds (device reduce rate, host network rate, both), each costed by the
// model on a large hierarchical all-reduce; the cheapest is returned if it beats equal weights by
// more than 1 %, else {} (equal). `why` says which and by how much.
std::vector<double> chooseIslandWeights(const CostModel& model, const std::vector<int>& islands, std::string* why);

// The communicator's tuner decides (comm->tuner); used by core/op.cc.
Status chooseAlgorithm(mixcclComm* comm, Collective c, size_t count, mixcclDataType_t type, AlgorithmChoice* out,
                       bool mayTrial = false);

}  // namespace mixccl
