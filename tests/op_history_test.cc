// Tests of the hang-diagnosis history (core/op_history.h): what describe() says about finished,
// failed and running operations and the peers waited for, and that a reader on another thread gets
// whole records while the calling thread writes them without a lock (run under TSan by
// scripts/test.sh).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "core/op_history.h"

namespace mixccl {
namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(OpHistory, ListsTheLastOperationsOldestFirst) {
  OpHistory h("comm", 1, 4, 3);
  for (uint64_t seq = 1; seq <= 5; ++seq) {
    h.begin(seq, Collective::AllReduce, 100 + seq, mixcclFloat32, mixcclSum, -1);
    h.setAlgorithm(seq % 2 ? "ring" : "tree", 2 * seq);
    h.end(seq != 4);
  }
  const std::string text = h.describe("test");
  EXPECT_TRUE(contains(text, "comm rank 1/4")) << text;
  EXPECT_TRUE(contains(text, "5 operation(s) completed")) << text;
  EXPECT_TRUE(contains(text, "no operation in progress")) << text;
  EXPECT_TRUE(contains(text, "last 3 operation(s), oldest first")) << text;
  EXPECT_FALSE(contains(text, "#2 ")) << "only the last 3 are kept:\n" << text;
  const size_t third = text.find("#3 AllReduce count 103 float32 sum, algorithm ring (6 rounds): done");
  const size_t fourth = text.find("#4 AllReduce count 104 float32 sum, algorithm tree (8 rounds): FAILED");
  const size_t fifth = text.find("#5 AllReduce count 105 float32 sum, algorithm ring (10 rounds): done");
  ASSERT_NE(third, std::string::npos) << text;
  ASSERT_NE(fourth, std::string::npos) << text;
  ASSERT_NE(fifth, std::string::npos) << text;
  EXPECT_LT(third, fourth);
  EXPECT_LT(fourth, fifth);
}

TEST(OpHistory, ShowsTheRunningOperationItsRoundAndOnlyItsOwnWait) {
  OpHistory h("comm", 0, 3, 4);
  h.begin(7, Collective::Broadcast, 64, mixcclInt32, mixcclSum, 2);
  h.setAlgorithm("chain", 5);
  h.setRound(2);
  h.setWaiting({{2, false}, {1, true}});
  std::string text = h.describe("test");
  EXPECT_TRUE(contains(text, "#7 Broadcast count 64 int32 root 2, algorithm chain (5 rounds), round 3 of 5")) << text;
  EXPECT_TRUE(contains(text, "waiting for: receive from rank 2, send to rank 1")) << text;
  h.end(true);
  // The next operation has published no wait yet: the last one's peers must not show.
  h.begin(8, Collective::AllReduce, 8, mixcclFloat32, mixcclMax, -1);
  text = h.describe("test");
  EXPECT_TRUE(contains(text, "#8 AllReduce count 8 float32 max")) << text;
  EXPECT_TRUE(contains(text, "waiting for: (not waiting on a peer yet)")) << text;
  EXPECT_FALSE(contains(text, "receive from rank 2")) << text;
}

TEST(OpHistory, KeepsItsDepthOfFinishedOperationsWhileOneRuns) {
  OpHistory h("comm", 0, 2, 2);
  for (uint64_t seq = 1; seq <= 3; ++seq) {
    h.begin(seq, Collective::AllReduce, seq, mixcclFloat32, mixcclSum, -1);
    h.end(true);
  }
  h.begin(4, Collective::AllReduce, 777, mixcclFloat32, mixcclSum, -1);
  const std::string text = h.describe("test");
  EXPECT_TRUE(contains(text, "in progress")) << text;
  EXPECT_TRUE(contains(text, "#4 AllReduce count 777")) << text;
  EXPECT_TRUE(contains(text, "last 2 operation(s)")) << text;
  EXPECT_TRUE(contains(text, "#2 AllReduce count 2 float32 sum: done")) << text;
  EXPECT_TRUE(contains(text, "#3 AllReduce count 3 float32 sum: done")) << text;
  EXPECT_FALSE(contains(text, "FAILED")) << "the running operation is not a failed one:\n" << text;
}

TEST(OpHistory, AReaderOnAnotherThreadGetsWholeRecords) {
  OpHistory h("comm", 0, 2, 8);
  const std::vector<std::string> names = {"ring", "rabenseifner", "oneshot (shm fast path)"};
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (uint64_t seq = 1; !stop.load(std::memory_order_relaxed) && seq < 2000000; ++seq) {
      // The count encodes the name and the rounds, so a reader can tell a torn record.
      const size_t which = seq % names.size();
      h.begin(seq, Collective::AllReduce, 1000 * which + 7, mixcclFloat32, mixcclSum, -1);
      h.setAlgorithm(names[which], which + 1);
      h.end(true);
    }
  });
  size_t torn = 0, reads = 0;
  for (int i = 0; i < 3000; ++i) {
    // The finished operations (the one in progress may not have its algorithm yet).
    std::string text = h.describe("test");
    text = text.substr(std::min(text.size(), text.find("oldest first")));
    ++reads;
    for (size_t which = 0; which < names.size(); ++which) {
      // Every line naming this count must name its algorithm and rounds too.
      const std::string count = "count " + std::to_string(1000 * which + 7) + " float32 sum";
      for (size_t at = text.find(count); at != std::string::npos; at = text.find(count, at + 1)) {
        const std::string rest = text.substr(at + count.size(), text.find('\n', at) - at - count.size());
        const std::string want = ", algorithm " + names[which] + " (" + std::to_string(which + 1) + " rounds)";
        if (rest.rfind(want, 0) != 0 && torn++ < 3) ADD_FAILURE() << count << rest << " where " << want << " was due";
      }
    }
  }
  stop.store(true);
  writer.join();
  EXPECT_EQ(torn, 0u) << "records mixed from two operations in " << reads << " descriptions";
}

}  // namespace
}  // namespace mixccl
