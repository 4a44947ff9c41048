// The two primitives every busy-wait on shared memory needs: a pause that tells the core we are
// spinning (cheaper for the sibling hyper-thread, and no memory-order machine clear on exit), and a
// monotonic clock in nanoseconds to bound the spin.
#pragma once

#include <time.h>

#include <cstdint>

namespace mixccl::spin {

inline void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

inline uint64_t nowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace mixccl::spin
