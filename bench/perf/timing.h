// Timing collective calls, and the few small collectives the benchmark itself needs (barrier, the
// maximum time and the total of wrong values over ranks). Every failure throws CallFailed.
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "mixccl.h"

namespace mixcclperf {

// A mixccl call returned an error. what() is the full sentence: call, context, result, the library's
// own explanation (mixcclGetLastError).
class CallFailed : public std::runtime_error {
 public:
  CallFailed(const std::string& call, const std::string& context, mixcclResult_t result, mixcclComm_t comm);
};

// Throws CallFailed unless r is mixcclSuccess.
void expectSuccess(mixcclResult_t r, const char* call, const std::string& context, mixcclComm_t comm);

// Runs `call` warmupIters times untimed, then iters times timed, after a barrier so that no rank
// starts its clock while another is still busy. Returns the average microseconds per call on the
// slowest rank (the maximum over ranks, as nccl-tests reports).
double timeCalls(int warmupIters, int iters, const std::function<void()>& call, mixcclComm_t comm);

// The time a size reports from its rounds' times (--round-stat): "median" (the mean of the middle
// two for an even count) or "fastest". The same on every rank: each round's time is already the
// maximum over ranks.
double roundTime(std::vector<double> rounds, const std::string& stat);

void barrier(mixcclComm_t comm);
double maxOverRanks(double value, mixcclComm_t comm);
uint64_t sumOverRanks(uint64_t value, mixcclComm_t comm);

}  // namespace mixcclperf
