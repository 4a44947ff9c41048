// What recording one operation for the hang diagnosis costs (core/op_history.h): begin, the
// algorithm, end, as every engine call does (the shm fast path skips the algorithm).
//
//   build/bin/mixccl-micro --benchmark_filter=op_history
#include <benchmark/benchmark.h>

#include <string>

#include "core/op_history.h"

namespace {

void opHistoryRecord(benchmark::State& state) {
  mixccl::OpHistory history("bench", 0, 2, mixccl::OpHistory::kDefaultDepth);
  const std::string algorithm = "ring";
  uint64_t seq = 0;
  for (auto _ : state) {
    history.begin(++seq, mixccl::Collective::AllReduce, 2, mixcclFloat32, mixcclSum, -1);
    if (state.range(0) != 0) history.setAlgorithm(algorithm, 2);
    history.end(true);
  }
}

BENCHMARK(opHistoryRecord)->Name("op_history_record")->ArgName("with_algorithm")->Arg(0)->Arg(1);

}  // namespace
