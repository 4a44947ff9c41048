// A doorbell: how a rank sleeps until one of its shared-memory peers did something for it. One
// 32-bit word that ringers increment, plus a count of sleepers so that ringing costs no system call
// while nobody sleeps. It lives in shared memory, so the futex calls are the shared (not PRIVATE)
// kind, keyed by the physical page rather than by this process's address.
#pragma once

#include <cstdint>

namespace mixccl {

struct alignas(64) DoorbellWord {
  uint32_t sequence;
  uint32_t sleepers;
};

namespace doorbell {

// The current value; a later sleep on it returns as soon as anyone rang since.
uint32_t sequence(DoorbellWord* bell);
// Increments the sequence and wakes every sleeper.
void ring(DoorbellWord* bell);
// Returns when the sequence differs from `seen`, after timeoutNs, or spuriously. Spins briefly, then
// yields the core for up to ~2 ms, then sleeps on the futex (see doorbell.cc for why).
// spinNs: length of the first, pure spinning phase. kDedicatedSpinNs when every rank of the host has a
// core of its own: long enough for a running peer's answer, short enough that a peer descheduled by
// other load (a busy machine) costs little before we yield (measured under load 25 on 2 cores: a
// 100 us spin made an 8-byte all-reduce 400 us, 5 us made it 12-40 us). 0 when ranks outnumber cores:
// a spinning waiter would only keep the peer it waits for off the core.
constexpr uint64_t kDedicatedSpinNs = 5'000;
void sleep(DoorbellWord* bell, uint32_t seen, uint64_t timeoutNs, uint64_t spinNs = kDedicatedSpinNs);
// The spin for a rank whose host's ranks do (or do not) outnumber the CPUs they may run on together
// (mixcclComm::ranksOutnumberCpus): kDedicatedSpinNs or 0, unless MIXCCL_SHM_SPIN_US says otherwise
// (0: yield at once; large: spin as MPI does on dedicated cores; at most 10 s).
uint64_t spinNsFor(bool ranksOutnumberCpus);

}  // namespace doorbell
}  // namespace mixccl
