#include "backends/transports/shm/doorbell.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <climits>

namespace mixccl::doorbell {
namespace {

static_assert(std::atomic_ref<uint32_t>::is_always_lock_free);

std::atomic_ref<uint32_t> seq(DoorbellWord* bell) { return std::atomic_ref<uint32_t>(bell->sequence); }
std::atomic_ref<uint32_t> sleepers(DoorbellWord* bell) { return std::atomic_ref<uint32_t>(bell->sleepers); }

inline void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Enough to cover a peer that is running right now, short enough not to matter when it is not
// (the machine may have more ranks than cores).
constexpr int kSpinIterations = 256;

}  // namespace

uint32_t sequence(DoorbellWord* bell) { return seq(bell).load(std::memory_order_acquire); }

void ring(DoorbellWord* bell) {
  // seq_cst on both sides (here and in sleep) makes "sleeper registers, then re-reads the sequence"
  // and "ringer increments, then reads the sleeper count" impossible to both miss each other.
  seq(bell).fetch_add(1, std::memory_order_seq_cst);
  if (sleepers(bell).load(std::memory_order_seq_cst) != 0) {
    syscall(SYS_futex, &bell->sequence, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
  }
}

void sleep(DoorbellWord* bell, uint32_t seen, uint64_t timeoutNs) {
  for (int i = 0; i < kSpinIterations; ++i) {
    if (seq(bell).load(std::memory_order_acquire) != seen) return;
    cpuRelax();
  }
  if (timeoutNs == 0) return;
  sleepers(bell).fetch_add(1, std::memory_order_seq_cst);
  if (seq(bell).load(std::memory_order_seq_cst) == seen) {
    struct timespec ts;
    ts.tv_sec = static_cast<time_t>(timeoutNs / 1000000000ull);
    ts.tv_nsec = static_cast<long>(timeoutNs % 1000000000ull);
    // The kernel re-checks the word against `seen` atomically with going to sleep, so a ring
    // between our load and this call makes it return at once (EAGAIN) instead of being lost.
    syscall(SYS_futex, &bell->sequence, FUTEX_WAIT, seen, &ts, nullptr, 0);
  }
  sleepers(bell).fetch_sub(1, std::memory_order_seq_cst);
}

}  // namespace mixccl::doorbell
