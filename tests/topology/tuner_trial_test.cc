// The tuner's measured trials (core/tuner.h): where the model ranks algorithms close together, a
// bucket's first calls take turns between them, the ranks agree on the times, and the fastest
// wins. On a tuner built from a topology: the turns, the settlement, the margin, and where trials
// are not made. On live communicators (multi-process): every call stays right through a trial and
// after it, and every rank settles on the same algorithm.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/comm.h"
#include "core/tuner.h"
#include "cpu_host_topology.h"
#include "mp_harness.h"

namespace mixccl {
namespace {

using mixccl_test::runRanks;

// The first all-reduce size (floats, powers of two from 1) whose bucket the tuner puts on trial, 0
// if none up to 16 Mi elements. Asking without mayTrial neither starts nor advances a trial's turns.
size_t firstTrialCount(Tuner& tuner, AlgorithmChoice* first) {
  for (size_t count = 1; count <= (size_t{1} << 24); count *= 2) {
    AlgorithmChoice c;
    EXPECT_TRUE(tuner.choose(Collective::AllReduce, count, mixcclFloat32, &c, true).isOk());
    if (c.trial) {
      *first = c;
      return count;
    }
  }
  return 0;
}

// Runs a trial to its end, timing candidate `fastSlot` at fastUs and the others at slowUs; returns
// the algorithm each slot ran. `calls` counts the calls that took a turn, `gapCalls` the untimed
// lead-in calls before them: the same number before every turn but the first, each of its turn's
// candidate.
std::map<int, const Algorithm*> runTrial(Tuner& tuner, size_t count, AlgorithmChoice c, int fastSlot, double fastUs,
                                         double slowUs, int* calls, int* gapCalls = nullptr) {
  std::map<int, const Algorithm*> slots;
  std::vector<const Algorithm*> warmups;
  std::vector<int> gaps;
  int leadIn = 0;
  const Algorithm* leadAlgo = nullptr;
  *calls = 1;
  for (;;) {
    if (c.trialGap) {  // a lead-in call: untimed, no turn
      EXPECT_TRUE(leadAlgo == nullptr || leadAlgo == c.algorithm) << "a lead-in of two candidates";
      EXPECT_EQ(c.trialSlot, -1);
      leadAlgo = c.algorithm;
      EXPECT_FALSE(tuner.recordTrial(c, slowUs));
      EXPECT_TRUE(tuner.choose(Collective::AllReduce, count, mixcclFloat32, &c, true).isOk());
      EXPECT_NE(c.trial, nullptr);
      if (!c.trial || ++leadIn > kTrialMaxGap) break;
      continue;
    }
    if (*calls > 1) gaps.push_back(leadIn);
    EXPECT_TRUE(leadAlgo == nullptr || leadAlgo == c.algorithm) << "a lead-in of another candidate than its turn's";
    leadIn = 0;
    leadAlgo = nullptr;
    if (c.trialSlot >= 0) {
      EXPECT_TRUE(slots.count(c.trialSlot) == 0 || slots[c.trialSlot] == c.algorithm);
      slots[c.trialSlot] = c.algorithm;
    } else {
      EXPECT_TRUE(slots.empty()) << "an untimed turn after a timed one";
      warmups.push_back(c.algorithm);
    }
    bool last = tuner.recordTrial(c, c.trialSlot == fastSlot ? fastUs : slowUs);
    EXPECT_EQ(last, c.trialLast);
    if (last) break;
    AlgorithmChoice model;  // a grouped call meanwhile: the model's pick, no turn taken
    EXPECT_TRUE(tuner.choose(Collective::AllReduce, count, mixcclFloat32, &model).isOk());
    EXPECT_EQ(model.trial, nullptr);
    EXPECT_TRUE(tuner.choose(Collective::AllReduce, count, mixcclFloat32, &c, true).isOk());
    EXPECT_NE(c.trial, nullptr);
    if (!c.trial || ++*calls > 1000) break;
  }
  for (int g : gaps) EXPECT_EQ(g, gaps.front()) << "lead-ins of unequal lengths";
  if (gapCalls != nullptr) *gapCalls = gaps.empty() ? 0 : gaps.front() * static_cast<int>(gaps.size());
  std::vector<double> times = tuner.trialTimes(c);
  EXPECT_EQ(times.size(), slots.size());
  // Every candidate's untimed turns come first, in the candidates' order.
  EXPECT_EQ(warmups.size(), kTrialWarmupRounds * slots.size());
  for (size_t i = 0; i < warmups.size(); ++i) EXPECT_EQ(warmups[i], slots[static_cast<int>(i % slots.size())]);
  tuner.settleTrial(c, times);
  return slots;
}

TEST(TunerTrial, CloseCandidatesTakeTurnsAndTheFastestWins) {
  Tuner tuner(cpuHostTopology(4, 4), 0, "test");
  ASSERT_TRUE(tuner.measures());
  AlgorithmChoice first;
  size_t count = firstTrialCount(tuner, &first);
  ASSERT_GT(count, 0u) << "no size of a 4-rank cpu all-reduce has candidates within " << kTrialWithin << "x";
  const Algorithm* modelPick = first.algorithm;
  int calls = 0, gapCalls = 0;
  std::map<int, const Algorithm*> slots = runTrial(tuner, count, first, 1, 10.0, 20.0, &calls, &gapCalls);
  ASSERT_GE(slots.size(), 2u);
  // A cheap size: its trial is spread out by the most lead-in calls before each turn but the first.
  EXPECT_EQ(gapCalls, (calls - 1) * kTrialMaxGap);
  EXPECT_LE(calls + gapCalls, kTrialMaxCalls);
  EXPECT_LE(slots.size(), kTrialCandidates);
  EXPECT_EQ(slots[0], modelPick);  // the model's pick is candidate 0
  EXPECT_NE(slots[1], modelPick);
  EXPECT_GE(calls, (kTrialWarmupRounds + kTrialMinSamples) * static_cast<int>(slots.size()));
  EXPECT_LE(calls, (kTrialWarmupRounds + kTrialMaxSamples) * static_cast<int>(slots.size()));
  EXPECT_EQ(tuner.trialsSettled(), 1);

  AlgorithmChoice after;
  ASSERT_TRUE(tuner.choose(Collective::AllReduce, count, mixcclFloat32, &after, true).isOk());
  EXPECT_EQ(after.trial, nullptr);
  EXPECT_EQ(after.algorithm, slots[1]);  // measured fastest, by half
}

TEST(TunerTrial, TheModelsPickStaysUnlessClearlyBeaten) {
  Tuner tuner(cpuHostTopology(4, 4), 0, "test");
  AlgorithmChoice first;
  size_t count = firstTrialCount(tuner, &first);
  ASSERT_GT(count, 0u);
  const Algorithm* modelPick = first.algorithm;
  int calls = 0;
  // Candidate 1 is 2 % faster: inside the margin, so the model's pick stays.
  runTrial(tuner, count, first, 1, 9.8, 10.0, &calls);
  AlgorithmChoice after;
  ASSERT_TRUE(tuner.choose(Collective::AllReduce, count, mixcclFloat32, &after, true).isOk());
  EXPECT_EQ(after.trial, nullptr);
  EXPECT_EQ(after.algorithm, modelPick);
}

TEST(TunerTrial, NoTrialsWhenForcedTurnedOffOrOnDevices) {
  {
    Tuner tuner(cpuHostTopology(4, 4), 0, "test");
    tuner.forceAlgorithms("allreduce:ring", "test");
    AlgorithmChoice c;
    EXPECT_EQ(firstTrialCount(tuner, &c), 0u);
  }
  {
    setenv("MIXCCL_TUNE_MEASURE", "0", 1);
    Tuner tuner(cpuHostTopology(4, 4), 0, "test");
    unsetenv("MIXCCL_TUNE_MEASURE");
    EXPECT_FALSE(tuner.measures());
    AlgorithmChoice c;
    EXPECT_EQ(firstTrialCount(tuner, &c), 0u);
  }
  {
    // More ranks than cores: trials there time blocks of calls (the next test), one call at a time
    // with a core per rank.
    Topology t = cpuHostTopology(4, 4);
    EXPECT_FALSE(Tuner(t, 0, "test").timesBlocks());
    t.hosts[0].cores = 2;
    Tuner oversubscribed(t, 0, "test");
    EXPECT_TRUE(oversubscribed.measures());
    EXPECT_TRUE(oversubscribed.timesBlocks());
  }
  {
    // A device rank's call may only enqueue work: its time on the host says nothing.
    Topology t = cpuHostTopology(4, 4);
    t.ranks[3].deviceKind = "emu";
    Tuner tuner(t, 0, "test");
    EXPECT_FALSE(tuner.measures());
  }
  EXPECT_FALSE(Tuner(cpuHostTopology(1, 1), 0, "test").measures());
}

// Where ranks outnumber cores, after the alternating warm-up turns each candidate runs blocks of calls
// in a row, the first kTrialBlockWarmup of each untimed, and a block counts as the mean of its timed
// calls. Candidate 1 here is a loop of mostly fast calls with two slow ones a block (a rank waiting
// for a descheduled peer): its median call (5 us) beats the model's pick (10 us a call), its loop
// (13.75 us a call) does not, so the pick stays. Then a trial where candidate 1's blocks are
// faster, one block slowed down tenfold: the median block wins.
TEST(TunerTrial, OversubscribedHostsTimeBlocksOfCallsInARow) {
  Topology t = cpuHostTopology(4, 4);
  t.hosts[0].cores = 2;
  for (bool oneFasterLoop : {false, true}) {
    Tuner tuner(t, 0, "test");
    AlgorithmChoice c;
    const size_t count = firstTrialCount(tuner, &c);
    ASSERT_GT(count, 0u) << "no size of a 4-rank all-reduce on 2 cores has candidates within " << kTrialWithin << "x";
    const Algorithm* modelPick = c.algorithm;
    std::vector<const Algorithm*> order;  // the algorithm of every call that took a turn
    std::vector<int> slotOf;
    std::vector<size_t> gapAt;  // how many turn calls came before each lead-in call
    std::vector<const Algorithm*> gapAlgo;
    int blockCalls = 0;  // timed calls of candidate 1 so far
    for (;;) {
      if (c.trialGap) {  // an untimed lead-in call of the coming turn's candidate
        ASSERT_NE(c.trial, nullptr);
        gapAt.push_back(order.size());
        gapAlgo.push_back(c.algorithm);
        EXPECT_FALSE(tuner.recordTrial(c, 1000));
        ASSERT_TRUE(tuner.choose(Collective::AllReduce, count, mixcclFloat32, &c, true).isOk());
        ASSERT_LT(gapAt.size(), 100000u);
        continue;
      }
      order.push_back(c.algorithm);
      slotOf.push_back(c.trialSlot);
      double us = 10;
      if (c.trialSlot == 1) {
        const int inBlock = blockCalls++ % kTrialBlockTimed;
        if (oneFasterLoop) us = blockCalls <= kTrialBlockTimed ? 80 : 8;  // its first block slowed tenfold
        else us = inBlock < 2 ? 40 : 5;
      }
      if (tuner.recordTrial(c, us)) break;
      ASSERT_TRUE(tuner.choose(Collective::AllReduce, count, mixcclFloat32, &c, true).isOk());
      ASSERT_LT(order.size(), 10000u);
    }
    std::vector<Candidate> candidates = tuner.trialCandidates(c);
    const size_t k = candidates.size();
    ASSERT_GE(k, 2u);
    const size_t warm = static_cast<size_t>(kTrialWarmupRounds) * k;
    const size_t block = static_cast<size_t>(kTrialBlockWarmup + kTrialBlockTimed);
    ASSERT_EQ(order.size(), warm + static_cast<size_t>(kTrialBlocks) * k * block);
    EXPECT_LE(order.size(), static_cast<size_t>(kTrialMaxTurnCalls));
    EXPECT_LE(order.size() + gapAt.size(), static_cast<size_t>(kTrialMaxCalls));
    // A cheap size: before every turn but the first (each warm-up call, each block), kTrialMaxGap
    // untimed calls of that turn's candidate; never inside a block.
    std::map<size_t, int> gapAfter;
    for (size_t i = 0; i < gapAt.size(); ++i) {
      ++gapAfter[gapAt[i]];
      ASSERT_LT(gapAt[i], order.size());
      EXPECT_EQ(gapAlgo[i], order[gapAt[i]]) << "a lead-in of another candidate, before call " << gapAt[i];
    }
    EXPECT_EQ(gapAfter.size(), warm + static_cast<size_t>(kTrialBlocks) * k - 1);
    for (const auto& [at, n] : gapAfter) {
      EXPECT_EQ(n, kTrialMaxGap) << "before call " << at;
      EXPECT_TRUE(at <= warm || (at - warm) % block == 0) << "a lead-in inside a block, before call " << at;
    }
    for (size_t i = 0; i < order.size(); ++i) {
      // Warm-up turns alternate untimed; then blocks of one candidate, candidates in turn.
      const size_t which = i < warm ? i % k : ((i - warm) / block) % k;
      const bool timed = i >= warm && (i - warm) % block >= static_cast<size_t>(kTrialBlockWarmup);
      EXPECT_EQ(order[i], candidates[which].algorithm) << "call " << i;
      EXPECT_EQ(slotOf[i], timed ? static_cast<int>(which) : -1) << "call " << i;
    }
    std::vector<double> times = tuner.trialTimes(c);
    ASSERT_EQ(times.size(), k);
    EXPECT_DOUBLE_EQ(times[0], 10);
    EXPECT_DOUBLE_EQ(times[1], oneFasterLoop ? 8 : 13.75);
    tuner.settleTrial(c, times);
    AlgorithmChoice after;
    ASSERT_TRUE(tuner.choose(Collective::AllReduce, count, mixcclFloat32, &after, true).isOk());
    EXPECT_EQ(after.trial, nullptr);
    EXPECT_EQ(after.algorithm, oneFasterLoop ? candidates[1].algorithm : modelPick);
  }
}

// Where ranks outnumber cores (a trial of blocks) the pick stays unless beaten by more than
// kTrialBlockMargin, not kTrialMargin: three blocks a candidate resolve no better than that.
TEST(TunerTrial, BlockTrialsNeedTheWiderMargin) {
  Topology t = cpuHostTopology(4, 4);
  t.hosts[0].cores = 2;
  static_assert(kTrialBlockMargin > kTrialMargin);
  // Candidate 1 measured 8 % faster (past the one-call margin, inside the block margin), then 15 %.
  for (double fasterBy : {0.08, 0.15}) {
    ASSERT_GT(fasterBy, kTrialMargin);
    Tuner tuner(t, 0, "test");
    ASSERT_TRUE(tuner.timesBlocks());
    AlgorithmChoice c;
    const size_t count = firstTrialCount(tuner, &c);
    ASSERT_GT(count, 0u);
    const Algorithm* modelPick = c.algorithm;
    for (int calls = 0;; ++calls) {
      ASSERT_LT(calls, 100000);
      if (c.trialGap) {  // an untimed lead-in call
        EXPECT_FALSE(tuner.recordTrial(c, 10));
      } else if (tuner.recordTrial(c, c.trialSlot == 1 ? 10 * (1 - fasterBy) : 10)) {
        break;
      }
      ASSERT_TRUE(tuner.choose(Collective::AllReduce, count, mixcclFloat32, &c, true).isOk());
    }
    const std::vector<Candidate> candidates = tuner.trialCandidates(c);
    ASSERT_GE(candidates.size(), 2u);
    tuner.settleTrial(c, tuner.trialTimes(c));
    AlgorithmChoice after;
    ASSERT_TRUE(tuner.choose(Collective::AllReduce, count, mixcclFloat32, &after, true).isOk());
    EXPECT_EQ(after.trial, nullptr);
    EXPECT_EQ(after.algorithm, fasterBy > kTrialBlockMargin ? candidates[1].algorithm : modelPick)
        << "candidate 1 measured " << 100 * fasterBy << " % faster";
  }
}

// A trial is made only where all its calls, priced at the model's pick, add up to at most
// kTrialMaxTotalUs: with a core per rank and on 2 cores (blocks of calls), sizes the model prices
// over 2 ms a call (the limit before 2026-12-07) still get one, and the largest sizes none.
TEST(TunerTrial, TrialsStopWhereTheyWouldCostTooMuch) {
  for (int cores : {4, 2}) {
    Topology t = cpuHostTopology(4, 4);
    t.hosts[0].cores = cores;
    Tuner tuner(t, 0, "test");
    const int perCandidate = kTrialWarmupRounds + (tuner.timesBlocks()
                                                       ? kTrialBlocks * (kTrialBlockWarmup + kTrialBlockTimed)
                                                       : kTrialMaxSamples);
    double dearestTrialUs = 0;  // the largest predicted call that got a trial
    bool largestHasNone = false;
    for (size_t count = 1; count <= (size_t{1} << 26); count *= 2) {
      AlgorithmChoice c;
      ASSERT_TRUE(tuner.choose(Collective::AllReduce, count, mixcclFloat32, &c, true).isOk());
      if (!c.trial) {
        largestHasNone = count == (size_t{1} << 26);
        continue;
      }
      std::vector<Candidate> candidates = tuner.trialCandidates(c);
      ASSERT_GE(candidates.size(), 2u);
      const double pickUs = candidates[0].predictedUs;
      EXPECT_LE(pickUs * perCandidate * static_cast<double>(candidates.size()), kTrialMaxTotalUs)
          << cores << " cores, " << count << " floats";
      // Turns that already span kTrialMinSpanUs follow each other with no lead-in; cheaper ones have one.
      AlgorithmChoice next;
      ASSERT_TRUE(tuner.choose(Collective::AllReduce, count, mixcclFloat32, &next, true).isOk());
      const bool spans = pickUs * perCandidate * static_cast<double>(candidates.size()) >= kTrialMinSpanUs * 1.2;
      const bool cheap = pickUs * (perCandidate * static_cast<double>(candidates.size())) * 2 < kTrialMinSpanUs;
      if (spans) {
        EXPECT_FALSE(next.trialGap) << cores << " cores, " << count << " floats: a lead-in";
      }
      if (cheap) {
        EXPECT_TRUE(next.trialGap) << cores << " cores, " << count << " floats: no lead-in";
      }
      dearestTrialUs = std::max(dearestTrialUs, pickUs);
    }
    EXPECT_GT(dearestTrialUs, 2000) << cores << " cores";
    EXPECT_TRUE(largestHasNone) << cores << " cores: a trial at 256 MiB";
  }
}

// Each rank: all-reduces of several sizes, kCallsPerSize each (more than any trial takes), every output
// checked in full; then every trial settled and every rank holds the same choice for every size.
// Trials are on (MIXCCL_TUNE_MEASURE=1, the default, whatever the caller's environment); 3 and 4 ranks
// on a 2-core machine time blocks of calls.
constexpr int kCallsPerSize = kTrialMaxCalls + 8;

void trialsOnALiveCommunicator(int rank, int nranks, const mixcclUniqueId& id) {
  setenv("MIXCCL_TUNE_MEASURE", "1", 1);
  // Built-in costs: which sizes go on trial then depends on the model alone, not on how fast this
  // machine (or a sanitizer build, where 4 ranks' sizes were all predicted too slow) measured.
  setenv("MIXCCL_CALIBRATE", "0", 1);
  mixcclComm_t comm = nullptr;
  MP_CHECK_OK(mixcclCommInitRank(&comm, nranks, id, rank), nullptr);
  MP_CHECK(comm->tuner->measures(), "a cpu communicator should time its trials");
  const std::vector<size_t> counts{2, 1000, 8192, 65536};  // 8 B, 4 KB (fast path), 32 KiB, 256 KiB
  const float ranksSum = static_cast<float>(nranks * (nranks + 1) / 2);
  for (size_t count : counts) {
    std::vector<float> in(count), out(count);
    for (int i = 0; i < kCallsPerSize; ++i) {
      for (size_t j = 0; j < count; ++j) in[j] = static_cast<float>((rank + 1) * static_cast<int>(j % 13 + 1) + i);
      MP_CHECK_OK(mixcclAllReduce(in.data(), out.data(), count, mixcclFloat32, mixcclSum, comm, nullptr), comm);
      size_t bad = 0;
      for (size_t j = 0; j < count; ++j)
        if (out[j] != ranksSum * static_cast<float>(j % 13 + 1) + static_cast<float>(nranks * i)) ++bad;
      MP_EXPECT(bad == 0, "count %zu call %d: %zu of %zu elements wrong", count, i, bad, count);
    }
  }
  MP_EXPECT(comm->tuner->trialsSettled() >= 1, "no trial settled in 4 sizes x %d calls", kCallsPerSize);
  // Every trial ended, the shm fast path's sizes too (it asks the tuner again while a trial runs).
  MP_EXPECT(comm->tuner->trialsPending() == 0, "%d size(s) still on trial after %d calls each",
            comm->tuner->trialsPending(), kCallsPerSize);
  for (size_t count : counts) {
    AlgorithmChoice c;
    MP_CHECK(comm->tuner->choose(Collective::AllReduce, count, mixcclFloat32, &c).isOk(), "choose");
    MP_EXPECT(c.trial == nullptr, "count %zu: still on trial after %d calls", count, kCallsPerSize);
    std::vector<int32_t> mine{static_cast<int32_t>(c.algorithm - &allAlgorithms()[0])}, all(static_cast<size_t>(nranks));
    MP_CHECK_OK(mixcclAllGather(mine.data(), all.data(), 1, mixcclInt32, comm, nullptr), comm);
    for (int r = 0; r < nranks; ++r)
      MP_EXPECT(all[static_cast<size_t>(r)] == mine[0], "count %zu: rank %d settled on %s, rank %d on %s", count, r,
                allAlgorithms()[static_cast<size_t>(all[static_cast<size_t>(r)])].name, rank, c.algorithm->name);
  }
  MP_CHECK_OK(mixcclCommDestroy(comm), nullptr);
}

TEST(TunerTrial, LiveCommunicatorsSettleAlikeAndStayRight) {
  for (int n : {2, 3, 4}) {
    auto summary = runRanks(n, trialsOnALiveCommunicator);
    EXPECT_TRUE(summary.ok()) << n << " ranks: " << summary.describe();
  }
}

}  // namespace
}  // namespace mixccl
