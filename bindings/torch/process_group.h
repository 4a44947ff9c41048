// ProcessGroupMixccl: the torch.distributed backend "mixccl". Each instance owns one mixccl
// communicator (device "cpu"; CUDA tensors are staged through host memory, see tensors.h) and one
// worker thread (op_queue.h): a call checks its arguments in the caller, queues the operation and
// returns a WorkMixccl at once; the worker runs the operations in issue order.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bindings/torch/op_queue.h"
#include "bindings/torch/tensors.h"
#include "bindings/torch/torch_compat.h"
#include "bindings/torch/work.h"
#include "mixccl.h"

namespace mixccl_torch {

class ProcessGroupMixccl : public BackendBase {
 public:
  // Rendezvous through store: rank 0 creates the mixccl unique id and publishes it under a key of
  // this group's store prefix; the others read it; then all join the communicator. timeout bounds
  // every mixccl wait unless MIXCCL_TIMEOUT is set in the environment.
  ProcessGroupMixccl(const c10::intrusive_ptr<c10d::Store>& store, int rank, int size,
                     std::chrono::milliseconds timeout);
  ~ProcessGroupMixccl() override;

  const std::string getBackendName() const override { return "mixccl"; }

  c10::intrusive_ptr<WorkBase> broadcast(std::vector<at::Tensor>& tensors,
                                         const c10d::BroadcastOptions& opts = c10d::BroadcastOptions()) override;
  c10::intrusive_ptr<WorkBase> allreduce(std::vector<at::Tensor>& tensors,
                                         const c10d::AllreduceOptions& opts = c10d::AllreduceOptions()) override;
  c10::intrusive_ptr<WorkBase> allreduce_coalesced(
      std::vector<at::Tensor>& tensors,
      const c10d::AllreduceCoalescedOptions& opts = c10d::AllreduceCoalescedOptions()) override;
  c10::intrusive_ptr<WorkBase> reduce(std::vector<at::Tensor>& tensors,
                                      const c10d::ReduceOptions& opts = c10d::ReduceOptions()) override;
  c10::intrusive_ptr<WorkBase> allgather(std::vector<std::vector<at::Tensor>>& outputs,
                                         std::vector<at::Tensor>& inputs,
                                         const c10d::AllgatherOptions& opts = c10d::AllgatherOptions()) override;
  c10::intrusive_ptr<WorkBase> _allgather_base(at::Tensor& output, at::Tensor& input,
                                               const c10d::AllgatherOptions& opts = c10d::AllgatherOptions()) override;
  c10::intrusive_ptr<WorkBase> gather(std::vector<std::vector<at::Tensor>>& outputs, std::vector<at::Tensor>& inputs,
                                      const c10d::GatherOptions& opts = c10d::GatherOptions()) override;
  c10::intrusive_ptr<WorkBase> scatter(std::vector<at::Tensor>& outputs, std::vector<std::vector<at::Tensor>>& inputs,
                                       const c10d::ScatterOptions& opts = c10d::ScatterOptions()) override;
  c10::intrusive_ptr<WorkBase> reduce_scatter(
      std::vector<at::Tensor>& outputs, std::vector<std::vector<at::Tensor>>& inputs,
      const c10d::ReduceScatterOptions& opts = c10d::ReduceScatterOptions()) override;
  c10::intrusive_ptr<WorkBase> _reduce_scatter_base(
      at::Tensor& output, at::Tensor& input,
      const c10d::ReduceScatterOptions& opts = c10d::ReduceScatterOptions()) override;
  c10::intrusive_ptr<WorkBase> alltoall_base(at::Tensor& output, at::Tensor& input,
                                             std::vector<int64_t>& outputSplitSizes,
                                             std::vector<int64_t>& inputSplitSizes,
                                             const c10d::AllToAllOptions& opts = c10d::AllToAllOptions()) override;
  c10::intrusive_ptr<WorkBase> alltoall(std::vector<at::Tensor>& outputs, std::vector<at::Tensor>& inputs,
                                        const c10d::AllToAllOptions& opts = c10d::AllToAllOptions()) override;
  c10::intrusive_ptr<WorkBase> send(std::vector<at::Tensor>& tensors, int dstRank, int tag) override;
  c10::intrusive_ptr<WorkBase> recv(std::vector<at::Tensor>& tensors, int srcRank, int tag) override;
  c10::intrusive_ptr<WorkBase> recvAnysource(std::vector<at::Tensor>& tensors, int tag) override;
  c10::intrusive_ptr<WorkBase> barrier(const c10d::BarrierOptions& opts = c10d::BarrierOptions()) override;

#if TORCH_VERSION_MAJOR < 2
  // batch_isend_irecv: the sends and receives issued in between run as one mixccl group, so any
  // exchange pattern completes (two ranks sending each other large messages included).
  void startCoalescing() override;
  void endCoalescing(std::vector<c10::intrusive_ptr<WorkBase>>& reqs) override;
#endif

 private:
  // A send or receive: post() calls mixcclSend/Recv (inside a group it only queues), finish() writes
  // the received data back once the operation is complete.
  struct PointToPoint {
    c10::intrusive_ptr<WorkMixccl> work;
    std::function<mixcclResult_t(mixcclComm_t)> post;
    std::function<void()> finish;
  };
  c10::intrusive_ptr<WorkBase> enqueuePointToPoint(PointToPoint op);
  void refuseWhileCoalescing(const std::string& op) const;

  // Queues body (run on the worker with the communicator) and returns its Work.
  c10::intrusive_ptr<WorkBase> enqueue(c10d::OpType type, const std::string& what, std::vector<at::Tensor> outputs,
                                       std::function<void(mixcclComm_t)> body);
  // Throws a std::runtime_error naming the op and carrying the library's explanation.
  void check(mixcclResult_t result, const std::string& what) const;
  const at::Tensor& single(const std::vector<at::Tensor>& tensors, const std::string& op) const;
  void checkRank(int64_t peer, const std::string& what) const;
  // Runs call with red's operation: a PreMulSum op is created for it first and destroyed after, even
  // when the collective fails; a failure throws as check() does.
  void reduceWith(const Reduction& red, mixcclComm_t comm, const std::string& what,
                  const std::function<mixcclResult_t(mixcclRedOp_t)>& call) const;
  // Checks each tensor of list (named listName[i]) against like: same dtype and element count.
  void checkTensorList(const std::vector<at::Tensor>& list, const at::Tensor& like, const std::string& listName,
                       const std::string& why) const;
  // alltoall with per-peer pieces: grouped sends and receives (the local piece is copied).
  void exchange(mixcclComm_t comm, const std::vector<const void*>& sendPtrs, const std::vector<size_t>& sendBytes,
                const std::vector<void*>& recvPtrs, const std::vector<size_t>& recvBytes, const std::string& what);

  std::string name_;
  bool coalescing_ = false;               // between startCoalescing and endCoalescing (caller's thread)
  std::vector<PointToPoint> coalesced_;   // the sends and receives issued meanwhile
  mixcclComm_t comm_ = nullptr;
  std::unique_ptr<OpQueue> queue_;  // declared last: destroyed (drained, joined) before comm_ is freed
};

}  // namespace mixccl_torch
