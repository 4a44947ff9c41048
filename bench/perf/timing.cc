#include "bench/perf/timing.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#ifdef MIXCCL_PERF_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

namespace mixcclperf {
namespace {

// On cuda a collective given a NULL stream is queued on the legacy default stream and the call
// returns at once (as in NCCL): wait for it before reading results or the clock.
void waitForNullStream(mixcclComm_t comm) {
#ifdef MIXCCL_PERF_WITH_CUDA
  const char* kind = nullptr;
  int ordinal = 0;
  if (mixcclCommDevice(comm, &kind, &ordinal) == mixcclSuccess && kind != nullptr && std::strcmp(kind, "cuda") == 0) {
    cudaError_t e = cudaStreamSynchronize(cudaStreamLegacy);
    if (e != cudaSuccess) throw std::runtime_error(std::string("cudaStreamSynchronize: ") + cudaGetErrorString(e));
  }
#else
  (void)comm;
#endif
}

}  // namespace

CallFailed::CallFailed(const std::string& call, const std::string& context, mixcclResult_t result,
                       mixcclComm_t comm)
    : std::runtime_error(call + " (" + context + ") failed: " + mixcclGetErrorString(result) + ": " +
                         mixcclGetLastError(comm)) {}

void expectSuccess(mixcclResult_t r, const char* call, const std::string& context, mixcclComm_t comm) {
  if (r != mixcclSuccess) throw CallFailed(call, context, r, comm);
}

double roundTime(std::vector<double> rounds, const std::string& stat) {
  if (rounds.empty()) return 0;
  std::sort(rounds.begin(), rounds.end());
  if (stat == "fastest") return rounds.front();
  const size_t m = rounds.size() / 2;
  return rounds.size() % 2 == 1 ? rounds[m] : 0.5 * (rounds[m - 1] + rounds[m]);
}

void barrier(mixcclComm_t comm) { (void)sumOverRanks(0, comm); }

double maxOverRanks(double value, mixcclComm_t comm) {
  double result = 0;
  expectSuccess(mixcclAllReduce(&value, &result, 1, mixcclFloat64, mixcclMax, comm, nullptr), "mixcclAllReduce",
                "maximum of the timings over ranks", comm);
  waitForNullStream(comm);
  return result;
}

uint64_t sumOverRanks(uint64_t value, mixcclComm_t comm) {
  uint64_t result = 0;
  expectSuccess(mixcclAllReduce(&value, &result, 1, mixcclUint64, mixcclSum, comm, nullptr), "mixcclAllReduce",
                "sum over ranks", comm);
  waitForNullStream(comm);
  return result;
}

double timeCalls(int warmupIters, int iters, const std::function<void()>& call, mixcclComm_t comm) {
  for (int i = 0; i < warmupIters; ++i) call();
  barrier(comm);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i) call();
  // The cpu backend completes a call before returning; stream-ordered devices are waited for.
  waitForNullStream(comm);
  const auto stop = std::chrono::steady_clock::now();
  const double us = std::chrono::duration<double, std::micro>(stop - start).count() / iters;
  return maxOverRanks(us, comm);
}

}  // namespace mixcclperf
