/*
 * nccl.h as shipped by mixccl: the public interface of NCCL 2.28.9, written for mixccl's libnccl.so.2.
 *
 * Programs compiled against NVIDIA's nccl.h 2.28 run on mixccl's libnccl.so.2 unchanged, and programs
 * compiled against this header run on either library: every type, value, struct layout and signature
 * here matches NCCL 2.28.9 (checked by tests/nccl). What mixccl does with each call, and where it
 * differs from NCCL, is in docs/nccl-compat.md.
 *
 * Differences of this header (not of the ABI): it does not need CUDA. When CUDA's runtime header has
 * been included first, cudaStream_t is CUDA's own type; otherwise it is declared here as the same
 * opaque pointer type, so host-only programs build without a CUDA toolkit.
 */
#ifndef NCCL_H_
#define NCCL_H_

#include <limits.h>
#include <stddef.h>

#if defined(__CUDA_RUNTIME_H__) || defined(__DRIVER_TYPES_H__)
/* cudaStream_t comes from CUDA. */
#else
typedef struct CUstream_st* cudaStream_t;
#endif

/* ---- Version ----------------------------------------------------------------------------------- */

#define NCCL_MAJOR 2
#define NCCL_MINOR 28
#define NCCL_PATCH 9
#define NCCL_SUFFIX ""
#define NCCL_VERSION_CODE 22809
/* Releases up to 2.8 encode the version as X*1000 + Y*100 + Z, later ones as X*10000 + Y*100 + Z. */
#define NCCL_VERSION(X, Y, Z) \
  (((X) <= 2 && (Y) <= 8) ? (X) * 1000 + (Y) * 100 + (Z) : (X) * 10000 + (Y) * 100 + (Z))

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Handles and ids --------------------------------------------------------------------------- */

typedef struct ncclComm* ncclComm_t;               /* in mixccl: the native mixcclComm_t */
typedef struct ncclWindow_vidmem* ncclWindow_t;    /* a registered window */
#define NCCL_COMM_NULL NULL

#define NCCL_UNIQUE_ID_BYTES 128
typedef struct {
  char internal[NCCL_UNIQUE_ID_BYTES];
} ncclUniqueId;

/* ---- Result codes ------------------------------------------------------------------------------ */

typedef enum {
  ncclSuccess = 0,
  ncclUnhandledCudaError = 1,
  ncclSystemError = 2,
  ncclInternalError = 3,
  ncclInvalidArgument = 4,
  ncclInvalidUsage = 5,
  ncclRemoteError = 6,
  ncclInProgress = 7,
  ncclNumResults = 8
} ncclResult_t;

/* ---- Constants for configs, split, windows, shrink and revoke ---------------------------------- */

#define NCCL_CONFIG_UNDEF_INT INT_MIN
#define NCCL_CONFIG_UNDEF_PTR NULL
#define NCCL_SPLIT_NOCOLOR -1
#define NCCL_UNDEF_FLOAT -1.0f

#define NCCL_WIN_DEFAULT 0x00
#define NCCL_WIN_COLL_SYMMETRIC 0x01
#define NCCL_WIN_REQUIRED_ALIGNMENT 4096

#define NCCL_CTA_POLICY_DEFAULT 0x00
#define NCCL_CTA_POLICY_EFFICIENCY 0x01
#define NCCL_CTA_POLICY_ZERO 0x02

#define NCCL_SHRINK_DEFAULT 0x00 /* shrink a healthy communicator */
#define NCCL_SHRINK_ABORT 0x01   /* stop the parent's operations, then shrink */

#define NCCL_REVOKE_DEFAULT 0x00 /* the only value accepted today */

/* ---- Communicator configuration (layout of NCCL 2.28, version tag 22800) -----------------------
 * Start from NCCL_CONFIG_INITIALIZER and set only what you need; a field left at its "undefined"
 * value takes the library's default. size/magic/version let the library read older layouts. */
typedef struct ncclConfig_v22800 {
  size_t size;
  unsigned int magic;
  unsigned int version;
  int blocking;            /* 0: init and collectives may return ncclInProgress */
  int cgaClusterSize;      /* GPU kernel launch shape: no meaning in mixccl */
  int minCTAs;
  int maxCTAs;
  const char* netName;     /* network plugin name */
  int splitShare;          /* share resources with the parent on split */
  int trafficClass;
  const char* commName;    /* shown in logs and errors */
  int collnetEnable;
  int CTAPolicy;           /* NCCL_CTA_POLICY_* */
  int shrinkShare;
  int nvlsCTAs;
  int nChannelsPerNetPeer;
  int nvlinkCentricSched;
} ncclConfig_t;

#define NCCL_CONFIG_MAGIC_VALUE_ 0xcafebeef
#define NCCL_CONFIG_INITIALIZER                                                                   \
  {                                                                                               \
    sizeof(ncclConfig_t), NCCL_CONFIG_MAGIC_VALUE_, NCCL_VERSION(NCCL_MAJOR, NCCL_MINOR, NCCL_PATCH), \
        NCCL_CONFIG_UNDEF_INT, NCCL_CONFIG_UNDEF_INT, NCCL_CONFIG_UNDEF_INT, NCCL_CONFIG_UNDEF_INT,    \
        NCCL_CONFIG_UNDEF_PTR, NCCL_CONFIG_UNDEF_INT, NCCL_CONFIG_UNDEF_INT, NCCL_CONFIG_UNDEF_PTR,    \
        NCCL_CONFIG_UNDEF_INT, NCCL_CONFIG_UNDEF_INT, NCCL_CONFIG_UNDEF_INT, NCCL_CONFIG_UNDEF_INT,    \
        NCCL_CONFIG_UNDEF_INT, NCCL_CONFIG_UNDEF_INT                                              \
  }

/* ---- What ncclGroupSimulateEnd reports (layout version 22200) ---------------------------------- */
typedef struct ncclSimInfo_v22200 {
  size_t size;
  unsigned int magic;
  unsigned int version;
  float estimatedTime; /* microseconds the simulated group would take */
} ncclSimInfo_t;

#define NCCL_SIM_INFO_MAGIC_VALUE_ 0x74685283
#define NCCL_SIM_INFO_INITIALIZER                                                         \
  {                                                                                       \
    sizeof(ncclSimInfo_t), NCCL_SIM_INFO_MAGIC_VALUE_,                                    \
        NCCL_VERSION(NCCL_MAJOR, NCCL_MINOR, NCCL_PATCH), NCCL_UNDEF_FLOAT                \
  }

/* ---- Data types and reduction operators -------------------------------------------------------- */

/* The enum below is sized like an int; ncclMaxRedOp is the largest value that fits. */
typedef enum { ncclNumOps_dummy = 5 } ncclRedOp_dummy_t;
typedef enum {
  ncclSum = 0,
  ncclProd = 1,
  ncclMax = 2,
  ncclMin = 3,
  ncclAvg = 4,
  ncclNumOps = 5, /* values from here up are operators made by ncclRedOpCreatePreMulSum */
  ncclMaxRedOp = 0x7fffffff >> (32 - 8 * sizeof(ncclRedOp_dummy_t))
} ncclRedOp_t;

typedef enum {
  ncclInt8 = 0,
  ncclChar = 0,
  ncclUint8 = 1,
  ncclInt32 = 2,
  ncclInt = 2,
  ncclUint32 = 3,
  ncclInt64 = 4,
  ncclUint64 = 5,
  ncclFloat16 = 6,
  ncclHalf = 6,
  ncclFloat32 = 7,
  ncclFloat = 7,
  ncclFloat64 = 8,
  ncclDouble = 8,
  ncclBfloat16 = 9,
  ncclFloat8e4m3 = 10,
  ncclFloat8e5m2 = 11,
  ncclNumTypes = 12
} ncclDataType_t;

/* Where the factor of a pre-multiplied sum lives. */
typedef enum {
  ncclScalarDevice = 0,       /* read when the collective runs */
  ncclScalarHostImmediate = 1 /* read once, before ncclRedOpCreatePreMulSum returns */
} ncclScalarResidence_t;

/* ---- Functions ----------------------------------------------------------------------------------
 * Each has a twin with a leading 'p' (the profiling entry points NCCL exports); both do the same. */

#define NCCL_DECLARE_(ret, name, args) \
  ret name args;                       \
  ret p##name args

/* Memory for communication buffers. */
NCCL_DECLARE_(ncclResult_t, ncclMemAlloc, (void** ptr, size_t size));
NCCL_DECLARE_(ncclResult_t, ncclMemFree, (void* ptr));

/* Library version: NCCL_VERSION_CODE of the ABI implemented. */
NCCL_DECLARE_(ncclResult_t, ncclGetVersion, (int* version));

/* Communicators. */
NCCL_DECLARE_(ncclResult_t, ncclGetUniqueId, (ncclUniqueId * uniqueId));
NCCL_DECLARE_(ncclResult_t, ncclCommInitRankConfig,
              (ncclComm_t * comm, int nranks, ncclUniqueId commId, int rank, ncclConfig_t* config));
NCCL_DECLARE_(ncclResult_t, ncclCommInitRank, (ncclComm_t * comm, int nranks, ncclUniqueId commId, int rank));
NCCL_DECLARE_(ncclResult_t, ncclCommInitAll, (ncclComm_t * comm, int ndev, const int* devlist));
NCCL_DECLARE_(ncclResult_t, ncclCommFinalize, (ncclComm_t comm));
NCCL_DECLARE_(ncclResult_t, ncclCommDestroy, (ncclComm_t comm));
NCCL_DECLARE_(ncclResult_t, ncclCommAbort, (ncclComm_t comm));
NCCL_DECLARE_(ncclResult_t, ncclCommRevoke, (ncclComm_t comm, int revokeFlags));
NCCL_DECLARE_(ncclResult_t, ncclCommSplit,
              (ncclComm_t comm, int color, int key, ncclComm_t* newcomm, ncclConfig_t* config));
NCCL_DECLARE_(ncclResult_t, ncclCommShrink,
              (ncclComm_t comm, int* excludeRanksList, int excludeRanksCount, ncclComm_t* newcomm,
               ncclConfig_t* config, int shrinkFlags));
NCCL_DECLARE_(ncclResult_t, ncclCommInitRankScalable,
              (ncclComm_t * newcomm, int nranks, int myrank, int nId, ncclUniqueId* commIds, ncclConfig_t* config));

/* Errors. */
NCCL_DECLARE_(const char*, ncclGetErrorString, (ncclResult_t result));
NCCL_DECLARE_(const char*, ncclGetLastError, (ncclComm_t comm));
/* Kept for programs that still call it; NCCL marks it deprecated. */
NCCL_DECLARE_(void, ncclResetDebugInit, (void));

NCCL_DECLARE_(ncclResult_t, ncclCommGetAsyncError, (ncclComm_t comm, ncclResult_t* asyncError));

/* Queries. */
NCCL_DECLARE_(ncclResult_t, ncclCommCount, (const ncclComm_t comm, int* count));
NCCL_DECLARE_(ncclResult_t, ncclCommCuDevice, (const ncclComm_t comm, int* device));
NCCL_DECLARE_(ncclResult_t, ncclCommUserRank, (const ncclComm_t comm, int* rank));

/* Registration and windows. */
NCCL_DECLARE_(ncclResult_t, ncclCommRegister, (const ncclComm_t comm, void* buff, size_t size, void** handle));
NCCL_DECLARE_(ncclResult_t, ncclCommDeregister, (const ncclComm_t comm, void* handle));
NCCL_DECLARE_(ncclResult_t, ncclCommWindowRegister,
              (ncclComm_t comm, void* buff, size_t size, ncclWindow_t* win, int winFlags));
NCCL_DECLARE_(ncclResult_t, ncclCommWindowDeregister, (ncclComm_t comm, ncclWindow_t win));

/* Custom operators. */
NCCL_DECLARE_(ncclResult_t, ncclRedOpCreatePreMulSum,
              (ncclRedOp_t * op, void* scalar, ncclDataType_t datatype, ncclScalarResidence_t residence,
               ncclComm_t comm));
NCCL_DECLARE_(ncclResult_t, ncclRedOpDestroy, (ncclRedOp_t op, ncclComm_t comm));

/* Collectives. Counts are in elements; see include/mixccl.h for the in-place rules. */
NCCL_DECLARE_(ncclResult_t, ncclReduce,
              (const void* sendbuff, void* recvbuff, size_t count, ncclDataType_t datatype, ncclRedOp_t op,
               int root, ncclComm_t comm, cudaStream_t stream));
/* In-place broadcast, the older spelling. */
NCCL_DECLARE_(ncclResult_t, ncclBcast,
              (void* buff, size_t count, ncclDataType_t datatype, int root, ncclComm_t comm, cudaStream_t stream));
NCCL_DECLARE_(ncclResult_t, ncclBroadcast,
              (const void* sendbuff, void* recvbuff, size_t count, ncclDataType_t datatype, int root,
               ncclComm_t comm, cudaStream_t stream));
NCCL_DECLARE_(ncclResult_t, ncclAllReduce,
              (const void* sendbuff, void* recvbuff, size_t count, ncclDataType_t datatype, ncclRedOp_t op,
               ncclComm_t comm, cudaStream_t stream));
NCCL_DECLARE_(ncclResult_t, ncclReduceScatter,
              (const void* sendbuff, void* recvbuff, size_t recvcount, ncclDataType_t datatype, ncclRedOp_t op,
               ncclComm_t comm, cudaStream_t stream));
NCCL_DECLARE_(ncclResult_t, ncclAllGather,
              (const void* sendbuff, void* recvbuff, size_t sendcount, ncclDataType_t datatype, ncclComm_t comm,
               cudaStream_t stream));
NCCL_DECLARE_(ncclResult_t, ncclAlltoAll,
              (const void* sendbuff, void* recvbuff, size_t count, ncclDataType_t datatype, ncclComm_t comm,
               cudaStream_t stream));
NCCL_DECLARE_(ncclResult_t, ncclGather,
              (const void* sendbuff, void* recvbuff, size_t count, ncclDataType_t datatype, int root,
               ncclComm_t comm, cudaStream_t stream));
NCCL_DECLARE_(ncclResult_t, ncclScatter,
              (const void* sendbuff, void* recvbuff, size_t count, ncclDataType_t datatype, int root,
               ncclComm_t comm, cudaStream_t stream));

/* Point to point. */
NCCL_DECLARE_(ncclResult_t, ncclSend,
              (const void* sendbuff, size_t count, ncclDataType_t datatype, int peer, ncclComm_t comm,
               cudaStream_t stream));
NCCL_DECLARE_(ncclResult_t, ncclRecv,
              (void* recvbuff, size_t count, ncclDataType_t datatype, int peer, ncclComm_t comm,
               cudaStream_t stream));

/* Groups. */
NCCL_DECLARE_(ncclResult_t, ncclGroupStart, (void));
NCCL_DECLARE_(ncclResult_t, ncclGroupEnd, (void));
NCCL_DECLARE_(ncclResult_t, ncclGroupSimulateEnd, (ncclSimInfo_t * simInfo));

#undef NCCL_DECLARE_

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* NCCL_H_ */
