// Group calls: between mixcclGroupStart and the outermost mixcclGroupEnd, operations are queued per
// thread and run together at the end.
#pragma once

#include <utility>
#include <vector>

#include "core/op.h"

namespace mixccl {

bool inGroup();
// Queues op for the current group (inGroup() must be true).
void enqueueInGroup(mixcclComm* comm, const Op& op);
Status groupStart();
Status groupEnd();
// Ends the current group like groupEnd but runs nothing: at the outermost level the queued operations
// move to *queued (per communicator, in order) for the caller to cost (mixcclGroupSimulateEnd).
Status groupTakeQueued(std::vector<std::pair<mixcclComm*, std::vector<Op>>>* queued);

}  // namespace mixccl
