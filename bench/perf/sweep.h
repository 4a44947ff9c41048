// One rank's whole benchmark: join the communicator, sweep types x reductions x sizes, time and check
// each, and (on rank 0) report.
#pragma once

#include "bench/perf/launch.h"
#include "bench/perf/options.h"

namespace mixcclperf {

// Returns kExitOk, kExitWrongValues (every rank agrees on it) or kExitError (after saying why).
int runRank(const Options& options, const World& world);

}  // namespace mixcclperf
