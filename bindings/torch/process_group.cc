#include "bindings/torch/process_group.h"

#include <cstdlib>
#include <cstring>
#include <numeric>
#include <stdexcept>

#include "bindings/torch/tensors.h"

namespace mixccl_torch {
namespace {

// The unique id lives under this key in the group's store. torch gives every group its own store
// prefix (the group's name); the trailing number counts communicators made within one group, so a
// later one never reads a stale id.
constexpr const char* kUniqueIdKey = "mixccl/unique_id/0";

[[noreturn]] void fail(const std::string& message) { throw std::invalid_argument("mixccl: " + message); }

int timeoutSecondsFor(std::chrono::milliseconds timeout) {
  const char* env = std::getenv("MIXCCL_TIMEOUT");
  if (env != nullptr && *env != '\0') return MIXCCL_CONFIG_UNDEF_INT;  // the user's explicit choice wins
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(timeout).count();
  if (seconds <= 0) return MIXCCL_CONFIG_UNDEF_INT;
  return seconds > INT32_MAX ? INT32_MAX : static_cast<int>(seconds);
}

}  // namespace

ProcessGroupMixccl::ProcessGroupMixccl(const c10::intrusive_ptr<c10d::Store>& store, int rank, int size,
                                       std::chrono::milliseconds timeout)
    : BackendBase(rank, size) {
  name_ = "torch process group (rank " + std::to_string(rank) + " of " + std::to_string(size) + ")";
  mixcclUniqueId id;
  if (rank == 0) {
    check(mixcclGetUniqueId(&id), "creating the unique id (mixcclGetUniqueId)");
    std::vector<uint8_t> bytes(id.internal, id.internal + sizeof(id.internal));
    store->set(kUniqueIdKey, bytes);
  } else {
    std::vector<uint8_t> bytes = store->get(kUniqueIdKey);  // waits up to the store's timeout
    if (bytes.size() != sizeof(id.internal)) {
      fail("the unique id in the store has " + std::to_string(bytes.size()) + " bytes, not " +
           std::to_string(sizeof(id.internal)) + "; is another program using key " + kUniqueIdKey + "?");
    }
    std::memcpy(id.internal, bytes.data(), sizeof(id.internal));
  }
  mixcclConfig_t config = MIXCCL_CONFIG_INITIALIZER;
  config.timeoutSeconds = timeoutSecondsFor(timeout);
  config.deviceKind = "cpu";
  config.commName = name_.c_str();
  check(mixcclCommInitRankConfig(&comm_, size, id, rank, &config), "joining the communicator (mixcclCommInitRank)");
  queue_ = std::make_unique<OpQueue>();
}

ProcessGroupMixccl::~ProcessGroupMixccl() {
  queue_.reset();  // runs what was queued; every operation is bounded by the communicator's timeout
  if (comm_ != nullptr) mixcclCommDestroy(comm_);
}

void ProcessGroupMixccl::check(mixcclResult_t result, const std::string& what) const {
  if (result == mixcclSuccess) return;
  const char* last = mixcclGetLastError(comm_);
  std::string message = "mixccl: " + what + " on rank " + std::to_string(getRank()) + " of " +
                        std::to_string(getSize()) + " failed: " + mixcclGetErrorString(result);
  if (last != nullptr && *last != '\0') message += ": " + std::string(last);
  throw std::runtime_error(message);
}

c10::intrusive_ptr<WorkBase> ProcessGroupMixccl::enqueue(c10d::OpType type, const std::string& what,
                                                         std::vector<at::Tensor> outputs,
                                                         std::function<void(mixcclComm_t)> body) {
  refuseWhileCoalescing(what);
  auto work = c10::make_intrusive<WorkMixccl>(getRank(), type, what, std::move(outputs));
  mixcclComm_t comm = comm_;
  queue_->push([work, comm, body = std::move(body)]() {
    std::exception_ptr error;
    try {
      body(comm);
    } catch (...) {
      error = std::current_exception();
    }
    work->complete(error);
  });
  return work;
}

const at::Tensor& ProcessGroupMixccl::single(const std::vector<at::Tensor>& tensors, const std::string& op) const {
  if (tensors.size() != 1) {
    fail(op + " takes exactly one tensor per process (mixccl runs one device per rank), got " +
         std::to_string(tensors.size()));
  }
  checkTensor(tensors[0], op + " tensor");
  return tensors[0];
}

void ProcessGroupMixccl::reduceWith(const Reduction& red, mixcclComm_t comm, const std::string& what,
                                    const std::function<mixcclResult_t(mixcclRedOp_t)>& call) const {
  mixcclRedOp_t op = red.op;
  if (red.premul) {
    check(mixcclRedOpCreatePreMulSum(&op, red.factor.data_ptr(), red.dtype, mixcclScalarHostImmediate, comm), what);
  }
  const mixcclResult_t r = call(op);
  if (red.premul) mixcclRedOpDestroy(op, comm);  // destroyed even when the collective failed
  check(r, what);
}

void ProcessGroupMixccl::checkTensorList(const std::vector<at::Tensor>& list, const at::Tensor& like,
                                         const std::string& listName, const std::string& why) const {
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string name = listName + "[" + std::to_string(i) + "]";
    checkTensor(list[i], name);
    checkSameType(list[i], like, name);
    checkNumel(list[i], like.numel(), name, why);
  }
}

void ProcessGroupMixccl::checkRank(int64_t peer, const std::string& what) const {
  if (peer < 0 || peer >= getSize()) {
    fail(what + " is " + std::to_string(peer) + ", outside this group's ranks 0.." + std::to_string(getSize() - 1));
  }
}

c10::intrusive_ptr<WorkBase> ProcessGroupMixccl::broadcast(std::vector<at::Tensor>& tensors,
                                                           const c10d::BroadcastOptions& opts) {
  const at::Tensor t = single(tensors, "broadcast");
  checkRank(opts.rootRank, "broadcast root");
  const int root = static_cast<int>(opts.rootRank);
  at::Tensor host = getRank() == root ? hostInput(t) : hostOutput(t);
  std::string what = "broadcast of " + describe(t) + " from root " + std::to_string(root);
  return enqueue(c10d::OpType::BROADCAST, what, {t}, [this, t, host, root, what](mixcclComm_t comm) {
    check(mixcclBroadcast(host.data_ptr(), host.data_ptr(), byteCount(host), mixcclUint8, root, comm, nullptr), what);
    writeBack(t, host);
  });
}

c10::intrusive_ptr<WorkBase> ProcessGroupMixccl::allreduce(std::vector<at::Tensor>& tensors,
                                                           const c10d::AllreduceOptions& opts) {
  const at::Tensor t = single(tensors, "allreduce");
  Reduction red = reductionFor(t, opts.reduceOp, "allreduce tensor");
  at::Tensor host = hostInput(t);
  std::string what = "allreduce (" + opName(opts.reduceOp) + ") of " + describe(t);
  return enqueue(c10d::OpType::ALLREDUCE, what, {t}, [this, t, host, red, what](mixcclComm_t comm) {
    at::Tensor data = red.complexAsReal ? at::view_as_real(host) : host;
    reduceWith(red, comm, what, [&](mixcclRedOp_t op) {
      return mixcclAllReduce(data.data_ptr(), data.data_ptr(), data.numel(), red.dtype, op, comm, nullptr);
    });
    writeBack(t, host);
  });
}

c10::intrusive_ptr<WorkBase> ProcessGroupMixccl::allreduce_coalesced(std::vector<at::Tensor>& tensors,
                                                                     const c10d::AllreduceCoalescedOptions& opts) {
  if (tensors.empty()) fail("allreduce_coalesced needs at least one tensor");
  for (size_t i = 0; i < tensors.size(); ++i) {
    const std::string name = "allreduce_coalesced tensors[" + std::to_string(i) + "]";
    checkTensor(tensors[i], name);
    checkSameType(tensors[i], tensors[0], name);
  }
  Reduction red = reductionFor(tensors[0], opts.reduceOp, "allreduce_coalesced tensors");
  at::Tensor flat = flattenToHost(tensors);
  std::string what = "allreduce_coalesced (" + opName(opts.reduceOp) + ") of " + std::to_string(tensors.size()) +
                     " tensors, " + describe(flat) + " in all";
  std::vector<at::Tensor> outs = tensors;
  return enqueue(c10d::OpType::ALLREDUCE_COALESCED, what, outs, [this, outs, flat, red, what](mixcclComm_t comm) {
    at::Tensor data = red.complexAsReal ? at::view_as_real(flat) : flat;
    reduceWith(red, comm, what, [&](mixcclRedOp_t op) {
      return mixcclAllReduce(data.data_ptr(), data.data_ptr(), data.numel(), red.dtype, op, comm, nullptr);
    });
    unflattenInto(flat, outs);
  });
}

c10::intrusive_ptr<WorkBase> ProcessGroupMixccl::reduce(std::vector<at::Tensor>& tensors,
                                                        const c10d::ReduceOptions& opts) {
  const at::Tensor t = single(tensors, "reduce");
  checkRank(opts.rootRank, "reduce root");
  Reduction red = reductionFor(t, opts.reduceOp, "reduce tensor");
  const int root = static_cast<int>(opts.rootRank);
  at::Tensor host = hostInput(t);
  std::string what = "reduce (" + opName(opts.reduceOp) + ") of " + describe(t) + " to root " + std::to_string(root);
  return enqueue(c10d::OpType::REDUCE, what, {t}, [this, t, host, red, root, what](mixcclComm_t comm) {
    at::Tensor data = red.complexAsReal ? at::view_as_real(host) : host;
    reduceWith(red, comm, what, [&](mixcclRedOp_t op) {
      return mixcclReduce(data.data_ptr(), data.data_ptr(), data.numel(), red.dtype, op, root, comm, nullptr);
    });
    if (getRank() == root) writeBack(t, host);
  });
}

c10::intrusive_ptr<WorkBase> ProcessGroupMixccl::allgather(std::vector<std::vector<at::Tensor>>& outputs,
                                                           std::vector<at::Tensor>& inputs,
                                                           const c10d::AllgatherOptions&) {
  const at::Tensor in = single(inputs, "allgather");
  if (outputs.size() != 1 || outputs[0].size() != static_cast<size_t>(getSize())) {
    fail("allgather needs one list of " + std::to_string(getSize()) + " output tensors (one per rank)");
  }
  const std::vector<at::Tensor> outs = outputs[0];
  checkTensorList(outs, in, "allgather output", "as many as the input tensor");
  at::Tensor src = hostInput(in);
  at::Tensor flat = at::empty({in.numel() * getSize()}, src.options());
  std::string what = "allgather of " + describe(in) + " per rank";
  return enqueue(c10d::OpType::ALLGATHER, what, outs, [this, outs, src, flat, what](mixcclComm_t comm) {
    check(mixcclAllGather(src.data_ptr(), flat.data_ptr(), byteCount(src), mixcclUint8, comm, nullptr), what);
    unflattenInto(flat, outs);
  });
}

c10::intrusive_ptr<WorkBase> ProcessGroupMixccl::_allgather_base(at::Tensor& output, at::Tensor& input,
                                                                 const c10d::AllgatherOptions&) {
  checkTensor(input, "all_gather_into_tensor input");
  checkTensor(output, "all_gather_into_tensor output");
  checkSameType(output, input, "all_gather_into_tensor output");
  checkNumel(output, input.numel() * getSize(), "all_gather_into_tensor output", "world size x input elements");
  at::Tensor src = hostInput(input), dst = hostOutput(output);
  at::Tensor out = output;
  std::string what = "all_gather_into_tensor of " + describe(input) + " per rank";
  return enqueue(c10d::OpType::_ALLGATHER_BASE, what, {out}, [this, out, src, dst, what](mixcclComm_t comm) {
    check(mixcclAllGather(src.data_ptr(), dst.data_ptr(), byteCount(src), mixcclUint8, comm, nullptr), what);
    writeBack(out, dst);
  });
}

c10::intrusive_ptr<WorkBase> ProcessGroupMixccl::gather(std::vector<std::vector<at::Tensor>>& outputs,
                                                        std::vector<at::Tensor>& inputs,
                                                        const c10d::GatherOptions& opts) {
  const at::Tensor in = single(inputs, "gather");
  checkRank(opts.rootRank, "gather root");
  const int root = static_cast<int>(opts.rootRank);
  std::vector<at::Tensor> outs;
  if (getRank() == root) {
    if (outputs.size() != 1 || outputs[0].size() != static_cast<size_t>(getSize())) {
      fail("gather needs, on the root, one list of " + std::to_string(getSize()) + " output tensors");
    }
    outs = outputs[0];
    checkTensorList(outs, in, "gather output", "as many as the input tensor");
  } else if (!outputs.empty() && !outputs[0].empty()) {
    fail("gather takes output tensors on the root only (this is rank " + std::to_string(getRank()) + ", root " +
         std::to_string(root) + ")");
  }
  at::Tensor src = hostInput(in);
  at::Tensor flat = getRank() == root ? at::empty({in.numel() * getSize()}, src.options()) : at::Tensor();
  std::string what = "gather of " + describe(in) + " per rank to root " + std::to_string(root);
  return enqueue(c10d::OpType::GATHER, what, outs, [this, outs, src, flat, root, what](mixcclComm_t comm) {
    void* dst = flat.defined() ? flat.data_ptr() : nullptr;
    check(mixcclGather(src.data_ptr(), dst, byteCount(src), mixcclUint8, root, comm, nullptr), what);
    if (flat.defined()) unflattenInto(flat, outs);
  });
}

c10::intrusive_ptr<WorkBase> ProcessGroupMixccl::scatter(std::vector<at::Tensor>& outputs,
                                                         std::vector<std::vector<at::Tensor>>& inputs,
                                                         const c10d::ScatterOptions& opts) {
  const at::Tensor out = single(outputs, "scatter");
  checkRank(opts.rootRank, "scatter root");
  const int root = static_cast<int>(opts.rootRank);
  at::Tensor flat;
  if (getRank() == root) {
    if (inputs.size() != 1 || inputs[0].size() != static_cast<size_t>(getSize())) {
      fail("scatter needs, on the root, one list of " + std::to_string(getSize()) + " input tensors");
    }
    checkTensorList(inputs[0], out, "scatter input", "as many as the output tensor");
    flat = flattenToHost(inputs[0]);
  } else if (!inputs.empty() && !inputs[0].empty()) {
    fail("scatter takes input tensors on the root only (this is rank " + std::to_string(getRank()) + ", root " +
         std::to_string(root) + ")");
  }
  at::Tensor dst = hostOutput(out);
  std::string what = "scatter of " + describe(out) + " per rank from root " + std::to_string(root);
  return enqueue(c10d::OpType::SCATTER, what, {out}, [this, out, dst, flat, root, what](mixcclComm_t comm) {
    const void* src = flat.defined() ? flat.data_ptr() : nullptr;
    check(mixcclScatter(src, dst.data_ptr(), byteCount(dst), mixcclUint8, root, comm, nullptr), what);
    writeBack(out, dst);
  });
}

c10::intrusive_ptr<WorkBase> ProcessGroupMixccl::reduce_scatter(std::vector<at::Tensor>& outputs,
                                                                std::vector<std::vector<at::Tensor>>& inputs,
                                                                const c10d::ReduceScatterOptions& opts) {
  const at::Tensor out = single(outputs, "reduce_scatter");
  if (inputs.size() != 1 || inputs[0].size() != static_cast<size_t>(getSize())) {
    fail("reduce_scatter needs one list of " + std::to_string(getSize()) + " input tensors (one per rank)");
  }
  checkTensorList(inputs[0], out, "reduce_scatter input", "as many as the output tensor");
  Reduction red = reductionFor(out, opts.reduceOp, "reduce_scatter tensor");
  at::Tensor flat = flattenToHost(inputs[0]);
  at::Tensor dst = hostOutput(out);
  std::string what = "reduce_scatter (" + opName(opts.reduceOp) + ") of " + describe(out) + " per rank";
  return enqueue(c10d::OpType::REDUCE_SCATTER, what, {out}, [this, out, flat, dst, red, what](mixcclComm_t comm) {
    at::Tensor in = red.complexAsReal ? at::view_as_real(flat) : flat;
    at::Tensor o = red.complexAsReal ? at::view_as_real(dst) : dst;
    reduceWith(red, comm, what, [&](mixcclRedOp_t op) {
      return mixcclReduceScatter(in.data_ptr(), o.data_ptr(), o.numel(), red.dtype, op, comm, nullptr);
    });
    writeBack(out, dst);
  });
}

c10::intrusive_ptr<WorkBase> ProcessGroupMixccl::_reduce_scatter_base(at::Tensor& output, at::Tensor& input,
                                                                      const c10d::ReduceScatterOptions& opts) {
  checkTensor(input, "reduce_scatter_tensor input");
  checkTensor(output, "reduce_scatter_tensor output");
  checkSameType(output, input, "reduce_scatter_tensor output");
  checkNumel(input, output.numel() * getSize(), "reduce_scatter_tensor input", "world size x output elements");
  Reduction red = reductionFor(output, opts.reduceOp, "reduce_scatter_tensor tensor");
  at::Tensor src = hostInput(input), dst = hostOutput(output);
  at::Tensor out = output;
  std::string what = "reduce_scatter_tensor (" + opName(opts.reduceOp) + ") of " + describe(output) + " per rank";
  return enqueue(c10d::OpType::_REDUCE_SCATTER_BASE, what, {out}, [this, out, src, dst, red, what](mixcclComm_t comm) {
    at::Tensor in = red.complexAsReal ? at::view_as_real(src) : src;
    at::Tensor o = red.complexAsReal ? at::view_as_real(dst) : dst;
    reduceWith(red, comm, what, [&](mixcclRedOp_t op) {
      return mixcclReduceScatter(in.data_ptr(), o.data_ptr(), o.numel(), red.dtype, op, comm, nullptr);
    });
    writeBack(out, dst);
  });
}

void ProcessGroupMixccl::exchange(mixcclComm_t comm, const std::vector<const void*>& sendPtrs,
                                  const std::vector<size_t>& sendBytes, const std::vector<void*>& recvPtrs,
                                  const std::vector<size_t>& recvBytes, const std::string& what) {
  const int me = getRank();
  if (sendBytes[me] != recvBytes[me]) {
    fail(what + ": this rank sends itself " + std::to_string(sendBytes[me]) + " bytes but expects " +
         std::to_string(recvBytes[me]));
  }
  if (sendBytes[me] > 0) std::memcpy(recvPtrs[me], sendPtrs[me], sendBytes[me]);
  check(mixcclGroupStart(), what);
  mixcclResult_t r = mixcclSuccess;
  for (int peer = 0; peer < getSize() && r == mixcclSuccess; ++peer) {
    if (peer == me) continue;
    if (sendBytes[peer] > 0) r = mixcclSend(sendPtrs[peer], sendBytes[peer], mixcclUint8, peer, comm, nullptr);
    if (r == mixcclSuccess && recvBytes[peer] > 0) {
      r = mixcclRecv(recvPtrs[peer], recvBytes[peer], mixcclUint8, peer, comm, nullptr);
    }
  }
  mixcclResult_t end = mixcclGroupEnd();  // always close the group, even after a refused call
  check(r, what);
  check(end, what);
}

c10::intrusive_ptr<WorkBase> ProcessGroupMixccl::alltoall_base(at::Tensor& output, at::Tensor& input,
                                                               std::vector<int64_t>& outputSplitSizes,
                                                               std::vector<int64_t>& inputSplitSizes,
                                                               const c10d::AllToAllOptions&) {
  checkTensor(input, "all_to_all_single input");
  checkTensor(output, "all_to_all_single output");
  checkSameType(output, input, "all_to_all_single output");
  const int n = getSize();
  at::Tensor src = hostInput(input), dst = hostOutput(output);
  at::Tensor out = output;
  if (outputSplitSizes.empty() && inputSplitSizes.empty()) {
    checkNumel(output, input.numel(), "all_to_all_single output", "as many as the input without split sizes");
    if (input.numel() % n != 0) {
      fail("all_to_all_single input has " + std::to_string(input.numel()) + " elements, which do not split into " +
           std::to_string(n) + " equal pieces; pass split sizes");
    }
    std::string what = "all_to_all_single of " + describe(input);
    return enqueue(c10d::OpType::ALLTOALL_BASE, what, {out}, [this, out, src, dst, n, what](mixcclComm_t comm) {
      check(mixcclAlltoAll(src.data_ptr(), dst.data_ptr(), byteCount(src) / n, mixcclUint8, comm, nullptr), what);
      writeBack(out, dst);
    });
  }
  // Split sizes count rows (dimension 0); an empty list means equal pieces.
  auto pieces = [&](const at::Tensor& t, std::vector<int64_t> splits, const std::string& name) {
    const int64_t rows = t.dim() == 0 ? 1 : t.size(0);
    if (splits.empty()) {
      if (rows % n != 0) fail(name + " has " + std::to_string(rows) + " rows, which do not split into " +
                              std::to_string(n) + " equal pieces");
      splits.assign(n, rows / n);
    }
    if (splits.size() != static_cast<size_t>(n)) {
      fail(name + " split sizes have " + std::to_string(splits.size()) + " entries, not one per rank (" +
           std::to_string(n) + ")");
    }
    int64_t total = 0;
    for (int64_t s : splits) {
      if (s < 0) fail(name + " split sizes hold a negative size");
      total += s;
    }
    if (total != rows) {
      fail(name + " split sizes add up to " + std::to_string(total) + " rows but the tensor has " +
           std::to_string(rows));
    }
    const size_t rowBytes = rows == 0 ? 0 : byteCount(t) / rows;
    std::vector<size_t> bytes(n), offsets(n);
    size_t offset = 0;
    for (int i = 0; i < n; ++i) {
      bytes[i] = splits[i] * rowBytes;
      offsets[i] = offset;
      offset += bytes[i];
    }
    return std::make_pair(bytes, offsets);
  };
  auto [sendBytes, sendOffsets] = pieces(input, inputSplitSizes, "all_to_all_single input");
  auto [recvBytes, recvOffsets] = pieces(output, outputSplitSizes, "all_to_all_single output");
  std::string what = "all_to_all_single of " + describe(input) + " with split sizes";
  return enqueue(c10d::OpType::ALLTOALL_BASE, what, {out},
                 [this, out, src, dst, n, what, sendBytes = sendBytes, sendOffsets = sendOffsets,
                  recvBytes = recvBytes, recvOffsets = recvOffsets](mixcclComm_t comm) {
                   std::vector<const void*> sendPtrs(n);
                   std::vector<void*> recvPtrs(n);
                   for (int i = 0; i < n; ++i) {
                     sendPtrs[i] = static_cast<const char*>(src.data_ptr()) + sendOffsets[i];
                     recvPtrs[i] = static_cast<char*>(dst.data_ptr()) + recvOffsets[i];
                   }
                   exchange(comm, sendPtrs, sendBytes, recvPtrs, recvBytes, what);
                   writeBack(out, dst);
                 });
}

c10::intrusive_ptr<WorkBase> ProcessGroupMixccl::alltoall(std::vector<at::Tensor>& outputs,
                                                          std::vector<at::Tensor>& inputs,
                                                          const c10d::AllToAllOptions&) {
  const int n = getSize();
  if (inputs.size() != static_cast<size_t>(n) || outputs.size() != static_cast<size_t>(n)) {
    fail("all_to_all needs " + std::to_string(n) + " input and " + std::to_string(n) +
         " output tensors (one per rank), got " + std::to_string(inputs.size()) + " and " +
         std::to_string(outputs.size()));
  }
  std::vector<at::Tensor> srcs(n), dsts(n);
  std::vector<size_t> sendBytes(n), recvBytes(n);
  for (int i = 0; i < n; ++i) {
    checkTensor(inputs[i], "all_to_all input[" + std::to_string(i) + "]");
    checkTensor(outputs[i], "all_to_all output[" + std::to_string(i) + "]");
    checkSameType(inputs[i], inputs[0], "all_to_all input[" + std::to_string(i) + "]");
    checkSameType(outputs[i], inputs[0], "all_to_all output[" + std::to_string(i) + "]");
    srcs[i] = hostInput(inputs[i]);
    dsts[i] = hostOutput(outputs[i]);
    sendBytes[i] = byteCount(srcs[i]);
    recvBytes[i] = byteCount(dsts[i]);
  }
  std::vector<at::Tensor> outs = outputs;
  std::string what = "all_to_all of " + std::to_string(n) + " tensors of " +
                     std::string(c10::toString(inputs[0].scalar_type()));
  return enqueue(c10d::OpType::ALLTOALL, what, outs,
                 [this, outs, srcs, dsts, sendBytes, recvBytes, n, what](mixcclComm_t comm) {
                   std::vector<const void*> sendPtrs(n);
                   std::vector<void*> recvPtrs(n);
                   for (int i = 0; i < n; ++i) {
                     sendPtrs[i] = srcs[i].data_ptr();
                     recvPtrs[i] = dsts[i].data_ptr();
                   }
                   exchange(comm, sendPtrs, sendBytes, recvPtrs, recvBytes, what);
                   for (int i = 0; i < n; ++i) writeBack(outs[i], dsts[i]);
                 });
}

c10::intrusive_ptr<WorkBase> ProcessGroupMixccl::send(std::vector<at::Tensor>& tensors, int dstRank, int) {
  const at::Tensor t = single(tensors, "send");
  checkRank(dstRank, "send destination");
  at::Tensor src = hostInput(t);
  std::string what = "send of " + describe(t) + " to rank " + std::to_string(dstRank);
  PointToPoint op;
  op.work = c10::make_intrusive<WorkMixccl>(getRank(), c10d::OpType::SEND, what, std::vector<at::Tensor>{});
  op.post = [src, dstRank](mixcclComm_t comm) {
    return mixcclSend(src.data_ptr(), byteCount(src), mixcclUint8, dstRank, comm, nullptr);
  };
  op.finish = [] {};
  return enqueuePointToPoint(std::move(op));
}

c10::intrusive_ptr<WorkBase> ProcessGroupMixccl::recv(std::vector<at::Tensor>& tensors, int srcRank, int) {
  const at::Tensor t = single(tensors, "recv");
  checkRank(srcRank, "recv source");
  at::Tensor dst = hostOutput(t);
  std::string what = "recv of " + describe(t) + " from rank " + std::to_string(srcRank);
  PointToPoint op;
  op.work = c10::make_intrusive<WorkMixccl>(getRank(), c10d::OpType::RECV, what, std::vector<at::Tensor>{t});
  op.post = [dst, srcRank](mixcclComm_t comm) {
    return mixcclRecv(dst.data_ptr(), byteCount(dst), mixcclUint8, srcRank, comm, nullptr);
  };
  op.finish = [t, dst] { writeBack(t, dst); };
  return enqueuePointToPoint(std::move(op));
}

c10::intrusive_ptr<WorkBase> ProcessGroupMixccl::enqueuePointToPoint(PointToPoint op) {
  c10::intrusive_ptr<WorkBase> work = op.work;
  if (coalescing_) {
    coalesced_.push_back(std::move(op));
    return work;
  }
  queue_->push([this, op = std::move(op)]() {
    std::exception_ptr error;
    try {
      check(op.post(comm_), op.work->description());
      op.finish();
    } catch (...) {
      error = std::current_exception();
    }
    op.work->complete(error);
  });
  return work;
}

void ProcessGroupMixccl::refuseWhileCoalescing(const std::string& op) const {
  if (coalescing_) {
    fail(op + " inside batch_isend_irecv: only sends and receives can be batched");
  }
}

#if TORCH_VERSION_MAJOR < 2
void ProcessGroupMixccl::startCoalescing() {
  if (coalescing_) fail("batch_isend_irecv inside another batch_isend_irecv on the same group");
  coalescing_ = true;
}

void ProcessGroupMixccl::endCoalescing(std::vector<c10::intrusive_ptr<WorkBase>>&) {
  coalescing_ = false;
  std::vector<PointToPoint> ops = std::move(coalesced_);
  coalesced_.clear();
  if (ops.empty()) return;
  queue_->push([this, ops = std::move(ops)]() {
    std::exception_ptr error;
    try {
      check(mixcclGroupStart(), "batch_isend_irecv");
      mixcclResult_t r = mixcclSuccess;
      size_t failed = 0;
      for (; failed < ops.size() && r == mixcclSuccess; ++failed) r = ops[failed].post(comm_);
      mixcclResult_t end = mixcclGroupEnd();  // always close the group, even after a refused call
      if (r != mixcclSuccess) check(r, ops[failed - 1].work->description() + " (in batch_isend_irecv)");
      check(end, "batch_isend_irecv of " + std::to_string(ops.size()) + " sends and receives");
      for (const auto& op : ops) op.finish();
    } catch (...) {
      error = std::current_exception();
    }
    for (const auto& op : ops) op.work->complete(error);
  });
}
#endif

c10::intrusive_ptr<WorkBase> ProcessGroupMixccl::recvAnysource(std::vector<at::Tensor>&, int) {
  fail("recv from any source is not supported: mixccl matches messages by peer; pass src=");
}

c10::intrusive_ptr<WorkBase> ProcessGroupMixccl::barrier(const c10d::BarrierOptions&) {
  // A one-byte allreduce: it completes on a rank only after every rank has issued it, and because the
  // worker runs operations in order, after everything this rank queued before.
  at::Tensor token = at::zeros({1}, at::kByte);
  std::string what = "barrier";
  return enqueue(c10d::OpType::BARRIER, what, {}, [this, token, what](mixcclComm_t comm) {
    check(mixcclAllReduce(token.data_ptr(), token.data_ptr(), 1, mixcclUint8, mixcclMax, comm, nullptr), what);
  });
}

}  // namespace mixccl_torch
