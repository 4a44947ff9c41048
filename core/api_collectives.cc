// C entry points for collectives and point-to-point: check every argument, then run (or queue in
// the current group).
#include <algorithm>
#include <cstring>
#include <cstddef>
#include <limits>

#include "backends/devices/device.h"
#include "core/api_util.h"
#include "core/group.h"
#include "core/op.h"

using namespace mixccl;

namespace {

// Which buffers a collective reads and writes on this rank, and how many elements each holds.
struct BufferNeeds {
  bool readsSend = false;
  bool writesRecv = false;
  size_t sendBlocks = 1;  // sendbuff holds sendBlocks * count elements
  size_t recvBlocks = 1;
};

BufferNeeds needsOf(const Op& op, int rank, int nranks) {
  BufferNeeds b;
  size_t n = static_cast<size_t>(nranks);
  bool isRoot = rank == op.root;
  switch (op.collective) {
    case Collective::AllReduce: b.readsSend = b.writesRecv = true; break;
    case Collective::Broadcast: b.readsSend = isRoot; b.writesRecv = true; break;
    case Collective::Reduce: b.readsSend = true; b.writesRecv = isRoot; break;
    case Collective::AllGather: b.readsSend = b.writesRecv = true; b.recvBlocks = n; break;
    case Collective::ReduceScatter: b.readsSend = b.writesRecv = true; b.sendBlocks = n; break;
    case Collective::AlltoAll: b.readsSend = b.writesRecv = true; b.sendBlocks = b.recvBlocks = n; break;
    case Collective::Gather: b.readsSend = true; b.writesRecv = isRoot; b.recvBlocks = n; break;
    case Collective::Scatter: b.readsSend = isRoot; b.writesRecv = true; b.sendBlocks = n; break;
    case Collective::SendRecv: b.readsSend = op.isSend; b.writesRecv = !op.isSend; break;
  }
  return b;
}

bool hasRoot(Collective c) {
  return c == Collective::Broadcast || c == Collective::Reduce || c == Collective::Gather || c == Collective::Scatter;
}
bool reduces(Collective c) {
  return c == Collective::AllReduce || c == Collective::Reduce || c == Collective::ReduceScatter;
}

Status validate(mixcclComm* comm, const Op& op, const char* fn) {
  MIXCCL_CHECK(checkComm(comm, fn));
  int rawType = rawEnumValue(op.type);
  if (rawType < 0 || rawType >= mixcclNumTypes) {
    return errorStatus(mixcclInvalidArgument, "%s: datatype %d is not a mixcclDataType_t (0..%d)", fn, rawType,
                       mixcclNumTypes - 1);
  }
  if (reduces(op.collective)) {
    int r = rawEnumValue(op.redop);
    if (r < 0) return errorStatus(mixcclInvalidArgument, "%s: reduction op %d is not a mixcclRedOp_t", fn, r);
    if (r >= mixcclNumOps) {
      std::lock_guard<std::mutex> lock(comm->redOpMutex);
      auto it = comm->redOps.find(r);
      if (it == comm->redOps.end()) {
        return errorStatus(mixcclInvalidArgument, "%s: reduction op %d is neither built in (0..%d) nor created on this "
                           "communicator with mixcclRedOpCreatePreMulSum", fn, r, mixcclNumOps - 1);
      }
      if (it->second.type != op.type) {
        return errorStatus(mixcclInvalidArgument, "%s: reduction op %d was created for %s, not %s", fn, r,
                           dataTypeName(it->second.type), dataTypeName(op.type));
      }
    }
  }
  if (hasRoot(op.collective) && (op.root < 0 || op.root >= comm->nranks)) {
    return errorStatus(mixcclInvalidArgument, "%s: root %d is out of range for %d ranks (0..%d)", fn, op.root,
                       comm->nranks, comm->nranks - 1);
  }
  if (op.collective == Collective::SendRecv && (op.peer < 0 || op.peer >= comm->nranks)) {
    return errorStatus(mixcclInvalidArgument, "%s: peer %d is out of range for %d ranks (0..%d)", fn, op.peer,
                       comm->nranks, comm->nranks - 1);
  }
  BufferNeeds needs = needsOf(op, comm->rank, comm->nranks);
  size_t es = dataTypeSize(op.type);
  size_t maxBlocks = std::max(needs.sendBlocks, needs.recvBlocks);
  if (op.count > std::numeric_limits<size_t>::max() / es / maxBlocks ||
      op.count > static_cast<size_t>(std::numeric_limits<ptrdiff_t>::max()) / es / maxBlocks) {
    return errorStatus(mixcclInvalidArgument, "%s: count %zu of %s (x%zu blocks) overflows the address space", fn,
                       op.count, dataTypeName(op.type), maxBlocks);
  }
  if (op.count > 0 && needs.readsSend && op.sendbuf == nullptr) {
    return errorStatus(mixcclInvalidArgument, "%s: sendbuff is NULL but rank %d must read %zu elements from it", fn,
                       comm->rank, op.count * needs.sendBlocks);
  }
  if (op.count > 0 && needs.writesRecv && op.recvbuf == nullptr) {
    return errorStatus(mixcclInvalidArgument, "%s: recvbuff is NULL but rank %d must write %zu elements to it", fn,
                       comm->rank, op.count * needs.recvBlocks);
  }
  return Status::ok();
}

mixcclResult_t submit(mixcclComm* comm, Op op, const char* fn, mixcclStream_t stream) {
  op.stream = stream;  // stream-ordered on devices that have streams (core/stream_proxy.h)
  Status st = validate(comm, op, fn);
  bool liveComm = comm != nullptr && comm->magic == mixcclComm::kMagic;
  if (!st.isOk()) return report(liveComm ? comm : nullptr, st);
  if (inGroup()) {
    enqueueInGroup(comm, op);
    return mixcclSuccess;
  }
  op.ungrouped = true;
  // Counted as in flight until the result is reported: a mixcclCommAbort from another thread frees
  // the communicator only after that, not while report() still writes its last error.
  ActiveOp active(comm);
  return report(comm, runOps(comm, std::span<const Op>(&op, 1)));  // no allocation on the small-message path
}

// Returned by value into submit()'s parameter (guaranteed elision): an Op is not copied before
// validate() has checked its enums, since a copy loads them (UBSan rightly refuses a load of 99 as a
// mixcclDataType_t).
Op makeOp(Collective c, const void* sendbuff, void* recvbuff, size_t count, const mixcclDataType_t& type,
          const mixcclRedOp_t& redop, int root, int peer = -1, bool isSend = false) {
  Op op;
  op.collective = c;
  op.sendbuf = sendbuff;
  op.recvbuf = recvbuff;
  op.count = count;
  // Byte copies: the values are not checked yet (see rawEnumValue).
  std::memcpy(&op.type, &type, sizeof(op.type));
  std::memcpy(&op.redop, &redop, sizeof(op.redop));
  op.root = root;
  op.peer = peer;
  op.isSend = isSend;
  return op;
}

}  // namespace

MIXCCL_API mixcclResult_t mixcclAllReduce(const void* sendbuff, void* recvbuff, size_t count, mixcclDataType_t datatype,
                                          mixcclRedOp_t op, mixcclComm_t comm, mixcclStream_t stream) {
  return submit(comm, makeOp(Collective::AllReduce, sendbuff, recvbuff, count, datatype, op, 0), "mixcclAllReduce", stream);
}

MIXCCL_API mixcclResult_t mixcclBroadcast(const void* sendbuff, void* recvbuff, size_t count, mixcclDataType_t datatype,
                                          int root, mixcclComm_t comm, mixcclStream_t stream) {
  return submit(comm, makeOp(Collective::Broadcast, sendbuff, recvbuff, count, datatype, mixcclSum, root),
                "mixcclBroadcast", stream);
}

MIXCCL_API mixcclResult_t mixcclReduce(const void* sendbuff, void* recvbuff, size_t count, mixcclDataType_t datatype,
                                       mixcclRedOp_t op, int root, mixcclComm_t comm, mixcclStream_t stream) {
  return submit(comm, makeOp(Collective::Reduce, sendbuff, recvbuff, count, datatype, op, root), "mixcclReduce", stream);
}

MIXCCL_API mixcclResult_t mixcclAllGather(const void* sendbuff, void* recvbuff, size_t sendcount,
                                          mixcclDataType_t datatype, mixcclComm_t comm, mixcclStream_t stream) {
  return submit(comm, makeOp(Collective::AllGather, sendbuff, recvbuff, sendcount, datatype, mixcclSum, 0),
                "mixcclAllGather", stream);
}

MIXCCL_API mixcclResult_t mixcclReduceScatter(const void* sendbuff, void* recvbuff, size_t recvcount,
                                              mixcclDataType_t datatype, mixcclRedOp_t op, mixcclComm_t comm,
                                              mixcclStream_t stream) {
  return submit(comm, makeOp(Collective::ReduceScatter, sendbuff, recvbuff, recvcount, datatype, op, 0),
                "mixcclReduceScatter", stream);
}

MIXCCL_API mixcclResult_t mixcclAlltoAll(const void* sendbuff, void* recvbuff, size_t count, mixcclDataType_t datatype,
                                         mixcclComm_t comm, mixcclStream_t stream) {
  return submit(comm, makeOp(Collective::AlltoAll, sendbuff, recvbuff, count, datatype, mixcclSum, 0), "mixcclAlltoAll", stream);
}

MIXCCL_API mixcclResult_t mixcclGather(const void* sendbuff, void* recvbuff, size_t count, mixcclDataType_t datatype,
                                       int root, mixcclComm_t comm, mixcclStream_t stream) {
  return submit(comm, makeOp(Collective::Gather, sendbuff, recvbuff, count, datatype, mixcclSum, root), "mixcclGather", stream);
}

MIXCCL_API mixcclResult_t mixcclScatter(const void* sendbuff, void* recvbuff, size_t count, mixcclDataType_t datatype,
                                        int root, mixcclComm_t comm, mixcclStream_t stream) {
  return submit(comm, makeOp(Collective::Scatter, sendbuff, recvbuff, count, datatype, mixcclSum, root),
                "mixcclScatter", stream);
}

MIXCCL_API mixcclResult_t mixcclSend(const void* sendbuff, size_t count, mixcclDataType_t datatype, int peer,
                                     mixcclComm_t comm, mixcclStream_t stream) {
  return submit(comm, makeOp(Collective::SendRecv, sendbuff, nullptr, count, datatype, mixcclSum, 0, peer, true),
                "mixcclSend", stream);
}

MIXCCL_API mixcclResult_t mixcclRecv(void* recvbuff, size_t count, mixcclDataType_t datatype, int peer,
                                     mixcclComm_t comm, mixcclStream_t stream) {
  return submit(comm, makeOp(Collective::SendRecv, nullptr, recvbuff, count, datatype, mixcclSum, 0, peer, false),
                "mixcclRecv", stream);
}
