// Every algorithm of the registry (algorithms/registry.cc), forced with MIXCCL_ALGO=<collective>:<name>,
// run through the public API on 2, 3, 4 and 5 forked ranks: every operator on float32 and a spread of
// other types, counts
// 0, 1, 7, 1023 and 70001 (several pipeline pieces; float32 only), in place and out of place, every root, each
// whole output checked against tests/reference.* (plus unchanged inputs and guard zones).
// Odd rank counts force small pipeline pieces (MIXCCL_CHUNK_BYTES=4096) so that pipelined
// schedules run with many pieces. The hierarchical algorithms also run with ranks pretending to be
// on different hosts (MIXCCL_HOST_ID), which makes islands: one per host.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "algorithms/algorithm.h"
#include "tests/collective_cases.h"
#include "tests/mp_harness.h"

namespace mixccl_test {
namespace {

// Under the sanitizers (kSanitized) the sweep keeps 2 and 3 ranks (two algorithms' ways of handling
// a non-power of two need 3) and fewer data types.
std::vector<int> rankCounts() { return kSanitized ? std::vector<int>{2, 3} : std::vector<int>{2, 3, 4, 5}; }

Collective testCollective(mixccl::Collective c) {
  for (Collective t : allCollectives())
    if (std::string(collectiveName(t)) == mixccl::collectiveName(c)) return t;
  return Collective::SendRecv;
}

struct TypeOp {
  mixcclDataType_t type;
  Reduction reduction;
};

// The first entry also runs the large count.
std::vector<TypeOp> typeOps(Collective c) {
  if (!isReducing(c))
    return {{mixcclFloat32, Reduction::None}, {mixcclInt8, Reduction::None}, {mixcclFloat64, Reduction::None},
            {mixcclFloat16, Reduction::None}};
  return {{mixcclFloat32, Reduction::Sum},    {mixcclFloat32, Reduction::Prod},  {mixcclFloat32, Reduction::Max},
          {mixcclFloat32, Reduction::Min},    {mixcclFloat32, Reduction::Avg},   {mixcclFloat32, Reduction::PreMulSum},
          {mixcclInt32, Reduction::Max},      {mixcclBfloat16, Reduction::Sum},  {mixcclFloat16, Reduction::Sum},
          {mixcclFloat64, Reduction::Avg},    {mixcclInt64, Reduction::Prod},    {mixcclUint8, Reduction::Sum},
          {mixcclFloat8e4m3, Reduction::Max}};
}

std::vector<int> roots(Collective c, int nranks) {
  if (!isRooted(c)) return {0};
  std::vector<int> all;
  for (int r = 0; r < nranks; ++r) all.push_back(r);
  return all;
}

void runCases(RankContext& ctx, Collective c) {
  std::vector<TypeOp> combos = typeOps(c);
  if (kSanitized && combos.size() > 3) combos.resize(3);
  for (size_t i = 0; i < combos.size(); ++i) {
    for (size_t count : {size_t{0}, size_t{1}, size_t{7}, size_t{1023}, size_t{70001}}) {
      // The large count for the first combination only: it is the slow one.
      if (count == 70001 && i != 0) continue;
      for (bool inPlace : {false, true})
        for (int root : roots(c, ctx.nranks)) runCase(ctx, CaseSpec{c, combos[i].type, combos[i].reduction, count, inPlace, root});
    }
  }
}

// hostOf(rank, nranks): the MIXCCL_HOST_ID each rank pretends to have; nullptr: the real one.
using HostLayout = std::string (*)(int rank, int nranks);

void runForced(const mixccl::Algorithm& algorithm, int nranks, HostLayout hostOf) {
  const std::string forced = std::string(mixccl::collectiveName(algorithm.collective)) + ":" + algorithm.name;
  RunOptions options;
  options.deadlineSeconds = 120;
  const RunSummary summary = runRanks(
      nranks,
      [&](int rank, int n, const mixcclUniqueId& id) {
        // Set in the child before the library reads it (once per process).
        setenv("MIXCCL_ALGO", forced.c_str(), 1);
        if (n % 2 == 1) setenv("MIXCCL_CHUNK_BYTES", "4096", 1);
        if (hostOf != nullptr) setenv("MIXCCL_HOST_ID", hostOf(rank, n).c_str(), 1);
        mixcclComm_t comm = nullptr;
        MP_CHECK_OK(mixcclCommInitRank(&comm, n, id, rank), nullptr);
        RankContext ctx{comm, rank, n};
        runCases(ctx, testCollective(algorithm.collective));
        MP_CHECK_OK(mixcclCommDestroy(comm), nullptr);
      },
      options);
  EXPECT_TRUE(summary.ok()) << forced << " on " << nranks << " ranks: " << summary.describe();
}

class ForcedAlgorithm : public testing::TestWithParam<size_t> {};

TEST_P(ForcedAlgorithm, GivesReferenceResultsOn2To5Ranks) {
  const mixccl::Algorithm& algorithm = mixccl::allAlgorithms()[GetParam()];
  for (int nranks : rankCounts()) runForced(algorithm, nranks, nullptr);
}

std::string algorithmName(const testing::TestParamInfo<size_t>& info) {
  const mixccl::Algorithm& a = mixccl::allAlgorithms()[info.param];
  return std::string(a.name) + "_" + mixccl::collectiveName(a.collective);
}

INSTANTIATE_TEST_SUITE_P(Registry, ForcedAlgorithm, testing::Range(size_t{0}, mixccl::allAlgorithms().size()),
                         algorithmName);

std::string twoHosts(int rank, int nranks) { return rank < (nranks + 1) / 2 ? "mp-test-host-a" : "mp-test-host-b"; }
std::string interleavedHosts(int rank, int) { return rank % 2 == 0 ? "mp-test-host-a" : "mp-test-host-b"; }
std::string hostPerRank(int rank, int) { return "mp-test-host-" + std::to_string(rank); }

TEST(Hierarchical, EveryHierAlgorithmOverPretendHosts) {
  int tested = 0;
  for (const mixccl::Algorithm& algorithm : mixccl::allAlgorithms()) {
    if (std::string(algorithm.name) != "hier") continue;
    for (int nranks : rankCounts()) {
      runForced(algorithm, nranks, twoHosts);
      runForced(algorithm, nranks, interleavedHosts);
    }
    runForced(algorithm, 3, hostPerRank);
    ++tested;
  }
  EXPECT_GE(tested, 5);
}

}  // namespace
}  // namespace mixccl_test
