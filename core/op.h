// One operation as the API received it (validated), ready to be planned and run, now or at the end
// of a group.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <vector>

#include "algorithms/schedule.h"
#include "core/status.h"
#include "mixccl.h"

struct mixcclComm;

namespace mixccl {

struct PreMulSumOp;  // core/comm.h

struct Op {
  Collective collective = Collective::AllReduce;
  const void* sendbuf = nullptr;
  void* recvbuf = nullptr;
  size_t count = 0;
  mixcclDataType_t type = mixcclFloat32;
  mixcclRedOp_t redop = mixcclSum;
  int root = 0;
  // SendRecv only: one send (to peer, from sendbuf) or one receive (from peer, into recvbuf).
  int peer = -1;
  bool isSend = false;
  // The user's stream (devices with streams: cuda, hip, plugins). Non-null makes the operation
  // stream-ordered (core/stream_proxy.h); ignored by devices without streams (cpu).
  mixcclStream_t stream = nullptr;
  // Called on its own, outside any group: only such all-reduces take the shm fast path
  // (core/shm_fastpath.h); grouped operations keep the engine's path.
  bool ungrouped = false;
  // A user pre-multiplied-sum operator, copied when a stream-ordered operation is queued: as in
  // NCCL the user may destroy the operator as soon as the call returns.
  std::shared_ptr<const PreMulSumOp> preMulSum;
};

// Runs a comm's operations in order: the collectives one after another, then all point-to-point
// operations together. Host-synchronous, unless the operations name a user stream of a device
// that has streams: then they are queued in stream order and this returns at once
// (core/stream_proxy.h). Records failures on the communicator.
Status runOps(mixcclComm* comm, std::span<const Op> ops);

}  // namespace mixccl
