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
// Returns when the sequence differs from `seen`, after timeoutNs, or spuriously. Spins briefly first:
// a peer answering within microseconds is common and a futex sleep costs more than that.
void sleep(DoorbellWord* bell, uint32_t seen, uint64_t timeoutNs);

}  // namespace doorbell
}  // namespace mixccl
