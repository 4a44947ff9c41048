#include "bench/perf/timing.h"

#include <chrono>

namespace mixcclperf {

CallFailed::CallFailed(const std::string& call, const std::string& context, mixcclResult_t result,
                       mixcclComm_t comm)
    : std::runtime_error(call + " (" + context + ") failed: " + mixcclGetErrorString(result) + ": " +
                         mixcclGetLastError(comm)) {}

void expectSuccess(mixcclResult_t r, const char* call, const std::string& context, mixcclComm_t comm) {
  if (r != mixcclSuccess) throw CallFailed(call, context, r, comm);
}

void barrier(mixcclComm_t comm) { (void)sumOverRanks(0, comm); }

double maxOverRanks(double value, mixcclComm_t comm) {
  double result = 0;
  expectSuccess(mixcclAllReduce(&value, &result, 1, mixcclFloat64, mixcclMax, comm, nullptr), "mixcclAllReduce",
                "maximum of the timings over ranks", comm);
  return result;
}

uint64_t sumOverRanks(uint64_t value, mixcclComm_t comm) {
  uint64_t result = 0;
  expectSuccess(mixcclAllReduce(&value, &result, 1, mixcclUint64, mixcclSum, comm, nullptr), "mixcclAllReduce",
                "sum over ranks", comm);
  return result;
}

double timeCalls(int warmupIters, int iters, const std::function<void()>& call, mixcclComm_t comm) {
  for (int i = 0; i < warmupIters; ++i) call();
  barrier(comm);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i) call();
  // The cpu backend completes a call before returning, so the clock needs no stream synchronization.
  const auto stop = std::chrono::steady_clock::now();
  const double us = std::chrono::duration<double, std::micro>(stop - start).count() / iters;
  return maxOverRanks(us, comm);
}

}  // namespace mixcclperf
