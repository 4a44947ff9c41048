// Building a communicator now (blocking) or on a thread of its own (config.blocking = 0, NCCL's
// non-blocking communicators). Used by init, split and shrink alike.
#pragma once

#include "core/comm.h"

namespace mixccl {

// Whether config asks for a non-blocking communicator (config.blocking = 0, else MIXCCL_COMM_BLOCKING
// or NCCL_COMM_BLOCKING = 0 when the field is left undefined).
bool wantsNonBlocking(const mixcclConfig_t* config);

// Builds comm. Blocking: returns when done (on failure the caller frees comm). Non-blocking: starts
// the build on comm->initThread, sets *inProgress and returns at once; the thread publishes the
// outcome in comm->asyncError (and the sentence in comm->lastError), and comm stays the caller's to
// destroy whatever the outcome.
Status buildCommunicator(mixcclComm* comm, int nranks, const mixcclUniqueId& id, int rank,
                         const mixcclConfig_t* config, bool* inProgress);

// Waits for a non-blocking build to end (abort first to make it end early). Safe to call on any comm.
void joinCommunicatorBuild(mixcclComm* comm);

}  // namespace mixccl
