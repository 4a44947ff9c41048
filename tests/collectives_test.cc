// The correctness matrix of the public API: every collective x every data type x every reduction x
// counts 0, 1, 7, 1023, 1M+3 x in place and out of place x roots (0, a middle one, the last), on 1,
// 2, 3, 4, 5 and 8 ranks. Each rank count forks its ranks once and runs every case on one
// communicator, so initialization is paid once per rank count.
#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "tests/collective_cases.h"
#include "tests/mp_harness.h"

namespace mixccl_test {
namespace {

constexpr size_t kBigCount = 1048579;  // 1M + 3: not a multiple of any chunk or rank count
const std::vector<size_t> kCounts = {0, 1, 7, 1023, kBigCount};

// MIXCCL_TEST_FULL=1 runs the big count for every case.
bool fullMatrix() {
  const char* v = std::getenv("MIXCCL_TEST_FULL");
  return v != nullptr && std::strcmp(v, "0") != 0;
}

// The full matrix at 1M+3 elements (every op x every type x placement x root, 8 ranks sharing 2
// cores) takes far longer than this file's ~5 minute budget. The big count therefore runs for every
// type with sum, for float32 with every op, and for every type in the collectives that only move
// data; small counts cover every combination. At 5 and 8 ranks the big count runs one type of each
// element size (int8, bfloat16, float32, float64): there it exercises the pieces and pipelines of
// the algorithms, which depend on the element size, not on the type; every type's arithmetic is
// checked at 5 and 8 ranks with the small counts and at 1-4 ranks with the big one. Alone on the
// 2-core build machine the 8-rank run took 175 s before and 67 s after, the 5-rank run 163 s
// before (CI keeps to 40 minutes). Most of what remained was the test's own work, not the
// library's: generating every rank's inputs again to check each result, and faulting in fresh
// buffers for every case; with the generator's per-buffer set-up (reference.cc) and freed memory
// kept (mp_harness.cc), the 8-rank big count takes about 22 s (69 before) and the 4-rank one
// 14 s (45 before); the small counts take a second or two. The sanitizer builds (kSanitized) do the
// same at every rank count: what ASan looks for in a type's kernels (reads and writes past the end)
// shows at the small odd counts, and TSan's stage runs two types anyway; under ASan the 3-rank big
// count for every type took 142 s. MIXCCL_TEST_FULL=1 runs everything.
bool runsBigCount(const CaseSpec& s, int nranks) {
  if (fullMatrix()) return true;
  if ((nranks >= 5 || kSanitized) && s.type != mixcclInt8 && s.type != mixcclBfloat16 && s.type != mixcclFloat32 &&
      s.type != mixcclFloat64)
    return false;
  if (!isReducing(s.collective)) return true;
  return s.reduction == Reduction::Sum || s.type == mixcclFloat32;
}

// MIXCCL_TEST_ONLY=AllReduce,float32,sum,1023 narrows the matrix to the named collectives / types /
// reductions / counts, for reproducing one failure quickly; a dimension none of whose names is listed is
// not narrowed.
std::vector<std::string> onlyNames() {
  std::vector<std::string> names;
  const char* v = std::getenv("MIXCCL_TEST_ONLY");
  std::string item;
  for (const char* p = v ? v : ""; ; ++p) {
    if (*p == ',' || *p == '\0') {
      if (!item.empty()) names.push_back(item);
      item.clear();
      if (*p == '\0') break;
    } else {
      item += *p;
    }
  }
  return names;
}
bool dimensionSelected(const std::vector<std::string>& dimension, const char* name) {
  static const std::vector<std::string> only = onlyNames();
  bool narrowed = false;
  for (const auto& n : dimension) {
    for (const auto& o : only) narrowed = narrowed || o == n;
  }
  if (!narrowed) return true;
  for (const auto& o : only) {
    if (o == name) return true;
  }
  return false;
}

std::vector<int> rootsFor(Collective c, int nranks) {
  if (c == Collective::SendRecv) {  // ring shift distances: next rank, previous rank
    return nranks > 2 ? std::vector<int>{1, nranks - 1} : std::vector<int>{1};
  }
  if (!isRooted(c)) return {0};
  std::vector<int> roots = {0};
  if (nranks / 2 != 0 && nranks / 2 != nranks - 1) roots.push_back(nranks / 2);
  if (nranks > 1) roots.push_back(nranks - 1);
  return roots;
}

void runMatrix(RankContext& ctx) {
  using Clock = std::chrono::steady_clock;
  std::vector<std::string> collNames, typeNames, redNames;
  for (Collective c : allCollectives()) collNames.push_back(collectiveName(c));
  for (mixcclDataType_t t : allTypes()) typeNames.push_back(typeName(t));
  for (Reduction r : allReductions()) redNames.push_back(reductionName(r));
  std::vector<std::string> countNames;  // counts are named by their decimal value
  for (size_t n : kCounts) countNames.push_back(std::to_string(n));
  for (Collective c : allCollectives()) {
    if (!dimensionSelected(collNames, collectiveName(c))) continue;
    const auto start = Clock::now();
    size_t cases = 0;
    const std::vector<Reduction> reductions = isReducing(c) ? allReductions() : std::vector<Reduction>{Reduction::None};
    for (mixcclDataType_t type : allTypes()) {
      if (!dimensionSelected(typeNames, typeName(type))) continue;
      for (Reduction r : reductions) {
        if (r != Reduction::None && !dimensionSelected(redNames, reductionName(r))) continue;
        for (size_t count : kCounts) {
          if (!dimensionSelected(countNames, std::to_string(count).c_str())) continue;
          for (bool inPlace : {false, true}) {
            if (c == Collective::SendRecv && inPlace) continue;  // no in-place form
            for (int root : rootsFor(c, ctx.nranks)) {
              CaseSpec spec{c, type, r, count, inPlace, root};
              if (count == kBigCount && !runsBigCount(spec, ctx.nranks)) continue;
              runCase(ctx, spec);
              ++cases;
            }
          }
        }
      }
    }
    if (ctx.rank == 0) {
      const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
      std::printf("[rank 0] %d ranks: %s: %zu cases in %.1f s\n", ctx.nranks, collectiveName(c), cases, seconds);
      std::fflush(stdout);
    }
  }
}

class CollectivesMatrix : public ::testing::TestWithParam<int> {};

TEST_P(CollectivesMatrix, EveryCollectiveTypeOpCountPlacementAndRoot) {
  RunOptions options;
  options.deadlineSeconds = 540;  // under ctest's 600 s, so a hang is reported by rank
  const RunSummary summary = runRanks(
      GetParam(),
      [](int rank, int nranks, const mixcclUniqueId& id) {
        mixcclComm_t comm = nullptr;
        MP_CHECK_OK(mixcclCommInitRank(&comm, nranks, id, rank), nullptr);
        RankContext ctx{comm, rank, nranks};
        runMatrix(ctx);
        MP_CHECK_OK(mixcclCommDestroy(comm), nullptr);
      },
      options);
  EXPECT_TRUE(summary.ok()) << summary.describe();
}

INSTANTIATE_TEST_SUITE_P(Ranks, CollectivesMatrix, ::testing::Values(1, 2, 3, 4, 5, 8),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return std::to_string(info.param) + "ranks";
                         });

// The harness itself must report failures, crashes and hangs, or every test above could pass
// without checking anything.
TEST(MpHarness, ReportsExitCodesSignalsAndHangs) {
  RunOptions options;
  options.deadlineSeconds = 3;
  options.graceAfterFailureSeconds = 1;
  const RunSummary summary = runRanks(
      4,
      [](int rank, int, const mixcclUniqueId&) {
        if (rank == 1) MP_EXPECT(rank == 0, "rank %d fails on purpose", rank);
        if (rank == 2) raise(SIGKILL);  // a signal no sanitizer runtime intercepts
        if (rank == 3) pause();  // hangs until killed
      },
      options);
  ASSERT_EQ(summary.ranks.size(), 4u);
  EXPECT_FALSE(summary.ok());
  EXPECT_TRUE(summary.ranks[0].finished && summary.ranks[0].exitCode == 0);
  EXPECT_EQ(summary.ranks[1].exitCode, 1);
  EXPECT_EQ(summary.ranks[2].signal, SIGKILL);
  EXPECT_FALSE(summary.ranks[3].finished);
  const std::string text = summary.describe();
  EXPECT_NE(text.find("rank 1 exited with code 1"), std::string::npos) << text;
  EXPECT_NE(text.find("rank 2 was killed by signal"), std::string::npos) << text;
  EXPECT_NE(text.find("rank 3"), std::string::npos) << text;

  const RunSummary hang = runRanks(
      2, [](int rank, int, const mixcclUniqueId&) { if (rank == 1) pause(); }, options);
  EXPECT_FALSE(hang.ok());
  EXPECT_NE(hang.describe().find("rank 1 did not finish by the deadline: hang?"), std::string::npos) << hang.describe();
}

}  // namespace
}  // namespace mixccl_test
