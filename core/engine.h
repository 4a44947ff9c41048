// The engine: runs one rank's Schedule over the communicator's transports, asking the rank's device
// to copy and reduce. It is the only place where schedules meet bytes.
#pragma once

#include <vector>

#include "algorithms/schedule.h"
#include "backends/devices/device.h"
#include "core/status.h"

struct mixcclComm;

namespace mixccl {

struct ExecArgs {
  const Schedule* schedule = nullptr;
  // Indexed by Buf: Input, Output, Scratch, then one per grouped point-to-point op.
  std::vector<void*> buffers;
  mixcclDataType_t type = mixcclFloat32;
  ReduceOp op = ReduceOp::Sum;
  const char* what = "";  // "allreduce #12", for errors
};

// Runs the schedule to completion (host-synchronous). Every wait is bounded: if no transfer makes
// progress for the communicator's timeout, the error names the peers still waited for.
Status runSchedule(mixcclComm* comm, const ExecArgs& args);

}  // namespace mixccl
