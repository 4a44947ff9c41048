// Ranks that differ in whether they run a collective in place. NCCL lets each rank choose for itself
// (sendbuff == recvbuff on some ranks only), so every rank must still take the same algorithm, the
// same chunk size and the same measured-trial turns: the tuner decides without looking at "in
// place", and each rank builds its own schedule for its own buffers. Checked on a tuner built from
// a topology (every collective, every size bucket) and on live communicators (every all-reduce
// algorithm forced, and the tuner with its trials, every output checked in full).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/comm.h"
#include "core/tuner.h"
#include "cpu_host_topology.h"
#include "mp_harness.h"
#include "topology/decision.h"

namespace mixccl {
namespace {

using mixccl_test::runRanks;

// The tuner's pick is priced at the mean of its in-place and out-of-place schedules: the same on
// every rank whichever buffers it was given (choose() is not told; each rank builds its own schedule).
TEST(MixedInPlace, TheTunerPricesInPlaceAndOutOfPlaceAlike) {
  for (int n : {2, 3, 4, 8}) {
    const Topology t = cpuHostTopology(n, n);
    Tuner tuner(t, 0, "test");
    const CostModel model(&t);
    std::vector<int> islands = t.islands();
    int differ = 0;
    for (Collective c : {Collective::AllReduce, Collective::ReduceScatter, Collective::AllGather,
                         Collective::Broadcast, Collective::Reduce}) {
      for (size_t count = 1; count <= (size_t{1} << 22); count *= 4) {
        AlgorithmChoice choice;
        ASSERT_TRUE(tuner.choose(c, count, mixcclFloat32, &choice).isOk());
        DecisionQuery q;
        q.collective = c;
        q.count = count;
        q.elementBytes = 4;
        q.island = &islands;
        q.onlyAlgorithm = choice.algorithm->name;
        q.chunks = {choice.chunkCount * 4};
        const std::string where = std::string(collectiveName(c)) + " of " + std::to_string(count) + " floats, " +
                                  std::to_string(n) + " ranks, " + choice.algorithm->name;
        q.placement = Placement::OutOfPlace;
        const std::vector<Candidate> out = rankCandidates(model, q);
        q.placement = Placement::InPlace;
        const std::vector<Candidate> in = rankCandidates(model, q);
        ASSERT_EQ(out.size(), 1u) << where;
        ASSERT_EQ(in.size(), 1u) << where;
        EXPECT_NEAR(choice.predictedUs, 0.5 * (out[0].predictedUs + in[0].predictedUs), 1e-6 * choice.predictedUs)
            << where;
        if (std::abs(out[0].predictedUs - in[0].predictedUs) > 0.01 * out[0].predictedUs) ++differ;
      }
    }
    // Some picks do cost differently in place (a copy more or less): the mean is not a no-op.
    if (n == 2) {
      EXPECT_GT(differ, 0);
    }
  }
}

// What rank `rank` gives the call-th all-reduce at element j, and the sum over ranks.
float input(int rank, size_t j, int call) { return static_cast<float>((rank + 1) * static_cast<int>(j % 13 + 1) + call); }
float expected(int nranks, size_t j, int call) {
  return static_cast<float>(nranks * (nranks + 1) / 2) * static_cast<float>(j % 13 + 1) +
         static_cast<float>(nranks * call);
}

// Even ranks in place, odd ranks out of place: `calls` all-reduces of each size, every element checked.
void mixedAllReduces(mixcclComm_t comm, int rank, int nranks, const std::vector<size_t>& counts, int calls,
                     const std::string& what) {
  const bool inPlace = rank % 2 == 0;
  for (size_t count : counts) {
    std::vector<float> in(count), out(count);
    for (int call = 0; call < calls; ++call) {
      for (size_t j = 0; j < count; ++j) in[j] = input(rank, j, call);
      float* recv = inPlace ? in.data() : out.data();
      MP_CHECK_OK(mixcclAllReduce(in.data(), recv, count, mixcclFloat32, mixcclSum, comm, nullptr), comm);
      size_t bad = 0;
      for (size_t j = 0; j < count; ++j)
        if (recv[j] != expected(nranks, j, call)) ++bad;
      MP_EXPECT(bad == 0, "%s, count %zu, call %d, rank %d %s: %zu of %zu elements wrong", what.c_str(), count, call,
                rank, inPlace ? "in place" : "out of place", bad, count);
      if (bad != 0) return;
    }
  }
}

// 8 B and 4 KiB (the shm fast path's sizes), 32 KiB, 256 KiB and 1 MiB + 4 B (several pieces).
// The sanitizer builds (scripts/test.sh) take the small ones: the paths are the same, and a
// sanitized 4-rank megabyte costs seconds.
const std::vector<size_t> kCounts = mixccl_test::kSanitized ? std::vector<size_t>{2, 1000, 8192}
                                                            : std::vector<size_t>{2, 1000, 8192, 65536, 262145};
// Rank counts: 2 (the trials' home on a 2-core machine), 3 (not a power of two, an odd root) and 4;
// sanitized, 2 and 3.
const std::vector<int> kRankCounts = mixccl_test::kSanitized ? std::vector<int>{2, 3} : std::vector<int>{2, 3, 4};

void everyAlgorithmMixed(int rank, int nranks, const mixcclUniqueId& id) {
  mixcclComm_t parent = nullptr;
  MP_CHECK_OK(mixcclCommInitRank(&parent, nranks, id, rank), nullptr);
  for (const Algorithm& a : allAlgorithms()) {
    if (a.collective != Collective::AllReduce) continue;
    const std::string spec = std::string("allreduce:") + a.name;
    mixcclConfig_t config = MIXCCL_CONFIG_INITIALIZER;
    config.algorithms = spec.c_str();
    mixcclComm_t comm = nullptr;
    MP_CHECK_OK(mixcclCommSplit(parent, 0, rank, &comm, &config), parent);
    mixedAllReduces(comm, rank, nranks, kCounts, 2, spec);
    MP_CHECK_OK(mixcclCommDestroy(comm), nullptr);
  }
  MP_CHECK_OK(mixcclCommDestroy(parent), nullptr);
}

// The tuner, trials on (MIXCCL_TUNE_MEASURE=1, the default, whatever the caller's environment;
// where ranks outnumber cores they time blocks of calls) and built-in
// costs (the sizes on trial then do not depend on this machine's speed): kTrialMaxCalls + 8 calls a
// size, more than any trial takes, so calls run through every trial's turns and its settlement.
void tunerMixed(int rank, int nranks, const mixcclUniqueId& id) {
  setenv("MIXCCL_TUNE_MEASURE", "1", 1);
  setenv("MIXCCL_CALIBRATE", "0", 1);
  mixcclComm_t comm = nullptr;
  MP_CHECK_OK(mixcclCommInitRank(&comm, nranks, id, rank), nullptr);
  const int calls = kTrialMaxCalls + 8;
  mixedAllReduces(comm, rank, nranks, kCounts, calls, "the tuner's pick");
  MP_EXPECT(comm->tuner->trialsSettled() >= 1, "no trial settled in %zu sizes x %d calls", kCounts.size(), calls);
  MP_CHECK_OK(mixcclCommDestroy(comm), nullptr);
}

// The other collectives that have an in-place form, as NCCL defines it for each: all-gather reads
// its input from its own block of the output, reduce-scatter writes its output into its own block of
// the input, broadcast and reduce pass one buffer for both. Even ranks in place, odd ranks not.
void otherCollectiveMixed(mixcclComm_t comm, Collective c, int rank, int nranks, size_t count, const std::string& what) {
  const bool inPlace = rank % 2 == 0;
  const size_t n = static_cast<size_t>(nranks);
  const int root = nranks - 1;  // odd when nranks is even: the root's placement differs from rank 0's
  auto value = [](int r, size_t j) { return static_cast<float>((r + 1) * static_cast<int>(j % 7 + 1)); };
  auto sumOf = [&](size_t j) { return static_cast<float>(nranks * (nranks + 1) / 2) * static_cast<float>(j % 7 + 1); };
  size_t bad = 0;
  switch (c) {
    case Collective::AllGather: {
      std::vector<float> out(count * n, -1), in(count);
      float* send = inPlace ? out.data() + static_cast<size_t>(rank) * count : in.data();
      for (size_t j = 0; j < count; ++j) send[j] = value(rank, j);
      MP_CHECK_OK(mixcclAllGather(send, out.data(), count, mixcclFloat32, comm, nullptr), comm);
      for (size_t b = 0; b < n; ++b)
        for (size_t j = 0; j < count; ++j) bad += out[b * count + j] != value(static_cast<int>(b), j);
      break;
    }
    case Collective::ReduceScatter: {
      std::vector<float> in(count * n), out(count, -1);
      for (size_t j = 0; j < count * n; ++j) in[j] = value(rank, j);
      float* recv = inPlace ? in.data() + static_cast<size_t>(rank) * count : out.data();
      MP_CHECK_OK(mixcclReduceScatter(in.data(), recv, count, mixcclFloat32, mixcclSum, comm, nullptr), comm);
      for (size_t j = 0; j < count; ++j) bad += recv[j] != sumOf(static_cast<size_t>(rank) * count + j);
      break;
    }
    case Collective::Broadcast: {
      std::vector<float> in(count), out(count, -1);
      for (size_t j = 0; j < count; ++j) in[j] = rank == root ? value(root, j) : -2;
      float* recv = inPlace ? in.data() : out.data();
      MP_CHECK_OK(mixcclBroadcast(in.data(), recv, count, mixcclFloat32, root, comm, nullptr), comm);
      for (size_t j = 0; j < count; ++j) bad += recv[j] != value(root, j);
      break;
    }
    case Collective::Reduce: {
      std::vector<float> in(count), out(count, -1);
      for (size_t j = 0; j < count; ++j) in[j] = value(rank, j);
      float* recv = inPlace ? in.data() : out.data();
      MP_CHECK_OK(mixcclReduce(in.data(), recv, count, mixcclFloat32, mixcclSum, root, comm, nullptr), comm);
      if (rank == root)
        for (size_t j = 0; j < count; ++j) bad += recv[j] != sumOf(j);
      break;
    }
    default: MP_CHECK(false, "not a collective with an in-place form here");
  }
  MP_EXPECT(bad == 0, "%s, count %zu, rank %d %s: %zu elements wrong", what.c_str(), count, rank,
            inPlace ? "in place" : "out of place", bad);
}

void everyOtherAlgorithmMixed(int rank, int nranks, const mixcclUniqueId& id) {
  mixcclComm_t parent = nullptr;
  MP_CHECK_OK(mixcclCommInitRank(&parent, nranks, id, rank), nullptr);
  for (const Algorithm& a : allAlgorithms()) {
    if (a.collective != Collective::AllGather && a.collective != Collective::ReduceScatter &&
        a.collective != Collective::Broadcast && a.collective != Collective::Reduce)
      continue;
    std::string key;
    for (char ch : std::string(collectiveName(a.collective))) key += static_cast<char>(std::tolower(ch));
    const std::string spec = key + ":" + a.name;
    mixcclConfig_t config = MIXCCL_CONFIG_INITIALIZER;
    config.algorithms = spec.c_str();
    mixcclComm_t comm = nullptr;
    MP_CHECK_OK(mixcclCommSplit(parent, 0, rank, &comm, &config), parent);
    for (size_t count : {size_t{3}, mixccl_test::kSanitized ? size_t{4099} : size_t{70001}})
      otherCollectiveMixed(comm, a.collective, rank, nranks, count, spec);
    MP_CHECK_OK(mixcclCommDestroy(comm), nullptr);
  }
  // And the tuner's own picks, at sizes across its range.
  for (Collective c : {Collective::AllGather, Collective::ReduceScatter, Collective::Broadcast, Collective::Reduce})
    for (size_t count : {size_t{1}, size_t{1000}, size_t{65536}, mixccl_test::kSanitized ? size_t{4099} : size_t{300000}})
      otherCollectiveMixed(parent, c, rank, nranks, count, std::string("the tuner's ") + collectiveName(c));
  MP_CHECK_OK(mixcclCommDestroy(parent), nullptr);
}

TEST(MixedInPlace, EveryAlgorithmOfTheOtherCollectives) {
  for (int n : kRankCounts) {
    auto summary = runRanks(n, everyOtherAlgorithmMixed);
    EXPECT_TRUE(summary.ok()) << n << " ranks: " << summary.describe();
  }
}

TEST(MixedInPlace, EveryForcedAllReduceAlgorithm) {
  for (int n : kRankCounts) {
    auto summary = runRanks(n, everyAlgorithmMixed);
    EXPECT_TRUE(summary.ok()) << n << " ranks: " << summary.describe();
  }
}

TEST(MixedInPlace, TheTunerAndItsTrials) {
  for (int n : kRankCounts) {
    auto summary = runRanks(n, tunerMixed);
    EXPECT_TRUE(summary.ok()) << n << " ranks: " << summary.describe();
  }
}

}  // namespace
}  // namespace mixccl
