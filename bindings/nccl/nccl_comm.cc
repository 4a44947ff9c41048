// NCCL's communicator, error, registration and memory functions, mapped onto the native API.
#include "backends/devices/device.h"
#include "bindings/nccl/cuda_staging.h"
#include "bindings/nccl/shim.h"
#include "core/api_util.h"
#include "core/log.h"

using namespace mixccl;
using namespace mixccl::nccl;

namespace {

// Records the CUDA device current at init (what NCCL binds a communicator to), for ncclCommCuDevice.
ncclResult_t afterInit(ncclComm_t* comm, mixcclResult_t rc) {
  if ((rc == mixcclSuccess || rc == mixcclInProgress) && comm != nullptr) rememberCudaDevice(*comm, currentCudaDevice());
  return result(rc);
}

}  // namespace

NCCL_SHIM_API ncclResult_t pncclGetVersion(int* version) {
  onFirstCall();
  if (version == nullptr) return fail(nullptr, errorStatus(mixcclInvalidArgument, "ncclGetVersion: version is NULL"));
  *version = NCCL_VERSION_CODE;
  return ncclSuccess;
}

NCCL_SHIM_API ncclResult_t pncclGetUniqueId(ncclUniqueId* uniqueId) {
  onFirstCall();
  static_assert(sizeof(ncclUniqueId) == sizeof(mixcclUniqueId));
  return result(mixcclGetUniqueId(reinterpret_cast<mixcclUniqueId*>(uniqueId)));
}

NCCL_SHIM_API ncclResult_t pncclCommInitRankConfig(ncclComm_t* comm, int nranks, ncclUniqueId commId, int rank,
                                                   ncclConfig_t* config) {
  onFirstCall();
  mixcclConfig_t storage, *cfg = nullptr;
  Status st = translateConfig(config, "ncclCommInitRankConfig", &storage, &cfg);
  if (!st.isOk()) return fail(nullptr, st);
  auto rc = mixcclCommInitRankConfig(reinterpret_cast<mixcclComm_t*>(comm), nranks, bitCast<mixcclUniqueId>(commId),
                                     rank, cfg);
  return afterInit(comm, rc);
}

NCCL_SHIM_API ncclResult_t pncclCommInitRank(ncclComm_t* comm, int nranks, ncclUniqueId commId, int rank) {
  onFirstCall();
  auto rc = mixcclCommInitRank(reinterpret_cast<mixcclComm_t*>(comm), nranks, bitCast<mixcclUniqueId>(commId), rank);
  return afterInit(comm, rc);
}

NCCL_SHIM_API ncclResult_t pncclCommInitRankScalable(ncclComm_t* newcomm, int nranks, int myrank, int nId,
                                                     ncclUniqueId* commIds, ncclConfig_t* config) {
  onFirstCall();
  mixcclConfig_t storage, *cfg = nullptr;
  Status st = translateConfig(config, "ncclCommInitRankScalable", &storage, &cfg);
  if (!st.isOk()) return fail(nullptr, st);
  auto rc = mixcclCommInitRankScalable(reinterpret_cast<mixcclComm_t*>(newcomm), nranks, myrank, nId,
                                       reinterpret_cast<mixcclUniqueId*>(commIds), cfg);
  return afterInit(newcomm, rc);
}

NCCL_SHIM_API ncclResult_t pncclCommInitAll(ncclComm_t* comms, int ndev, const int* devlist) {
  onFirstCall();
  auto rc = mixcclCommInitAll(reinterpret_cast<mixcclComm_t*>(comms), ndev, devlist);
  if (rc == mixcclSuccess && cudaDriverPresent()) {
    for (int i = 0; i < ndev; ++i) rememberCudaDevice(comms[i], devlist != nullptr ? devlist[i] : i);
  }
  return result(rc);
}

NCCL_SHIM_API ncclResult_t pncclCommFinalize(ncclComm_t comm) { return result(mixcclCommFinalize(native(comm))); }

NCCL_SHIM_API ncclResult_t pncclCommDestroy(ncclComm_t comm) {
  auto rc = mixcclCommDestroy(native(comm));
  if (rc == mixcclSuccess) forgetComm(comm);
  return result(rc);
}

NCCL_SHIM_API ncclResult_t pncclCommAbort(ncclComm_t comm) {
  auto rc = mixcclCommAbort(native(comm));
  if (rc == mixcclSuccess) forgetComm(comm);
  return result(rc);
}

NCCL_SHIM_API ncclResult_t pncclCommRevoke(ncclComm_t comm, int revokeFlags) {
  return result(mixcclCommRevoke(native(comm), revokeFlags));
}

NCCL_SHIM_API ncclResult_t pncclCommSplit(ncclComm_t comm, int color, int key, ncclComm_t* newcomm,
                                          ncclConfig_t* config) {
  mixcclConfig_t storage, *cfg = nullptr;
  Status st = translateConfig(config, "ncclCommSplit", &storage, &cfg);
  if (!st.isOk()) return fail(comm, st);
  auto rc = mixcclCommSplit(native(comm), color, key, reinterpret_cast<mixcclComm_t*>(newcomm), cfg);
  if (newcomm != nullptr && *newcomm != nullptr) rememberCudaDevice(*newcomm, cudaDeviceOf(comm));
  return result(rc);
}

NCCL_SHIM_API ncclResult_t pncclCommShrink(ncclComm_t comm, int* excludeRanksList, int excludeRanksCount,
                                           ncclComm_t* newcomm, ncclConfig_t* config, int shrinkFlags) {
  mixcclConfig_t storage, *cfg = nullptr;
  Status st = translateConfig(config, "ncclCommShrink", &storage, &cfg);
  if (!st.isOk()) return fail(comm, st);
  auto rc = mixcclCommShrink(native(comm), excludeRanksList, excludeRanksCount, reinterpret_cast<mixcclComm_t*>(newcomm),
                             cfg, shrinkFlags);
  if (newcomm != nullptr && *newcomm != nullptr) rememberCudaDevice(*newcomm, cudaDeviceOf(comm));
  return result(rc);
}

NCCL_SHIM_API const char* pncclGetErrorString(ncclResult_t code) {
  return mixcclGetErrorString(bitCast<mixcclResult_t>(code));
}

NCCL_SHIM_API const char* pncclGetLastError(ncclComm_t comm) { return mixcclGetLastError(native(comm)); }

// NCCL re-reads NCCL_DEBUG here; mixccl reads its log settings once per process.
NCCL_SHIM_API void pncclResetDebugInit(void) {
  MIXCCL_INFO("ncclResetDebugInit: ignored; mixccl reads NCCL_DEBUG / MIXCCL_DEBUG once per process");
}
NCCL_SHIM_API void ncclResetDebugInitInternal(void) { pncclResetDebugInit(); }

NCCL_SHIM_API ncclResult_t pncclCommGetAsyncError(ncclComm_t comm, ncclResult_t* asyncError) {
  return result(mixcclCommGetAsyncError(native(comm), reinterpret_cast<mixcclResult_t*>(asyncError)));
}

NCCL_SHIM_API ncclResult_t pncclCommCount(const ncclComm_t comm, int* count) {
  return result(mixcclCommCount(native(comm), count));
}

NCCL_SHIM_API ncclResult_t pncclCommUserRank(const ncclComm_t comm, int* rank) {
  return result(mixcclCommUserRank(native(comm), rank));
}

NCCL_SHIM_API ncclResult_t pncclCommCuDevice(const ncclComm_t comm, int* device) {
  Status st = checkComm(native(comm), "ncclCommCuDevice");
  if (st.isOk() && device == nullptr) st = errorStatus(mixcclInvalidArgument, "ncclCommCuDevice: device is NULL");
  if (!st.isOk()) return fail(comm, st);
  int dev = cudaDeviceOf(comm);
  if (dev < 0) {
    return fail(comm, errorStatus(mixcclInvalidUsage, "ncclCommCuDevice: %s runs on the cpu device; no CUDA device "
                                  "was current when it was created", native(comm)->name.c_str()));
  }
  *device = dev;
  return ncclSuccess;
}

NCCL_SHIM_API ncclResult_t pncclCommRegister(const ncclComm_t comm, void* buff, size_t size, void** handle) {
  return result(mixcclCommRegister(native(comm), buff, size, handle));
}

NCCL_SHIM_API ncclResult_t pncclCommDeregister(const ncclComm_t comm, void* handle) {
  return result(mixcclCommDeregister(native(comm), handle));
}

NCCL_SHIM_API ncclResult_t pncclCommWindowRegister(ncclComm_t comm, void* buff, size_t size, ncclWindow_t* win,
                                                   int winFlags) {
  return result(mixcclCommWindowRegister(native(comm), buff, size, reinterpret_cast<mixcclWindow_t*>(win), winFlags));
}

NCCL_SHIM_API ncclResult_t pncclCommWindowDeregister(ncclComm_t comm, ncclWindow_t win) {
  return result(mixcclCommWindowDeregister(native(comm), reinterpret_cast<mixcclWindow_t>(win)));
}

NCCL_SHIM_API ncclResult_t pncclMemAlloc(void** ptr, size_t size) {
  onFirstCall();
  return result(mixcclMemAlloc(ptr, size));
}

NCCL_SHIM_API ncclResult_t pncclMemFree(void* ptr) { return result(mixcclMemFree(ptr)); }

NCCL_SHIM_API ncclResult_t pncclRedOpCreatePreMulSum(ncclRedOp_t* op, void* scalar, ncclDataType_t datatype,
                                                     ncclScalarResidence_t residence, ncclComm_t comm) {
  if (bitCast<int>(residence) == ncclScalarDevice && isCudaDeviceMemory(scalar)) {
    // The cpu backend reads the factor when the collective runs, and cannot read CUDA memory.
    return fail(comm, errorStatus(mixcclInvalidUsage, "ncclRedOpCreatePreMulSum: the scalar is in CUDA device memory "
                                  "(ncclScalarDevice); this build runs collectives on the cpu backend and needs a "
                                  "host scalar: pass ncclScalarHostImmediate"));
  }
  return result(mixcclRedOpCreatePreMulSum(reinterpret_cast<mixcclRedOp_t*>(op), scalar,
                                           bitCast<mixcclDataType_t>(datatype),
                                           bitCast<mixcclScalarResidence_t>(residence), native(comm)));
}

NCCL_SHIM_API ncclResult_t pncclRedOpDestroy(ncclRedOp_t op, ncclComm_t comm) {
  return result(mixcclRedOpDestroy(bitCast<mixcclRedOp_t>(op), native(comm)));
}

NCCL_SHIM_ALIAS(ncclGetVersion)
NCCL_SHIM_ALIAS(ncclGetUniqueId)
NCCL_SHIM_ALIAS(ncclCommInitRankConfig)
NCCL_SHIM_ALIAS(ncclCommInitRank)
NCCL_SHIM_ALIAS(ncclCommInitRankScalable)
NCCL_SHIM_ALIAS(ncclCommInitAll)
NCCL_SHIM_ALIAS(ncclCommFinalize)
NCCL_SHIM_ALIAS(ncclCommDestroy)
NCCL_SHIM_ALIAS(ncclCommAbort)
NCCL_SHIM_ALIAS(ncclCommRevoke)
NCCL_SHIM_ALIAS(ncclCommSplit)
NCCL_SHIM_ALIAS(ncclCommShrink)
NCCL_SHIM_ALIAS(ncclGetErrorString)
NCCL_SHIM_ALIAS(ncclGetLastError)
NCCL_SHIM_ALIAS(ncclResetDebugInit)
NCCL_SHIM_ALIAS(ncclCommGetAsyncError)
NCCL_SHIM_ALIAS(ncclCommCount)
NCCL_SHIM_ALIAS(ncclCommUserRank)
NCCL_SHIM_ALIAS(ncclCommCuDevice)
NCCL_SHIM_ALIAS(ncclCommRegister)
NCCL_SHIM_ALIAS(ncclCommDeregister)
NCCL_SHIM_ALIAS(ncclCommWindowRegister)
NCCL_SHIM_ALIAS(ncclCommWindowDeregister)
NCCL_SHIM_ALIAS(ncclMemAlloc)
NCCL_SHIM_ALIAS(ncclMemFree)
NCCL_SHIM_ALIAS(ncclRedOpCreatePreMulSum)
NCCL_SHIM_ALIAS(ncclRedOpDestroy)
