// The catalogue of schedule builders. Each algorithm is one builder function for one collective; the
// tuner (core/tuner.*) chooses among those that support an operation. Adding an algorithm means
// writing its builder in a file of its own and listing it in algorithms/registry.cc.
#pragma once

#include <span>
#include <string_view>

#include "algorithms/schedule.h"

namespace mixccl {

struct Algorithm {
  const char* name;        // as MIXCCL_ALGO names it: "ring", "tree", "hier", ... (docs/algorithms.md)
  Collective collective;
  // Builds rank args.rank's schedule. Must work for every nranks >= 1, every count (0 included),
  // every root, in place or not.
  Schedule (*build)(const CollectiveArgs& args);
};

// Every algorithm, in a fixed order.
std::span<const Algorithm> allAlgorithms();
// The algorithm called `name` for collective c, or nullptr.
const Algorithm* findAlgorithm(Collective c, std::string_view name);

// One round holding every send and receive of a group, in the order posted (they all run at once,
// so any pattern completes).
Schedule buildP2PSchedule(std::span<const P2POp> ops);

}  // namespace mixccl
