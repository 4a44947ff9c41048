#include "core/host_cpus.h"

#include <sched.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <thread>

namespace mixccl {

CpuMask currentCpuMask() {
  CpuMask m;
  std::memset(&m, 0, sizeof(m));
  cpu_set_t set;
  CPU_ZERO(&set);
  const int limit = CpuMask::kWords * 64;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    for (int cpu = 0; cpu < std::min(limit, CPU_SETSIZE); ++cpu)
      if (CPU_ISSET(cpu, &set)) m.words[cpu / 64] |= uint64_t{1} << (cpu % 64);
    return m;
  }
  const int online = std::min(limit, static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  for (int cpu = 0; cpu < online; ++cpu) m.words[cpu / 64] |= uint64_t{1} << (cpu % 64);
  return m;
}

int cpusInUnion(const std::vector<CpuMask>& masks) {
  int count = 0;
  for (int w = 0; w < CpuMask::kWords; ++w) {
    uint64_t all = 0;
    for (const CpuMask& m : masks) all |= m.words[w];
    count += std::popcount(all);
  }
  return count;
}

}  // namespace mixccl
