// mixccl-perf: nccl-tests for mixccl. See docs/benchmarks.md for the options, columns and formulas.
#include <cstdio>

#include "bench/perf/launch.h"
#include "bench/perf/options.h"
#include "bench/perf/sweep.h"

int main(int argc, char** argv) {
  mixcclperf::Options options;
  int exitCode = 0;
  if (!mixcclperf::parseOptions(argc, argv, &options, &exitCode)) return exitCode;
  return mixcclperf::launchRanks(options, [&](const mixcclperf::World& world) {
    return mixcclperf::runRank(options, world);
  });
}
