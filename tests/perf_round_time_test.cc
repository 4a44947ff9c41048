// mixccl-perf's --round-stat: which of a size's rounds it reports. The compare sweep's tuner target
// rests on this number, so the statistic is checked here, apart from any timing.
#include <gtest/gtest.h>

#include <vector>

#include "bench/perf/timing.h"

namespace mixcclperf {
namespace {

TEST(RoundTime, MedianOfAnOddCountIsTheMiddleRound) {
  // Unsorted, with one lucky round and one slow spell: the median ignores both.
  EXPECT_DOUBLE_EQ(roundTime({2250, 1651, 2300, 2240, 5000}, "median"), 2250);
}

TEST(RoundTime, MedianOfAnEvenCountIsTheMeanOfTheMiddleTwo) {
  EXPECT_DOUBLE_EQ(roundTime({4, 1, 3, 2}, "median"), 2.5);
  EXPECT_DOUBLE_EQ(roundTime({7, 5}, "median"), 6);
}

TEST(RoundTime, FastestIsTheLeastRound) {
  EXPECT_DOUBLE_EQ(roundTime({2250, 1651, 2300, 2240, 5000}, "fastest"), 1651);
}

TEST(RoundTime, OneRoundIsItselfEitherWay) {
  EXPECT_DOUBLE_EQ(roundTime({12.5}, "median"), 12.5);
  EXPECT_DOUBLE_EQ(roundTime({12.5}, "fastest"), 12.5);
}

TEST(RoundTime, NoRoundsReportZero) {
  EXPECT_DOUBLE_EQ(roundTime({}, "median"), 0);
}

}  // namespace
}  // namespace mixcclperf
