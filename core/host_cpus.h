// Which CPUs this process may run on, as a fixed-size mask that travels in the init exchange, and
// how many CPUs the ranks of one host can use together. Whether waiting ranks should spin or yield
// depends on the whole host, not on one process's mask: a rank pinned to one core (mpirun's default,
// mixccl-perf --bind) still has that core to itself when its peers are pinned to others.
#pragma once

#include <cstdint>
#include <vector>

namespace mixccl {

struct CpuMask {
  static constexpr int kWords = 16;  // 1024 CPUs
  uint64_t words[kWords];
};

// This process's affinity mask (every online CPU if the kernel does not say).
CpuMask currentCpuMask();

// CPUs in the union of the masks: how many the ranks that hold them can run on at once.
int cpusInUnion(const std::vector<CpuMask>& masks);

}  // namespace mixccl
