// NCCL's collectives, point-to-point and group calls, mapped onto the native API. Host buffers go
// straight through; CUDA device buffers are staged through host memory (cuda_staging.h).
#include <limits>
#include <memory>
#include <vector>

#include "backends/devices/device.h"
#include "bindings/nccl/cuda_staging.h"
#include "bindings/nccl/shim.h"
#include "core/api_util.h"

using namespace mixccl;
using namespace mixccl::nccl;

namespace {

enum class Kind { AllReduce, Broadcast, Reduce, AllGather, ReduceScatter, AlltoAll, Gather, Scatter, Send, Recv };

// Staged buffers whose results go back to the device when the outermost group ends.
struct ShimGroup {
  int depth = 0;
  std::vector<std::unique_ptr<StagedBuffers>> pending;
};
thread_local ShimGroup tlsGroup;

// Bytes this rank reads from sendbuff and writes to recvbuff (the native API's buffer rules). False
// when the arguments are too broken to tell; the native call then reports what is wrong.
bool bufferBytes(Kind kind, ncclComm_t comm, size_t count, ncclDataType_t type, int root, size_t* sendBytes,
                 size_t* recvBytes) {
  int nranks = 0, rank = 0;
  if (mixcclCommCount(native(comm), &nranks) != mixcclSuccess) return false;
  if (mixcclCommUserRank(native(comm), &rank) != mixcclSuccess) return false;
  size_t es = dataTypeSize(bitCast<mixcclDataType_t>(type));
  if (es == 0) return false;
  size_t n = static_cast<size_t>(nranks);
  if (count > std::numeric_limits<size_t>::max() / es / n) return false;
  size_t block = count * es, all = block * n;
  bool isRoot = rank == root;
  switch (kind) {
    case Kind::AllReduce: *sendBytes = block; *recvBytes = block; break;
    case Kind::Broadcast: *sendBytes = isRoot ? block : 0; *recvBytes = block; break;
    case Kind::Reduce: *sendBytes = block; *recvBytes = isRoot ? block : 0; break;
    case Kind::AllGather: *sendBytes = block; *recvBytes = all; break;
    case Kind::ReduceScatter: *sendBytes = all; *recvBytes = block; break;
    case Kind::AlltoAll: *sendBytes = all; *recvBytes = all; break;
    case Kind::Gather: *sendBytes = block; *recvBytes = isRoot ? all : 0; break;
    case Kind::Scatter: *sendBytes = isRoot ? all : 0; *recvBytes = block; break;
    case Kind::Send: *sendBytes = block; *recvBytes = 0; break;
    case Kind::Recv: *sendBytes = 0; *recvBytes = block; break;
  }
  return true;
}

// Runs `call(send, recv)` on host copies of any CUDA buffers. Inside a group the copy back waits for
// the outermost ncclGroupEnd (the operation only runs then).
template <class Call>
ncclResult_t run(Kind kind, const char* fn, const void* sendbuff, void* recvbuff, size_t count, ncclDataType_t type,
                 int root, ncclComm_t comm, cudaStream_t stream, Call call) {
  size_t sendBytes = 0, recvBytes = 0;
  if (!cudaDriverPresent() || !bufferBytes(kind, comm, count, type, root, &sendBytes, &recvBytes)) {
    return result(call(sendbuff, recvbuff));
  }
  std::unique_ptr<StagedBuffers> staged;
  Status st = StagedBuffers::stage(sendbuff, sendBytes, recvbuff, recvBytes, stream, &staged);
  if (!st.isOk()) return fail(comm, st.withContext(std::string(fn) + ": "));
  if (!staged->staged()) return result(call(sendbuff, recvbuff));
  mixcclResult_t rc = call(staged->send(), staged->recv());
  if (rc != mixcclSuccess) return result(rc);
  if (tlsGroup.depth > 0) {
    tlsGroup.pending.push_back(std::move(staged));
    return ncclSuccess;
  }
  st = staged->finish();
  return st.isOk() ? ncclSuccess : fail(comm, st.withContext(std::string(fn) + ": "));
}

mixcclDataType_t dt(ncclDataType_t t) { return bitCast<mixcclDataType_t>(t); }
mixcclRedOp_t rop(ncclRedOp_t op) { return bitCast<mixcclRedOp_t>(op); }

}  // namespace

NCCL_SHIM_API ncclResult_t pncclAllReduce(const void* sendbuff, void* recvbuff, size_t count, ncclDataType_t datatype,
                                          ncclRedOp_t op, ncclComm_t comm, cudaStream_t stream) {
  return run(Kind::AllReduce, "ncclAllReduce", sendbuff, recvbuff, count, datatype, 0, comm, stream,
             [&](const void* s, void* r) { return mixcclAllReduce(s, r, count, dt(datatype), rop(op), native(comm), stream); });
}

NCCL_SHIM_API ncclResult_t pncclBroadcast(const void* sendbuff, void* recvbuff, size_t count, ncclDataType_t datatype,
                                          int root, ncclComm_t comm, cudaStream_t stream) {
  return run(Kind::Broadcast, "ncclBroadcast", sendbuff, recvbuff, count, datatype, root, comm, stream,
             [&](const void* s, void* r) { return mixcclBroadcast(s, r, count, dt(datatype), root, native(comm), stream); });
}

NCCL_SHIM_API ncclResult_t pncclBcast(void* buff, size_t count, ncclDataType_t datatype, int root, ncclComm_t comm,
                                      cudaStream_t stream) {
  return run(Kind::Broadcast, "ncclBcast", buff, buff, count, datatype, root, comm, stream,
             [&](const void* s, void* r) { return mixcclBroadcast(s, r, count, dt(datatype), root, native(comm), stream); });
}

NCCL_SHIM_API ncclResult_t pncclReduce(const void* sendbuff, void* recvbuff, size_t count, ncclDataType_t datatype,
                                       ncclRedOp_t op, int root, ncclComm_t comm, cudaStream_t stream) {
  return run(Kind::Reduce, "ncclReduce", sendbuff, recvbuff, count, datatype, root, comm, stream,
             [&](const void* s, void* r) { return mixcclReduce(s, r, count, dt(datatype), rop(op), root, native(comm), stream); });
}

NCCL_SHIM_API ncclResult_t pncclAllGather(const void* sendbuff, void* recvbuff, size_t sendcount,
                                          ncclDataType_t datatype, ncclComm_t comm, cudaStream_t stream) {
  return run(Kind::AllGather, "ncclAllGather", sendbuff, recvbuff, sendcount, datatype, 0, comm, stream,
             [&](const void* s, void* r) { return mixcclAllGather(s, r, sendcount, dt(datatype), native(comm), stream); });
}

NCCL_SHIM_API ncclResult_t pncclReduceScatter(const void* sendbuff, void* recvbuff, size_t recvcount,
                                              ncclDataType_t datatype, ncclRedOp_t op, ncclComm_t comm,
                                              cudaStream_t stream) {
  return run(Kind::ReduceScatter, "ncclReduceScatter", sendbuff, recvbuff, recvcount, datatype, 0, comm, stream,
             [&](const void* s, void* r) {
               return mixcclReduceScatter(s, r, recvcount, dt(datatype), rop(op), native(comm), stream);
             });
}

NCCL_SHIM_API ncclResult_t pncclAlltoAll(const void* sendbuff, void* recvbuff, size_t count, ncclDataType_t datatype,
                                         ncclComm_t comm, cudaStream_t stream) {
  return run(Kind::AlltoAll, "ncclAlltoAll", sendbuff, recvbuff, count, datatype, 0, comm, stream,
             [&](const void* s, void* r) { return mixcclAlltoAll(s, r, count, dt(datatype), native(comm), stream); });
}

NCCL_SHIM_API ncclResult_t pncclGather(const void* sendbuff, void* recvbuff, size_t count, ncclDataType_t datatype,
                                       int root, ncclComm_t comm, cudaStream_t stream) {
  return run(Kind::Gather, "ncclGather", sendbuff, recvbuff, count, datatype, root, comm, stream,
             [&](const void* s, void* r) { return mixcclGather(s, r, count, dt(datatype), root, native(comm), stream); });
}

NCCL_SHIM_API ncclResult_t pncclScatter(const void* sendbuff, void* recvbuff, size_t count, ncclDataType_t datatype,
                                        int root, ncclComm_t comm, cudaStream_t stream) {
  return run(Kind::Scatter, "ncclScatter", sendbuff, recvbuff, count, datatype, root, comm, stream,
             [&](const void* s, void* r) { return mixcclScatter(s, r, count, dt(datatype), root, native(comm), stream); });
}

NCCL_SHIM_API ncclResult_t pncclSend(const void* sendbuff, size_t count, ncclDataType_t datatype, int peer,
                                     ncclComm_t comm, cudaStream_t stream) {
  return run(Kind::Send, "ncclSend", sendbuff, nullptr, count, datatype, 0, comm, stream,
             [&](const void* s, void*) { return mixcclSend(s, count, dt(datatype), peer, native(comm), stream); });
}

NCCL_SHIM_API ncclResult_t pncclRecv(void* recvbuff, size_t count, ncclDataType_t datatype, int peer, ncclComm_t comm,
                                     cudaStream_t stream) {
  return run(Kind::Recv, "ncclRecv", nullptr, recvbuff, count, datatype, 0, comm, stream,
             [&](const void*, void* r) { return mixcclRecv(r, count, dt(datatype), peer, native(comm), stream); });
}

NCCL_SHIM_API ncclResult_t pncclGroupStart(void) {
  mixcclResult_t rc = mixcclGroupStart();
  if (rc == mixcclSuccess) ++tlsGroup.depth;
  return result(rc);
}

NCCL_SHIM_API ncclResult_t pncclGroupEnd(void) {
  mixcclResult_t rc = mixcclGroupEnd();
  if (tlsGroup.depth == 0 || --tlsGroup.depth > 0) return result(rc);
  // The group ran: its staged results go back to their devices now (unless it failed).
  auto pending = std::move(tlsGroup.pending);
  tlsGroup.pending.clear();
  if (rc != mixcclSuccess) return result(rc);
  for (auto& staged : pending) {
    Status st = staged->finish();
    if (!st.isOk()) return fail(nullptr, st.withContext("ncclGroupEnd: "));
  }
  return ncclSuccess;
}

NCCL_SHIM_API ncclResult_t pncclGroupSimulateEnd(ncclSimInfo_t* simInfo) {
  // The group ends whatever simInfo holds, so that the caller's group state stays consistent.
  double us = 0;
  mixcclResult_t rc = mixcclGroupSimulateEnd(&us);
  if (tlsGroup.depth > 0 && --tlsGroup.depth == 0) tlsGroup.pending.clear();  // nothing ran: nothing to copy back
  if (rc != mixcclSuccess) return result(rc);
  if (simInfo == nullptr) return fail(nullptr, errorStatus(mixcclInvalidArgument, "ncclGroupSimulateEnd: simInfo is NULL"));
  if (simInfo->magic != 0x74685283u || simInfo->size < sizeof(ncclSimInfo_t)) {
    return fail(nullptr, errorStatus(mixcclInvalidArgument, "ncclGroupSimulateEnd: simInfo was not set up with "
                                     "NCCL_SIM_INFO_INITIALIZER (magic 0x%x, size %zu)", simInfo->magic, simInfo->size));
  }
  simInfo->estimatedTime = static_cast<float>(us);
  return ncclSuccess;
}

NCCL_SHIM_ALIAS(ncclAllReduce)
NCCL_SHIM_ALIAS(ncclBroadcast)
NCCL_SHIM_ALIAS(ncclBcast)
NCCL_SHIM_ALIAS(ncclReduce)
NCCL_SHIM_ALIAS(ncclAllGather)
NCCL_SHIM_ALIAS(ncclReduceScatter)
NCCL_SHIM_ALIAS(ncclAlltoAll)
NCCL_SHIM_ALIAS(ncclGather)
NCCL_SHIM_ALIAS(ncclScatter)
NCCL_SHIM_ALIAS(ncclSend)
NCCL_SHIM_ALIAS(ncclRecv)
NCCL_SHIM_ALIAS(ncclGroupStart)
NCCL_SHIM_ALIAS(ncclGroupEnd)
NCCL_SHIM_ALIAS(ncclGroupSimulateEnd)
