// Shared by the files of the NCCL binding: conversions between NCCL's types and the native ones, and
// what every entry point does first.
#pragma once

#include <cstring>

#include "bindings/nccl/nccl.h"
#include "core/status.h"
#include "mixccl.h"

// Every NCCL entry point: defined as pncclX (exported), with ncclX a weak alias of it, as NVIDIA's
// library does, so that a profiler may interpose ncclX and still reach pncclX.
#define NCCL_SHIM_API extern "C" __attribute__((visibility("default")))
#define NCCL_SHIM_ALIAS(name) \
  extern "C" __attribute__((visibility("default"), weak, alias("p" #name))) decltype(p##name) name;

namespace mixccl::nccl {

// Same-sized values of unrelated enum types (ncclDataType_t and mixcclDataType_t have the same
// numbers): copied bit for bit, so that out-of-range values reach the native checks unchanged.
template <class To, class From>
To bitCast(const From& from) {
  static_assert(sizeof(To) == sizeof(From));
  To to;
  std::memcpy(&to, &from, sizeof(to));
  return to;
}

inline mixcclComm_t native(ncclComm_t c) { return reinterpret_cast<mixcclComm_t>(c); }
inline ncclComm_t wrap(mixcclComm_t c) { return reinterpret_cast<ncclComm_t>(c); }
inline ncclResult_t result(mixcclResult_t r) { return static_cast<ncclResult_t>(r); }

// Once per process: logs the version at NCCL_DEBUG=VERSION, and the NCCL_* variables that have no
// meaning here at INFO (core/env.cc reads the ones that do).
void onFirstCall();

// An NCCL config as the native API takes it. *out is null when config is; otherwise it points into
// storage. Fields without meaning in mixccl are accepted and logged once at INFO.
Status translateConfig(const ncclConfig_t* config, const char* function, mixcclConfig_t* storage,
                       mixcclConfig_t** out);

// Remembers st's sentence for ncclGetLastError and returns its code.
ncclResult_t fail(ncclComm_t comm, const Status& st);

// The CUDA device a communicator was created on (ncclCommCuDevice), -1 for none.
void rememberCudaDevice(ncclComm_t comm, int device);
int cudaDeviceOf(ncclComm_t comm);
void forgetComm(ncclComm_t comm);

}  // namespace mixccl::nccl
