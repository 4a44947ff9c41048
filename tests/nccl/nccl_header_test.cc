// bindings/nccl/nccl.h against the system's nccl.h: every value, size, offset, initializer and
// function type must be the same (each is written down by nccl_layout_probe.inc in its own
// translation unit, one per header).
#include <gtest/gtest.h>

#include <sstream>
#include <string>

std::string describeSystemNcclHeader();
std::string describeMixcclNcclHeader();
extern "C" size_t mixcclNcclHeaderFromC(int* blockingUndef, int* maxRedOp);

TEST(NcclHeader, SameAbiAsTheSystemHeader) {
  std::istringstream theirs(describeSystemNcclHeader()), ours(describeMixcclNcclHeader());
  std::string a, b;
  int lines = 0;
  while (std::getline(theirs, a)) {
    ASSERT_TRUE(static_cast<bool>(std::getline(ours, b))) << "ours ends early, before: " << a;
    EXPECT_EQ(a, b);
    ++lines;
  }
  EXPECT_FALSE(static_cast<bool>(std::getline(ours, b))) << "ours has more: " << b;
  EXPECT_GT(lines, 150);
}

TEST(NcclHeader, CompilesAsCWithTheSameLayout) {
  int blockingUndef = 0, maxRedOp = 0;
  EXPECT_EQ(mixcclNcclHeaderFromC(&blockingUndef, &maxRedOp), 80u * 1000 + 48u);  // NCCL 2.28.9's sizes
  EXPECT_EQ(blockingUndef, 1);
  EXPECT_EQ(maxRedOp, 0x7fffffff);
}
