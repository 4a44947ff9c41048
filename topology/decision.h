// Ranking the algorithms of a collective by predicted time: every algorithm registered for it
// (algorithms/registry.cc), each with every candidate chunk size, costed by the CostModel. The
// tuner takes the first entry; mixccl-topo prints the table; MIXCCL_DEBUG=INFO logs the runners-up.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "algorithms/algorithm.h"
#include "topology/cost_model.h"

namespace mixccl {

struct Candidate {
  const Algorithm* algorithm = nullptr;
  size_t chunkBytes = 0;
  double predictedUs = 0;
};

// Pipelining pieces the tuner tries (bytes); the first is the default and wins ties.
const std::vector<size_t>& chunkCandidates();

enum class Placement { OutOfPlace, InPlace, Either };

struct DecisionQuery {
  Collective collective = Collective::AllReduce;
  size_t count = 0;          // as the C API counts it for this collective
  size_t elementBytes = 4;
  // Which buffers the priced schedules use. NCCL lets each rank choose whether it runs in place, and
  // every rank must take the same algorithm, so the tuner prices Either: the mean of the two.
  Placement placement = Placement::Either;
  int root = 0;
  const std::vector<int>* island = nullptr;
  const std::vector<double>* islandWeight = nullptr;
  // Only these algorithm names (empty: all); only these chunk sizes (empty: chunkCandidates()).
  std::string onlyAlgorithm;
  std::vector<size_t> chunks;
};

// Every (algorithm, chunk) candidate, cheapest first (ties: registry order, then chunk order). An
// algorithm whose schedule does not depend on the chunk size is listed once.
std::vector<Candidate> rankCandidates(const CostModel& model, const DecisionQuery& q);

// Every rank's schedule for candidate c under q (for comparing candidates' schedules); in place only
// for Placement::InPlace (Either builds the out-of-place ones, whose steps between ranks are the same).
std::vector<Schedule> buildSchedules(const DecisionQuery& q, int nranks, const Candidate& c);
// Whether two sets of schedules do the same steps in the same rounds (the algorithm names aside):
// at some rank counts several algorithms build the same thing (ring, Rabenseifner and hier at 2).
bool sameSteps(const std::vector<Schedule>& a, const std::vector<Schedule>& b);
// Whether every rank exchanges with the same set of peers in both (how much, in which rounds and
// in what pieces aside): ring, Rabenseifner and hier at 2 ranks, but not ring and Rabenseifner at 4.
bool samePeers(const std::vector<Schedule>& a, const std::vector<Schedule>& b);

// "8 B", "4 KiB", "64 MiB".
std::string sizeText(size_t bytes);

}  // namespace mixccl
