// Stream-ordered collectives (NCCL's semantics on devices with streams): the API call marks its
// place in the user's stream (Device::openGate), queues the operations here and returns at once.
// One proxy thread per communicator then, in call order: waits until the user's stream reaches
// the call (the inputs are ready), runs the operations (device copies and reductions on the
// device's own stream, host staging for the wire), and releases the user's stream, which has been
// waiting on the device for a host-written counter (no kernel spins, no host thread blocks in the
// user's stream). A failure is reported by mixcclCommGetAsyncError, and the stream is released
// anyway so that the user's program can see it instead of hanging.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "backends/devices/device.h"
#include "core/op.h"

struct mixcclComm;

namespace mixccl {

class StreamProxy {
 public:
  explicit StreamProxy(mixcclComm* comm);
  ~StreamProxy();  // runs (or, after an abort, fails fast) what is queued, then joins
  StreamProxy(const StreamProxy&) = delete;
  StreamProxy& operator=(const StreamProxy&) = delete;

  void enqueue(std::vector<Op> ops, std::vector<std::unique_ptr<StreamGate>> gates);
  // Blocks until everything queued so far has run (at most timeoutSeconds; wakes on abort). A call
  // without a stream on a device whose streams are optional (plugins) runs on the caller's thread:
  // it must not start while the proxy still runs the communicator's earlier calls, which use the
  // same links and scratch space.
  Status waitIdle(const std::atomic<bool>& aborted, int timeoutSeconds);

 private:
  struct Batch {
    std::vector<Op> ops;
    std::vector<std::unique_ptr<StreamGate>> gates;
    std::shared_ptr<void> active;  // an ActiveOp: destroy waits until the batch has run
  };
  void loop();
  void runBatch(Batch& b);

  mixcclComm* comm_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Batch> queue_;
  bool running_ = false;  // a batch is out of the queue and running
  bool stopping_ = false;
  std::thread thread_;
};

// Runs ops now, on this thread (what runOps does when no user stream is involved).
Status runOpsNow(mixcclComm* comm, std::span<const Op> ops);

}  // namespace mixccl
