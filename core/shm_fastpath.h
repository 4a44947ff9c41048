// The shared-memory fast path for small all-reduce: how the one-shot algorithm ("oneshot") runs when
// every rank of the communicator is a cpu rank on this host and every peer is reached over shm.
//
// Instead of the engine's messages (one ring slot, one doorbell and one transfer object per peer),
// all ranks share one segment holding, per rank, a sequence word and two slots. Operation k:
//   1. copy (or pre-scale) the input into my slot k % 2;
//   2. publish k in my sequence word (release);
//   3. wait until every peer's word reaches k (acquire): spin, then yield, then sleep on a futex,
//      bounded by the communicator timeout, woken by abort, checking that local peers still live;
//   4. reduce all slots in rank order into the output, so every rank computes bit-identical results.
// Nothing is allocated, locked or looked up in a map on the way; see shm_fastpath.cc for why two
// slots per rank suffice. The tuner stays in charge: the fast path runs only where it picked
// "oneshot" (MIXCCL_ALGO can force it, or force another algorithm), and the tuner costs "oneshot"
// with predictUs() below at the sizes the fast path handles. docs/architecture.md has the details.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "backends/devices/device.h"
#include "core/status.h"
#include "mixccl.h"

struct mixcclComm;

namespace mixccl {

struct Algorithm;
struct AlgorithmChoice;
class ShmSegment;

class ShmFastPath {
 public:
  // Default payload capacity of one slot (MIXCCL_FASTPATH_BYTES overrides, a multiple of 64). 16 KiB:
  // the largest size at which, measured on 2 and 4 ranks, the copy-in plus n-way reduction stays
  // faster than the engine's one-shot; the tuner decides below it.
  static constexpr size_t kDefaultSlotBytes = 16 * 1024;
  static constexpr int kMaxRanks = 64;  // the segment grows with ranks x slots; one-shot is a small-n algorithm

  // Collective over the communicator's bootstrap (every rank calls it after the transports are up).
  // Leaves *out empty when the communicator does not qualify on every rank (a rank off this host, a
  // non-cpu device, a non-shm peer, MIXCCL_FASTPATH=0), which is no error.
  static Status create(mixcclComm* comm, std::unique_ptr<ShmFastPath>* out);
  ~ShmFastPath();
  ShmFastPath(const ShmFastPath&) = delete;
  ShmFastPath& operator=(const ShmFastPath&) = delete;

  // Whether an all-reduce of `count` elements runs here (*use): it fits a slot and the tuner's choice
  // for its size is "oneshot". The answer is kept per size bucket once the tuner's decision is final;
  // while the bucket is under a measured trial (core/tuner.h) the tuner is asked every call and
  // *trial receives its choice, which the caller times and runs (here when it is "oneshot", else in
  // the engine) so that every rank takes the same turn whether it runs in place or not.
  Status decide(size_t count, mixcclDataType_t type, bool* use, AlgorithmChoice* trial);
  // Runs the all-reduce (decide() said so). preScale (one element of `type`, or nullptr) multiplies
  // every input first; postDivide divides the result by nranks (integer average). `what` names the op.
  Status allReduce(const void* sendbuf, void* recvbuf, size_t count, mixcclDataType_t type, ReduceOp op,
                   const void* preScale, bool postDivide, const char* what);

  // Wakes a rank asleep in a wait (abort). Safe from any thread.
  void interrupt();

  size_t slotBytes() const { return slotBytes_; }
  // Operations run through the fast path so far (tests use it to tell the paths apart).
  uint64_t completedOps() const { return completed_; }
  // How long a waiter spins before it yields (0: yields at once).
  uint64_t spinNs() const { return spinNs_; }

  // The predicted time of one fast all-reduce of `bytes` per rank, microseconds, from the topology's
  // cpu copy and reduce rates, the shm link's latency and bandwidth, the host's oversubscription and
  // its measured fixed cost of a waiting round (HostInfo::waitUs, 0 = not measured).
  static double predictUs(size_t bytes, int nranks, double copyGBps, double reduceGBps, double shmAlphaUs,
                          double shmGBps, double oversubscription, double waitUs);

 private:
  ShmFastPath() = default;
  Status waitForPeers(uint64_t seq, const char* what);
  Status deadPeers(uint64_t seq, const char* what) const;
  Status timedOut(uint64_t seq, const char* what) const;
  int firstMissing(uint64_t seq, int from) const;
  // Rank r's flag line for operation seq (its sequence word first).
  unsigned char* flagLine(int r, uint64_t seq) const;

  mixcclComm* comm_ = nullptr;
  std::unique_ptr<ShmSegment> segment_;
  unsigned char* base_ = nullptr;
  int rank_ = 0;
  int nranks_ = 0;
  size_t slotBytes_ = 0;
  size_t rankStride_ = 0;  // bytes between two ranks' areas
  uint64_t spinNs_ = 0;
  uint64_t seq_ = 0;        // operations run (this rank publishes seq_ for its next one)
  uint64_t completed_ = 0;
  const Algorithm* oneshot_ = nullptr;
  // The tuner's answer per (log2 size bucket, log2 element size): 0 not asked yet, 1 oneshot (run
  // here), 2 another algorithm. A copy of its decision cache that costs no lock to read.
  uint8_t decision_[65][4] = {};
};

}  // namespace mixccl
