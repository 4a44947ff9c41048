// Error strings and last-error bookkeeping.
#include <string>

#include "core/api_util.h"
#include "core/log.h"

namespace mixccl {
namespace {
thread_local std::string tlsLastError;
}

void setThreadLastError(const std::string& message) { tlsLastError = message; }
const char* threadLastError() { return tlsLastError.c_str(); }

mixcclResult_t report(mixcclComm* comm, const Status& st) {
  if (st.isOk()) return mixcclSuccess;
  setThreadLastError(st.message());
  if (comm != nullptr && comm->magic == mixcclComm::kMagic) {
    std::lock_guard<std::mutex> lock(comm->errorMutex);
    comm->lastError = st.message();
  }
  MIXCCL_WARN("%s: %s", mixcclGetErrorString(st.code()), st.message().c_str());
  return st.code();
}

Status checkComm(const mixcclComm* comm, const char* function) {
  if (comm == nullptr) return errorStatus(mixcclInvalidArgument, "%s: comm is NULL", function);
  if (comm->magic != mixcclComm::kMagic) {
    return errorStatus(mixcclInvalidArgument, "%s: comm is not a live communicator (destroyed, or not from "
                       "mixcclCommInitRank?)", function);
  }
  if (comm->aborted.load(std::memory_order_acquire)) {
    return errorStatus(mixcclInvalidUsage, "%s: the communicator was aborted", function);
  }
  if (comm->initPending.load(std::memory_order_acquire)) {
    return errorStatus(mixcclInvalidUsage, "%s: the communicator is still being built (non-blocking init); poll "
                       "mixcclCommGetAsyncError until it no longer returns mixcclInProgress", function);
  }
  return Status::ok();
}

}  // namespace mixccl

using namespace mixccl;

MIXCCL_API const char* mixcclGetErrorString(mixcclResult_t result) {
  switch (result) {
    case mixcclSuccess: return "no error";
    case mixcclUnhandledDeviceError: return "unhandled device error (a device runtime call failed)";
    case mixcclSystemError: return "system error (an OS call failed, a peer went away or a wait timed out)";
    case mixcclInternalError: return "internal error (a bug in mixccl: please report it)";
    case mixcclInvalidArgument: return "invalid argument";
    case mixcclInvalidUsage: return "invalid usage (the call is not allowed now, or ranks disagree)";
    case mixcclRemoteError: return "remote error (another rank failed)";
    case mixcclInProgress: return "operation in progress";
    default: return "unknown result code";
  }
}

MIXCCL_API const char* mixcclGetLastError(mixcclComm_t comm) {
  if (comm != nullptr && comm->magic == mixcclComm::kMagic) {
    std::lock_guard<std::mutex> lock(comm->errorMutex);
    // The returned pointer stays valid until the comm's next error (as NCCL's).
    if (!comm->lastError.empty()) return comm->lastError.c_str();
  }
  return threadLastError();
}

MIXCCL_API mixcclResult_t mixcclGetVersion(int* version) {
  if (version == nullptr) return report(nullptr, errorStatus(mixcclInvalidArgument, "mixcclGetVersion: version is NULL"));
  *version = MIXCCL_VERSION;
  return mixcclSuccess;
}
