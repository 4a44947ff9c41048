#include "backends/transports/shm/doorbell.h"

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>

#include "backends/transports/shm/spin.h"
#include "core/env.h"

namespace mixccl::doorbell {
namespace {

using spin::cpuRelax;
using spin::nowNs;

static_assert(std::atomic_ref<uint32_t>::is_always_lock_free);

std::atomic_ref<uint32_t> seq(DoorbellWord* bell) { return std::atomic_ref<uint32_t>(bell->sequence); }
std::atomic_ref<uint32_t> sleepers(DoorbellWord* bell) { return std::atomic_ref<uint32_t>(bell->sleepers); }

// Waiting has three phases, cheapest wake-up first:
//  1. spin on the word (5 us when every rank of the host has a core, none otherwise): a peer
//     running on another core answers within this, and neither side makes a system call;
//  2. spin with sched_yield() (up to kYieldBudgetNs): when ranks outnumber cores (4 ranks on 2 cores
//     in CI) the peer we wait for may be queued behind us; yielding hands it the core at once, and
//     the ringer still needs no futex call because nobody is registered as a sleeper;
//  3. sleep on the futex until rung or timed out: a long wait (a slow peer, a hung job) costs no CPU.
// The yield phase is bounded in time, so an idle rank stops burning a core after a couple of ms.
constexpr uint64_t kYieldBudgetNs = 2'000'000;
constexpr int kYieldsPerClockRead = 16;
constexpr int kSpinsPerClockRead = 64;

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

void sleep(DoorbellWord* bell, uint32_t seen, uint64_t timeoutNs, uint64_t spinNs) {
  if (seq(bell).load(std::memory_order_acquire) != seen) return;
  uint64_t start = 0;
  if (spinNs > 0) {
    start = nowNs();
    const uint64_t spinFor = std::min(spinNs, timeoutNs);
    for (int i = 1;; ++i) {
      if (seq(bell).load(std::memory_order_acquire) != seen) return;
      cpuRelax();
      if (i % kSpinsPerClockRead == 0 && nowNs() - start >= spinFor) break;
    }
  }
  if (timeoutNs == 0) return;
  const uint64_t spun = spinNs > 0 ? nowNs() - start : 0;
  if (spun >= timeoutNs) return;
  timeoutNs -= spun;
  start = nowNs();
  const uint64_t yieldFor = std::min(kYieldBudgetNs, timeoutNs);
  for (int i = 1;; ++i) {
    sched_yield();
    if (seq(bell).load(std::memory_order_acquire) != seen) return;
    if (i % kYieldsPerClockRead == 0) {
      uint64_t spent = nowNs() - start;
      if (spent >= yieldFor) {
        if (spent >= timeoutNs) return;
        timeoutNs -= spent;
        break;
      }
    }
  }
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

uint64_t spinNsFor(bool ranksOutnumberCpus) {
  int64_t spinUs = env::getInt("SHM_SPIN_US", -1);
  if (spinUs >= 0) return static_cast<uint64_t>(std::min<int64_t>(spinUs, 10'000'000)) * 1000;
  return ranksOutnumberCpus ? 0 : kDedicatedSpinNs;
}

}  // namespace mixccl::doorbell
