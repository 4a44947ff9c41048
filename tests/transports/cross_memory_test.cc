// Whether the shm transport reads large messages from the sender's memory is measured per host
// (backends/transports/shm/cross_memory.h): the kernel read must cost at most kMaxReadSlowdown
// memcpys of the same bytes.
#include "backends/transports/shm/cross_memory.h"

#include <gtest/gtest.h>

namespace mixccl::cross_memory {
namespace {

TEST(CrossMemoryCost, ReadingPaysOnlyWhenTheKernelCopyIsCheapEnough) {
  ReadCost cost;
  cost.measured = true;
  cost.memcpyUs = 25;
  cost.readUs = 25;  // bare metal: about one memcpy
  EXPECT_TRUE(readPays(cost));
  cost.readUs = kMaxReadSlowdown * 25;
  EXPECT_TRUE(readPays(cost));
  cost.readUs = 92;  // a VM whose page pinning makes the read 3.7x a memcpy (measured 2026-12-02)
  EXPECT_FALSE(readPays(cost));
  cost.readUs = 1;
  cost.measured = false;  // the read failed: never by address
  EXPECT_FALSE(readPays(cost));
}

TEST(CrossMemoryCost, TheProbeMeasuresBothCopiesOnce) {
  const ReadCost& cost = measuredReadCost();
  if (!cost.measured) GTEST_SKIP() << "process_vm_readv is refused here (seccomp?): the rings carry every message";
  EXPECT_GT(cost.memcpyUs, 0);
  EXPECT_GT(cost.readUs, 0);
  EXPECT_EQ(&cost, &measuredReadCost()) << "measured once per process";
  std::printf("1 MiB: process_vm_readv %.1f us, memcpy %.1f us (%.2fx)\n", cost.readUs, cost.memcpyUs,
              cost.readUs / cost.memcpyUs);
}

}  // namespace
}  // namespace mixccl::cross_memory
