// Group calls: between mixcclGroupStart and the outermost mixcclGroupEnd, operations are queued per
// thread and run together at the end.
#pragma once

#include "core/op.h"

namespace mixccl {

bool inGroup();
// Queues op for the current group (inGroup() must be true).
void enqueueInGroup(mixcclComm* comm, const Op& op);
Status groupStart();
Status groupEnd();

}  // namespace mixccl
