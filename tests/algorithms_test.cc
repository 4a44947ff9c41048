// Every registered schedule builder, simulated symbolically for every rank count from 1 to 33 and a
// range of counts, roots and both in-place modes; grouped point-to-point patterns; and hand-made
// broken schedules proving that the simulator notices what it claims to notice.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "algorithms/algorithm.h"
#include "algorithms/builder_util.h"
#include "algorithms/schedule_text.h"
#include "algorithms/simulator.h"

namespace mixccl {
namespace {

constexpr int kMaxRanks = 33;

bool isRooted(Collective c) {
  return c == Collective::Broadcast || c == Collective::Reduce || c == Collective::Gather || c == Collective::Scatter;
}

struct CountCase {
  size_t count;
  size_t chunk;
};

// Around the segment boundaries (count vs nranks), odd sizes, and several pipeline pieces.
std::vector<CountCase> countCases(int nranks) {
  const size_t n = static_cast<size_t>(nranks);
  return {{0, 0}, {1, 0}, {2, 0}, {n - 1, 0}, {n, 0}, {n + 1, 0}, {7, 0}, {1000, 0}, {1023, 0},
          {1000, 37}, {5 * n + 3, 2}};
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
    for (const CountCase& cc : countCases(nranks)) {
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
