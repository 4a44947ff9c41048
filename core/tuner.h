// The tuner: which algorithm (and pipelining granularity) runs an operation. Today a rule table
// (small rooted operations go to trees, large to pipelined chains); the cost-model tuner replaces
// the rules, not this interface. MIXCCL_ALGO (or NCCL_ALGO) forces a choice:
//   MIXCCL_ALGO=ring                          every collective that has "ring" uses it
//   MIXCCL_ALGO=allreduce:ring;broadcast:tree per collective (',' also separates entries)
#pragma once

#include <cstddef>

#include "algorithms/algorithm.h"
#include "core/status.h"
#include "mixccl.h"

struct mixcclComm;

namespace mixccl {

struct AlgorithmChoice {
  const Algorithm* algorithm = nullptr;
  size_t chunkCount = 0;
};

Status chooseAlgorithm(const mixcclComm* comm, Collective c, size_t count, mixcclDataType_t type,
                       AlgorithmChoice* out);

}  // namespace mixccl
