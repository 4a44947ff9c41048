// The tuner: which algorithm and pipelining chunk run an operation. For each (collective, log2 size
// bucket, element size, in place) it asks the cost model (topology/cost_model.h) to rank every
// algorithm registered for the collective with every candidate chunk, keeps the cheapest, and logs
// the choice with the runners-up once at MIXCCL_DEBUG=INFO. Later calls in the bucket are a table
// lookup. Built schedules are cached too, per (algorithm, collective, count, root, in place, chunk),
// so a repeated small call builds nothing.
//
// MIXCCL_ALGO (or NCCL_ALGO) forces a choice:
//   MIXCCL_ALGO=ring                          every collective that has "ring" uses it
//   MIXCCL_ALGO=allreduce:ring;broadcast:tree per collective (',' also separates entries)
//   MIXCCL_ALGO=allreduce:auto;ring           "auto" is the tuner's own pick (the first match wins)
// MIXCCL_CHUNK_BYTES forces the chunk size.
#pragma once

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

struct AlgorithmChoice {
  const Algorithm* algorithm = nullptr;
  size_t chunkCount = 0;
  double predictedUs = 0;
};

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

  Status choose(Collective c, size_t count, mixcclDataType_t type, bool inPlace, AlgorithmChoice* out);
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

  using DecisionKey = std::tuple<int, int, size_t, bool>;  // collective, log2 bucket, element size, in place
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
};

// Island weights for the hierarchical algorithms (algorithms/islands.h): candidate weightings from
// the islands' measured speeds (device reduce rate, host network rate, both), each costed by the
// model on a large hierarchical all-reduce; the cheapest is returned if it beats equal weights by
// more than 1 %, else {} (equal). `why` says which and by how much.
std::vector<double> chooseIslandWeights(const CostModel& model, const std::vector<int>& islands, std::string* why);

// The communicator's tuner decides (comm->tuner); used by core/op.cc.
Status chooseAlgorithm(mixcclComm* comm, Collective c, size_t count, mixcclDataType_t type, bool inPlace,
                       AlgorithmChoice* out);

}  // namespace mixccl
