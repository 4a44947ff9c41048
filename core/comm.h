// The communicator: one rank's view of a group of ranks, with its device, bootstrap network and
// transports. The C handle mixcclComm_t points to one of these.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "backends/devices/device.h"
#include "backends/transports/transport.h"
#include "core/bootstrap.h"
#include "core/status.h"
#include "mixccl.h"

namespace mixccl {

class Tuner;  // core/tuner.h
class StreamProxy;  // core/stream_proxy.h
class OpHistory;  // core/op_history.h
class ShmFastPath;  // core/shm_fastpath.h
class StagingBlocks;  // core/staged_message.h

// A pre-multiplied-sum operator made by mixcclRedOpCreatePreMulSum.
struct PreMulSumOp {
  mixcclDataType_t type;
  std::vector<unsigned char> scalar;      // one element of `type` (host-immediate)
  const void* deviceScalar = nullptr;     // residence device: read when the collective runs
};

// What each rank told the others at init.
struct PeerInfo {
  uint64_t hostId = 0;
  int32_t pid = 0;
  char hostName[64] = {};
  // The rank's device ("cpu", "cuda", "emu", ...) and ordinal: ranks of one kind on one host form an
  // island (topology/). Device rates are measured later, in core/comm_topology.cc.
  char deviceKind[32] = {};
  int32_t deviceOrdinal = 0;
};

}  // namespace mixccl

struct mixcclComm {
  static constexpr uint64_t kMagic = 0x6d6978636f6d6d31ull;  // checked on every API call
  uint64_t magic = kMagic;

  int rank = 0;
  int nranks = 1;
  uint64_t commHash = 0;
  uint8_t secret[16] = {};
  int timeoutSeconds = 300;
  bool blocking = true;
  std::string name;  // commName, or "comm <hash>"
  std::string algorithms;  // config.algorithms (empty: MIXCCL_ALGO applies); split children inherit it

  std::unique_ptr<mixccl::Device> device;
  std::unique_ptr<mixccl::SocketBootstrap> bootstrap;
  std::vector<mixccl::PeerInfo> peers;
  std::vector<int> localRanks;  // ranks on this host, this one included
  int hostCpus = 0;             // CPUs the ranks of this host may run on, together (core/host_cpus.h)
  // Whether waiters should yield at once: the union of the host's ranks' CPU masks counts, not one
  // process's, so ranks pinned to a core each have a core each.
  bool ranksOutnumberCpus() const { return hostCpus > 0 && localRanks.size() > static_cast<size_t>(hostCpus); }
  // Ranks on this host whose process this one can see (same pid namespace): a wait on them checks
  // that they are still alive.
  std::vector<bool> watchPid;

  std::vector<std::unique_ptr<mixccl::Transport>> transports;
  std::vector<mixccl::Link*> links;           // by peer; nullptr for self
  std::vector<mixccl::Transport*> linkOwner;  // the transport behind links[peer]

  // The topology, cost model, decision and schedule caches (core/comm_topology.cc builds it at init).
  std::shared_ptr<mixccl::Tuner> tuner;
  // Small all-reduce among cpu ranks of one host over shared memory, when every rank qualifies
  // (core/shm_fastpath.h); null otherwise.
  std::shared_ptr<mixccl::ShmFastPath> fastPath;

  // Scratch space for schedules and pre-scaled inputs, grown on demand, freed at destroy.
  struct ScratchBuffer {
    void* ptr = nullptr;
    size_t bytes = 0;
  };
  ScratchBuffer scratch[2];
  // Host blocks through which a device rank's messages cross host transports (core/staged_message.h),
  // made on first use, freed at destroy before the device. A shared_ptr: no complete type needed here.
  std::shared_ptr<mixccl::StagingBlocks> stagingBlocks;

  std::mutex redOpMutex;
  std::map<int, mixccl::PreMulSumOp> redOps;  // by mixcclRedOp_t value
  int nextRedOp = mixcclNumOps;

  uint64_t opCount = 0;  // collectives run so far (for logs and errors)
  // MIXCCL_CHECK=1: compare every collective's signature across ranks first (core/op_signature.h).
  bool checkSignatures = false;
  // The last operations and where the running one waits, for hang diagnosis (core/op_history.h).
  std::shared_ptr<mixccl::OpHistory> history;

  // Errors and abort.
  std::atomic<bool> aborted{false};
  std::atomic<int> asyncError{mixcclSuccess};
  std::mutex errorMutex;
  std::string lastError;
  std::string fatalError;  // set when a communication failure left the communicator unusable
  // True once fatalError is set (under errorMutex): every call tests this, and only a failed
  // communicator pays for the lock.
  std::atomic<bool> hasFatalError{false};

  // Operations in flight (abort and destroy wait for them to leave: waitForActiveOps).
  std::mutex activeMutex;
  std::condition_variable activeCv;
  // Raised and lowered without a lock on every call. Only while someone waits (activeWaiters) does
  // the decrement that may reach zero go under activeMutex and notify; a waiter that registers just
  // after a call saw none re-checks the count every millisecond, so it is never missed for long, and
  // the lock-free decrement is that call's last touch of the communicator.
  std::atomic<int> activeOps{0};
  std::atomic<int> activeWaiters{0};

  // Non-blocking init (config.blocking = 0): the communicator is built on this thread while the
  // caller goes on; asyncError reads mixcclInProgress until it is done (core/async_init.cc).
  std::thread initThread;
  std::atomic<bool> initPending{false};

  // Runs stream-ordered operations (device collectives given a user stream); made on first use.
  // A shared_ptr so that this header needs no complete type (core/stream_proxy.h).
  std::shared_ptr<mixccl::StreamProxy> proxy;
  std::atomic<bool> hasProxy{false};  // set once proxy is made: calls without streams skip the lock
};

namespace mixccl {

// Builds a communicator (blocking). Used by every init entry point and by split.
Status initCommunicator(mixcclComm* comm, int nranks, const mixcclUniqueId& id, int rank,
                        const mixcclConfig_t* config);
// Frees everything; waits (bounded) for operations in flight to leave.
void destroyCommunicator(mixcclComm* comm);
// Raises the abort flag and wakes every waiter.
void interruptCommunicator(mixcclComm* comm);
// Scratch buffer `which` (0 or 1) of at least `bytes`, allocated on the comm's device.
Status commScratch(mixcclComm* comm, int which, size_t bytes, void** ptr);

// Waits up to `seconds` for every operation in flight on comm to leave; false if some still run.
bool waitForActiveOps(mixcclComm* comm, int seconds);

// Counts an operation in flight for as long as it lives.
class ActiveOp {
 public:
  explicit ActiveOp(mixcclComm* comm);
  ~ActiveOp();
  ActiveOp(const ActiveOp&) = delete;
  ActiveOp& operator=(const ActiveOp&) = delete;

 private:
  mixcclComm* comm_;
};

}  // namespace mixccl
