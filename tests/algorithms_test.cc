// Every registered schedule builder, simulated symbolically for every rank count from 1 to 33 and a
// range of counts, roots and both in-place modes; grouped point-to-point patterns; and hand-made
// broken schedules proving that the simulator notices what it claims to notice.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "algorithms/algorithm.h"
#include "algorithms/binary_tree.h"
#include "algorithms/builder_util.h"
#include "algorithms/builders.h"
#include "algorithms/islands.h"
#include "algorithms/schedule_text.h"
#include "algorithms/simulator.h"

namespace mixccl {
namespace {

constexpr int kMaxRanks = 33;

// The simulation is single-threaded arithmetic on symbolic cells, and every region it touches is
// range-checked by the simulator itself: the sanitizers add little and make it 5-15x slower, so
// under ASan (scripts/test.sh runs every test again there; its TSan stage leaves this file out, as
// it starts no thread) the sweeps keep every rank count up to 9 and a few larger ones. The plain
// build sweeps them all.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr bool kReducedSweep = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
constexpr bool kReducedSweep = true;
#else
constexpr bool kReducedSweep = false;
#endif
#else
constexpr bool kReducedSweep = false;
#endif

bool sweepsRankCount(int n) { return !kReducedSweep || n <= 9 || n == 16 || n == 17 || n == kMaxRanks; }

bool isRooted(Collective c) {
  return c == Collective::Broadcast || c == Collective::Reduce || c == Collective::Gather || c == Collective::Scatter;
}

struct CountCase {
  size_t count;
  size_t chunk;
};

bool scalesWithRanks(Collective c) {
  return c == Collective::AllGather || c == Collective::ReduceScatter || c == Collective::AlltoAll ||
         c == Collective::Gather || c == Collective::Scatter;
}

// Around the segment boundaries (count vs nranks), odd sizes, and several pipeline pieces. Where the
// buffers hold n blocks of `count` (all-gather, reduce-scatter, all-to-all, gather, scatter), the
// counts near 1000 stop at 17 ranks: beyond, n-1, n+1 and 5n+3 already give blocks of every shape,
// and 33 x 1023-element blocks made those sweeps most of this file's time.
std::vector<CountCase> countCases(int nranks, Collective c = Collective::AllReduce) {
  const size_t n = static_cast<size_t>(nranks);
  std::vector<CountCase> cases = {{0, 0}, {1, 0}, {2, 0}, {n - 1, 0}, {n, 0}, {n + 1, 0}, {7, 0}, {5 * n + 3, 2}};
  if (!scalesWithRanks(c) || nranks <= 17) {
    cases.push_back({1000, 0});
    cases.push_back({1023, 0});
    cases.push_back({1000, 37});
  }
  return cases;
}

// All roots for small communicators; the ends and a middle one beyond.
std::vector<int> rootsFor(Collective c, int nranks) {
  if (!isRooted(c)) return {0};
  std::vector<int> roots;
  if (nranks <= 12) {
    for (int r = 0; r < nranks; ++r) roots.push_back(r);
  } else {
    roots = {0, 1, nranks / 2, nranks - 1};
  }
  return roots;
}

class EveryAlgorithm : public testing::TestWithParam<size_t> {};

TEST_P(EveryAlgorithm, IsCorrectForEveryShape) {
  const Algorithm& algorithm = allAlgorithms()[GetParam()];
  int checked = 0;
  for (int nranks = 1; nranks <= kMaxRanks; ++nranks) {
    if (!sweepsRankCount(nranks)) continue;
    for (const CountCase& cc : countCases(nranks, algorithm.collective)) {
      for (int root : rootsFor(algorithm.collective, nranks)) {
        for (bool inPlace : {false, true}) {
          CollectiveArgs args;
          args.collective = algorithm.collective;
          args.nranks = nranks;
          args.count = cc.count;
          args.chunkCount = cc.chunk;
          args.root = root;
          args.inPlace = inPlace;
          const std::string error = simulate(args, algorithm.build);
          ASSERT_EQ(error, "");
          ++checked;
        }
      }
    }
  }
  EXPECT_GT(checked, 0);
}

std::string algorithmName(const testing::TestParamInfo<size_t>& info) {
  const Algorithm& a = allAlgorithms()[info.param];
  return std::string(a.name) + "_" + collectiveName(a.collective);
}

INSTANTIATE_TEST_SUITE_P(Registry, EveryAlgorithm, testing::Range(size_t{0}, allAlgorithms().size()), algorithmName);

TEST(Registry, EveryCollectiveHasAnAlgorithmAndLookupWorks) {
  for (Collective c : {Collective::AllReduce, Collective::Broadcast, Collective::Reduce, Collective::AllGather,
                       Collective::ReduceScatter, Collective::AlltoAll, Collective::Gather, Collective::Scatter}) {
    const auto all = allAlgorithms();
    EXPECT_TRUE(std::any_of(all.begin(), all.end(), [&](const Algorithm& a) { return a.collective == c; }))
        << collectiveName(c);
  }
  const Algorithm* ring = findAlgorithm(Collective::AllReduce, "ring");
  ASSERT_NE(ring, nullptr);
  EXPECT_STREQ(ring->name, "ring");
  EXPECT_EQ(findAlgorithm(Collective::AllReduce, "Ring"), ring);
  EXPECT_EQ(findAlgorithm(Collective::AllReduce, "pairwise"), nullptr);
  EXPECT_EQ(findAlgorithm(Collective::Broadcast, "no-such-algorithm"), nullptr);
  ASSERT_NE(findAlgorithm(Collective::Broadcast, "tree"), nullptr);
  EXPECT_EQ(findAlgorithm(Collective::Broadcast, "tree")->collective, Collective::Broadcast);
}

TEST(Simulator, RefusesWhatItCannotRepresent) {
  CollectiveArgs args;
  args.nranks = 65;
  args.count = 4;
  EXPECT_NE(simulate(args, findAlgorithm(Collective::AllReduce, "ring")->build), "");
  args.nranks = 64;  // the largest it handles: one bit per rank
  EXPECT_EQ(simulate(args, findAlgorithm(Collective::AllReduce, "ring")->build), "");
}

TEST(Builders, ChunkCountCutsTheChainIntoPieces) {
  CollectiveArgs args;
  args.collective = Collective::Broadcast;
  args.nranks = 4;
  args.rank = 1;
  args.count = 100;
  args.chunkCount = 10;
  const Schedule schedule = findAlgorithm(Collective::Broadcast, "chain")->build(args);
  size_t sends = 0;
  for (const Round& round : schedule.rounds)
    for (const Step& step : round.steps) sends += step.kind == StepKind::Send ? 1 : 0;
  EXPECT_EQ(sends, 10u) << describeSchedule(schedule);
}

TEST(Builders, SingleRankAllReduceIsOneCopyAndCountZeroIsEmpty) {
  CollectiveArgs args;
  args.count = 5;
  const Schedule one = findAlgorithm(Collective::AllReduce, "ring")->build(args);
  ASSERT_EQ(one.rounds.size(), 1u);
  ASSERT_EQ(one.rounds[0].steps.size(), 1u);
  EXPECT_EQ(one.rounds[0].steps[0].kind, StepKind::Copy);
  args.count = 0;
  args.nranks = 4;
  EXPECT_TRUE(findAlgorithm(Collective::AllReduce, "ring")->build(args).rounds.empty());
}

// ---- the algorithm suite: shapes that the registry sweep above does not reach ----

// Island layouts for n ranks: name and island index per rank.
struct Layout {
  std::string name;
  std::vector<int> island;
};

std::vector<Layout> islandLayouts(int n) {
  std::vector<Layout> layouts;
  auto add = [&](std::string name, auto islandOf) {
    Layout l{std::move(name), {}};
    for (int r = 0; r < n; ++r) l.island.push_back(islandOf(r));
    layouts.push_back(std::move(l));
  };
  add("one island", [](int) { return 0; });
  add("all singletons", [](int r) { return r; });
  for (int hosts : {2, 3, 4})
    if (n % hosts == 0 && n > hosts) add(std::to_string(hosts) + " hosts x " + std::to_string(n / hosts), [&](int r) { return r / (n / hosts); });
  add("interleaved over 2", [](int r) { return r % 2; });
  add("interleaved over 3, sparse indices", [](int r) { return 4 * (r % 3) + 1; });
  add("one rank alone, the rest together", [](int r) { return r == 0 ? 1 : 0; });
  add("uneven blocks 1,2,3,...", [](int r) {
    int island = 0;
    for (int start = 0, size = 1; start + size <= r; start += size, ++size) ++island;
    return island;
  });
  return layouts;
}

TEST(Hierarchical, EveryIslandLayoutWeightAndShape) {
  int checked = 0;
  for (int n = 1; n <= kMaxRanks; ++n) {
    if (!sweepsRankCount(n)) continue;
    for (const Layout& layout : islandLayouts(n)) {
      const int maxIsland = *std::max_element(layout.island.begin(), layout.island.end());
      std::vector<std::vector<double>> weightSets = {{}};  // {}: no weights (equal)
      std::vector<double> skewed, equal;
      for (int i = 0; i <= maxIsland; ++i) {
        skewed.push_back(1.0 + (i % 3) * 2.5);  // 1, 3.5, 6, 1, ...
        equal.push_back(2.0);
      }
      weightSets.push_back(skewed);
      weightSets.push_back(equal);
      // One island nearly weightless (the tuner's choice for a host on a throttled link).
      std::vector<double> starved = equal;
      starved.back() = 1e-3;
      weightSets.push_back(starved);
      for (const std::vector<double>& weights : weightSets) {
        // Fewer counts than the registry sweep: the layouts multiply the cases.
        for (const CountCase& cc : {CountCase{0, 0}, CountCase{1, 0}, CountCase{static_cast<size_t>(n) + 1, 0},
                                    CountCase{1023, 0}, CountCase{1000, 37}}) {
          // The starved set only with many stripes (chunk 37): enough to cover it, cheap in CI.
          if (&weights == &weightSets.back() && cc.chunk == 0) continue;
          for (bool inPlace : {false, true}) {
            CollectiveArgs args;
            args.collective = Collective::AllReduce;
            args.nranks = n;
            args.count = cc.count;
            args.chunkCount = cc.chunk;
            args.inPlace = inPlace;
            args.island = &layout.island;
            args.islandWeight = weights.empty() ? nullptr : &weights;
            ASSERT_EQ(checkIslands(args), "");
            ASSERT_EQ(simulate(args, buildHierAllReduce), "") << layout.name << ", " << weights.size() << " weights";
            ++checked;
          }
        }
      }
    }
  }
  EXPECT_GT(checked, 1000);
}

// The island-ordered rings and chains of the other collectives, over the same layouts.
TEST(Hierarchical, RingsAndChainsInIslandOrderForEveryLayout) {
  int checked = 0;
  for (Collective c : {Collective::AllGather, Collective::ReduceScatter, Collective::Broadcast, Collective::Reduce}) {
    const Algorithm* hier = findAlgorithm(c, "hier");
    ASSERT_NE(hier, nullptr) << collectiveName(c);
    for (int n : {1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 16, 17, 24, kMaxRanks}) {
      for (const Layout& layout : islandLayouts(n)) {
        // The order is all that differs from the plain ring / chain (proven above for every shape):
        // long pipelines only on small communicators, to keep the test fast.
        std::vector<CountCase> counts = {{0, 0}, {1, 0}, {static_cast<size_t>(n) + 1, 0}, {static_cast<size_t>(3 * n), 2}};
        if (n <= 9) counts.push_back({1000, 37});
        for (const CountCase& cc : counts) {
          for (int root : isRooted(c) ? std::vector<int>{0, n / 2, n - 1} : std::vector<int>{0}) {
            for (bool inPlace : {false, true}) {
              CollectiveArgs args;
              args.collective = c;
              args.nranks = n;
              args.count = cc.count;
              args.chunkCount = cc.chunk;
              args.root = root;
              args.inPlace = inPlace;
              args.island = &layout.island;
              ASSERT_EQ(simulate(args, hier->build), "") << layout.name;
              ++checked;
            }
          }
        }
      }
    }
  }
  EXPECT_GT(checked, 1000);
}

TEST(Hierarchical, IslandOrderCrossesEachIslandBoundaryOnce) {
  const std::vector<int> island = {1, 0, 1, 0, 2, 1};  // islands 0: {1,3}, 1: {0,2,5}, 2: {4}
  CollectiveArgs args;
  args.nranks = 6;
  args.island = &island;
  const RankOrder order = islandOrder(islandLayout(args), 2);
  EXPECT_EQ(order.rankAt, (std::vector<int>{2, 0, 5, 4, 1, 3}));
  size_t crossings = 0;
  for (size_t p = 0; p < order.size(); ++p)
    crossings += island[static_cast<size_t>(order.rankAt[p])] != island[static_cast<size_t>(order.rankAfter(p, 1))];
  EXPECT_EQ(crossings, 3u);  // a ring over three islands
}

// Elements that `rank` reduces locally (Reduce steps) in its hierarchical schedule.
size_t reducedElements(const CollectiveArgs& proto, int rank) {
  CollectiveArgs args = proto;
  args.rank = rank;
  size_t total = 0;
  for (const Round& round : buildHierAllReduce(args).rounds)
    for (const Step& step : round.steps) total += step.kind == StepKind::Reduce ? step.dst.count : 0;
  return total;
}

TEST(Hierarchical, WeightsSetEachIslandsShareOfTheCrossIslandWork) {
  const std::vector<int> island = {0, 0, 1, 1};  // 2 hosts x 2 ranks
  const std::vector<double> weights = {3.0, 1.0};
  CollectiveArgs args;
  args.nranks = 4;
  args.count = 4000;
  args.island = &island;
  args.islandWeight = &weights;
  // Each rank holds half the buffer after the in-island step; island 0 reduces 3/4 of it.
  EXPECT_EQ(reducedElements(args, 0), 1500u);
  EXPECT_EQ(reducedElements(args, 1), 1500u);
  EXPECT_EQ(reducedElements(args, 2), 500u);
  EXPECT_EQ(reducedElements(args, 3), 500u);
  args.islandWeight = nullptr;
  EXPECT_EQ(reducedElements(args, 0), 1000u);
  EXPECT_EQ(reducedElements(args, 2), 1000u);
  EXPECT_EQ(simulate(args, buildHierAllReduce), "");
}

TEST(Hierarchical, BadIslandDescriptionsAreExplained) {
  CollectiveArgs args;
  args.nranks = 3;
  const std::vector<int> tooShort = {0, 1};
  args.island = &tooShort;
  EXPECT_NE(checkIslands(args).find("2 entries for 3 ranks"), std::string::npos) << checkIslands(args);
  const std::vector<int> island = {0, 2, 2};
  args.island = &island;
  EXPECT_EQ(checkIslands(args), "");
  const std::vector<double> fewWeights = {1.0, 1.0};
  args.islandWeight = &fewWeights;
  EXPECT_NE(checkIslands(args).find("only 2 island weights"), std::string::npos) << checkIslands(args);
  const std::vector<double> zero = {1.0, 1.0, 0.0};
  args.islandWeight = &zero;
  EXPECT_NE(checkIslands(args).find("positive"), std::string::npos) << checkIslands(args);
  // A builder given such a description still produces a correct schedule (one island).
  args.count = 10;
  EXPECT_EQ(simulate(args, buildHierAllReduce), "");
}

size_t commRounds(const Schedule& schedule) {
  size_t rounds = 0;
  for (const Round& round : schedule.rounds)
    rounds += std::any_of(round.steps.begin(), round.steps.end(),
                          [](const Step& s) { return s.kind != StepKind::Copy && s.kind != StepKind::Reduce; });
  return rounds;
}

size_t ceilLog2(size_t n) {
  size_t k = 0;
  while ((size_t{1} << k) < n) ++k;
  return k;
}

TEST(Builders, LogarithmicAlgorithmsTakeLogarithmicRounds) {
  for (int n = 2; n <= kMaxRanks; ++n) {
    const size_t un = static_cast<size_t>(n);
    size_t p = 1;
    while (p * 2 <= un) p *= 2;
    const size_t fold = p == un ? 0 : 2;
    for (int rank = 0; rank < n; ++rank) {
      CollectiveArgs args;
      args.nranks = n;
      args.rank = rank;
      args.count = 4096;
      // Ranks of a folded pair: the even one sends and receives once, the odd one adds both to
      // the exchanges; the other ranks only exchange.
      const bool paired = rank < 2 * static_cast<int>(un - p);
      const size_t rounds = paired ? (rank % 2 == 0 ? 2 : ceilLog2(p) + fold) : ceilLog2(p);
      EXPECT_EQ(commRounds(buildRecDoublingAllReduce(args)), rounds) << n << " ranks, rank " << rank;
      EXPECT_LE(commRounds(buildRabenseifnerAllReduce(args)), 2 * ceilLog2(p) + fold) << n << " ranks";
      EXPECT_EQ(commRounds(buildOneShotAllReduce(args)), 1u);
      EXPECT_EQ(commRounds(buildTwoShotAllReduce(args)), 2u);
      args.collective = Collective::AlltoAll;
      args.count = 3;
      EXPECT_EQ(commRounds(buildBruckAlltoAll(args)), ceilLog2(un)) << n << " ranks";
      args.collective = Collective::AllGather;
      EXPECT_LE(commRounds(buildRecDoublingAllGather(args)), ceilLog2(p) + fold) << n << " ranks";
    }
  }
}

TEST(DoubleBinaryTree, TwoShallowTreesThatMostlyDoNotShareInnerNodes) {
  for (size_t n = 2; n <= 64; ++n) {
    for (size_t root : {size_t{0}, n / 2, n - 1}) {
      std::vector<size_t> parentCount(n, 0);
      size_t innerInBoth = 0;
      for (size_t rank = 0; rank < n; ++rank) {
        const TreeNode a = treeNode(n, root, rank, 0), b = treeNode(n, root, rank, 1);
        for (const TreeNode* node : {&a, &b}) {
          EXPECT_LE(node->children.size(), 2u) << n << " ranks, rank " << rank;
          EXPECT_LE(static_cast<size_t>(node->depth), ceilLog2(n) + 1) << n << " ranks, rank " << rank;
          EXPECT_EQ(node->parent < 0, rank == root);
          for (int child : node->children) {
            EXPECT_EQ(treeNode(n, root, static_cast<size_t>(child), node == &a ? 0 : 1).parent, static_cast<int>(rank));
            ++parentCount[static_cast<size_t>(child)];
          }
        }
        if (rank != root && !a.children.empty() && !b.children.empty()) ++innerInBoth;
      }
      for (size_t rank = 0; rank < n; ++rank) EXPECT_EQ(parentCount[rank], rank == root ? 0u : 2u);
      EXPECT_LE(innerInBoth, 1u + n / 8) << n << " ranks, root " << root;
    }
  }
}

// ---- grouped point-to-point ----

P2POp send(int peer, size_t count) { return {true, peer, count}; }
P2POp recv(int peer, size_t count) { return {false, peer, count}; }

TEST(P2P, RingShiftsInBothDirections) {
  for (int n = 1; n <= kMaxRanks; ++n) {
    for (int shift : {1, -1, 2}) {
      std::vector<std::vector<P2POp>> ops(static_cast<size_t>(n));
      for (int r = 0; r < n; ++r) {
        ops[static_cast<size_t>(r)].push_back(recv(((r - shift) % n + n) % n, 17));
        ops[static_cast<size_t>(r)].push_back(send(((r + shift) % n + n) % n, 17));
      }
      EXPECT_EQ(simulateP2P(ops), "") << n << " ranks, shift " << shift;
    }
  }
}

TEST(P2P, AllPairsWithDistinctSizes) {
  const int n = 9;
  std::vector<std::vector<P2POp>> ops(n);
  for (int r = 0; r < n; ++r)
    for (int p = 0; p < n; ++p) {
      if (p == r) continue;
      ops[static_cast<size_t>(r)].push_back(send(p, static_cast<size_t>(r * 10 + p + 1)));
      ops[static_cast<size_t>(r)].push_back(recv(p, static_cast<size_t>(p * 10 + r + 1)));
    }
  EXPECT_EQ(simulateP2P(ops), "");
}

TEST(P2P, RankSendsToItself) {
  std::vector<std::vector<P2POp>> ops = {{send(0, 8), recv(0, 8)}, {recv(1, 3), send(1, 3)}};
  EXPECT_EQ(simulateP2P(ops), "");
}

TEST(P2P, SeveralMessagesToTheSamePeerKeepTheirOrder) {
  std::vector<std::vector<P2POp>> ops = {{send(1, 4), send(1, 9), send(1, 1), recv(1, 2)},
                                         {recv(0, 4), send(0, 2), recv(0, 9), recv(0, 1)}};
  EXPECT_EQ(simulateP2P(ops), "");
}

TEST(P2P, CycleWhereEveryoneSendsFirst) {
  const int n = 6;
  std::vector<std::vector<P2POp>> ops(n);
  for (int r = 0; r < n; ++r) {
    ops[static_cast<size_t>(r)].push_back(send((r + 1) % n, 5));
    ops[static_cast<size_t>(r)].push_back(recv((r + n - 1) % n, 5));
  }
  EXPECT_EQ(simulateP2P(ops), "");
}

TEST(P2P, ZeroCountOpsTakeNoPartInMatching) {
  std::vector<std::vector<P2POp>> ops = {{send(1, 0), send(1, 6)}, {recv(0, 6)}};
  EXPECT_EQ(simulateP2P(ops), "");
}

TEST(P2P, MismatchedSizesAndMissingPartnersAreReported) {
  EXPECT_NE(simulateP2P({{send(1, 4)}, {recv(0, 5)}}), "");
  const std::string missing = simulateP2P({{send(1, 4)}, {}});
  EXPECT_NE(missing.find("deadlock"), std::string::npos) << missing;
}

// ---- the simulator catches broken schedules ----

Step makeSend(int peer, Region src) { return {StepKind::Send, peer, src, {}, {}}; }
Step makeRecv(int peer, Region dst) { return {StepKind::Recv, peer, {}, {}, dst}; }
Step makeRecvReduce(int peer, Region local, Region dst) { return {StepKind::RecvReduce, peer, local, {}, dst}; }
Step makeCopy(Region src, Region dst) { return {StepKind::Copy, -1, src, {}, dst}; }

Schedule oneRoundEach(std::vector<Step> steps) {
  Schedule s;
  s.algorithm = "hand-made";
  s.rounds.push_back({std::move(steps)});
  return s;
}

CollectiveArgs twoRankAllReduce(size_t count) {
  CollectiveArgs args;
  args.collective = Collective::AllReduce;
  args.nranks = 2;
  args.count = count;
  return args;
}

// A correct 2-rank AllReduce by exchange, as the baseline the broken variants deviate from.
std::vector<Schedule> exchangeAllReduce(size_t count) {
  std::vector<Schedule> schedules;
  for (int r = 0; r < 2; ++r)
    schedules.push_back(oneRoundEach({makeSend(1 - r, region(Buf::Input, 0, count)),
                                      makeRecvReduce(1 - r, region(Buf::Input, 0, count), region(Buf::Output, 0, count))}));
  return schedules;
}

TEST(SimulatorCatches, NothingInACorrectHandMadeSchedule) {
  EXPECT_EQ(simulateSchedules(twoRankAllReduce(4), exchangeAllReduce(4)), "");
}

TEST(SimulatorCatches, Deadlock) {
  // Both ranks receive first, in a round of its own, then send: each waits for the other.
  std::vector<Schedule> schedules;
  for (int r = 0; r < 2; ++r) {
    Schedule s;
    s.algorithm = "hand-made";
    s.rounds.push_back({{makeRecvReduce(1 - r, region(Buf::Input, 0, 4), region(Buf::Output, 0, 4))}});
    s.rounds.push_back({{makeSend(1 - r, region(Buf::Input, 0, 4))}});
    schedules.push_back(s);
  }
  const std::string error = simulateSchedules(twoRankAllReduce(4), schedules);
  EXPECT_NE(error.find("deadlock"), std::string::npos) << error;
  EXPECT_NE(error.find("rank 1 is stuck in round 0"), std::string::npos) << error;
}

TEST(SimulatorCatches, DoubleCountedContribution) {
  std::vector<Schedule> schedules = exchangeAllReduce(4);
  // Rank 0 folds its own input in a second time.
  Step again = {StepKind::Reduce, -1, region(Buf::Output, 0, 4), region(Buf::Input, 0, 4), region(Buf::Output, 0, 4)};
  schedules[0].rounds.push_back({{again}});
  const std::string error = simulateSchedules(twoRankAllReduce(4), schedules);
  EXPECT_NE(error.find("twice"), std::string::npos) << error;
}

TEST(SimulatorCatches, MissingContribution) {
  std::vector<Schedule> schedules = exchangeAllReduce(4);
  // Rank 1 receives without reducing: it ends with rank 0's data only.
  schedules[1].rounds[0].steps[1] = makeRecv(0, region(Buf::Output, 0, 4));
  const std::string error = simulateSchedules(twoRankAllReduce(4), schedules);
  EXPECT_NE(error.find("missing"), std::string::npos) << error;
  EXPECT_NE(error.find("rank 1"), std::string::npos) << error;
}

TEST(SimulatorCatches, CountMismatch) {
  std::vector<Schedule> schedules = exchangeAllReduce(4);
  schedules[0].rounds[0].steps[0].src.count = 3;
  const std::string error = simulateSchedules(twoRankAllReduce(4), schedules);
  EXPECT_NE(error.find("element counts differ"), std::string::npos) << error;
}

TEST(SimulatorCatches, UninitializedRead) {
  std::vector<Schedule> schedules = exchangeAllReduce(4);
  // Rank 0 sends its Output before anything was written there.
  schedules[0].rounds[0].steps[0].src.buf = Buf::Output;
  schedules[0].rounds[0].steps[1].dst = region(Buf::Scratch, 0, 4);
  schedules[0].scratchCount = 4;
  const std::string error = simulateSchedules(twoRankAllReduce(4), schedules);
  EXPECT_NE(error.find("never written"), std::string::npos) << error;
}

TEST(SimulatorCatches, OutOfRangeRegions) {
  std::vector<Schedule> schedules = exchangeAllReduce(4);
  schedules[1].rounds[0].steps[0].src.offset = 1;  // Input[1..5) of a 4-element buffer
  std::string error = simulateSchedules(twoRankAllReduce(4), schedules);
  EXPECT_NE(error.find("out of range"), std::string::npos) << error;

  schedules = exchangeAllReduce(4);
  schedules[0].rounds[0].steps[1].dst = region(Buf::Scratch, 0, 4);  // no scratch asked for
  error = simulateSchedules(twoRankAllReduce(4), schedules);
  EXPECT_NE(error.find("out of range"), std::string::npos) << error;
}

TEST(SimulatorCatches, NonRootWritingItsReduceOutput) {
  CollectiveArgs args;
  args.collective = Collective::Reduce;
  args.nranks = 2;
  args.count = 3;
  std::vector<Schedule> schedules = {
      oneRoundEach({makeRecvReduce(1, region(Buf::Input, 0, 3), region(Buf::Output, 0, 3))}),
      oneRoundEach({makeSend(0, region(Buf::Input, 0, 3)), makeCopy(region(Buf::Input, 0, 3), region(Buf::Output, 0, 3))})};
  const std::string error = simulateSchedules(args, schedules);
  EXPECT_NE(error.find("not significant"), std::string::npos) << error;
}

TEST(SimulatorCatches, WritingInput) {
  std::vector<Schedule> schedules = exchangeAllReduce(4);
  schedules[0].rounds[0].steps[1].dst = region(Buf::Input, 0, 4);
  const std::string error = simulateSchedules(twoRankAllReduce(4), schedules);
  EXPECT_NE(error.find("read-only"), std::string::npos) << error;
}

TEST(SimulatorCatches, OverlappingWritesInOneRound) {
  std::vector<Schedule> schedules = exchangeAllReduce(4);
  // Rank 0 receives into the very cells it is sending from (out of place, Output is sent).
  schedules[0].rounds.insert(schedules[0].rounds.begin(), Round{{makeCopy(region(Buf::Input, 0, 4), region(Buf::Output, 0, 4))}});
  schedules[0].rounds[1].steps[0].src = region(Buf::Output, 0, 4);
  const std::string error = simulateSchedules(twoRankAllReduce(4), schedules);
  EXPECT_NE(error.find("same round"), std::string::npos) << error;
}

TEST(SimulatorCatches, InPlaceAliasingClobber) {
  // AlltoAll in place, 2 ranks: receiving straight over the block still to be sent in the same
  // round is an overlap; the simulator sees it only because it aliases Input and Output.
  CollectiveArgs args;
  args.collective = Collective::AlltoAll;
  args.nranks = 2;
  args.count = 2;
  args.inPlace = true;
  std::vector<Schedule> schedules;
  for (int r = 0; r < 2; ++r) {
    const size_t other = static_cast<size_t>(1 - r) * 2;
    schedules.push_back(oneRoundEach({makeSend(1 - r, region(Buf::Input, other, 2)), makeRecv(1 - r, region(Buf::Output, other, 2))}));
  }
  const std::string error = simulateSchedules(args, schedules);
  EXPECT_NE(error.find("same round"), std::string::npos) << error;
}

TEST(SimulatorCatches, WrongDataInADataMovementCollective) {
  // Broadcast whose root sends the wrong slice: rank 1 ends with shifted data and a hole.
  CollectiveArgs args;
  args.collective = Collective::Broadcast;
  args.nranks = 2;
  args.count = 4;
  std::vector<Schedule> schedules = {
      oneRoundEach({makeCopy(region(Buf::Input, 0, 4), region(Buf::Output, 0, 4)), makeSend(1, region(Buf::Input, 1, 3))}),
      oneRoundEach({makeRecv(0, region(Buf::Output, 0, 3))})};
  const std::string error = simulateSchedules(args, schedules);
  EXPECT_NE(error.find("rank 1's result is wrong"), std::string::npos) << error;
}

}  // namespace
}  // namespace mixccl
