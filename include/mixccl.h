/*
 * mixccl — collective communication across mixed accelerators and CPUs.
 *
 * The native C API. Semantics, result codes, data types and reduction operators follow NCCL 2.28
 * value for value, so that the NCCL binding (bindings/nccl) is a thin mapping and code written for
 * one reads naturally for the other. What is new is what a mixed cluster needs: a device kind per
 * rank, explicit timeouts, and collectives NCCL lacks (Gather, Scatter).
 *
 * Streams: a collective on a communicator whose device is "cpu" completes before the call returns,
 * whatever stream is passed (NULL is the usual value). Device backends that have streams (cuda,
 * hip, plugins) enqueue on the given stream instead, as NCCL does.
 */
#ifndef MIXCCL_H_
#define MIXCCL_H_

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MIXCCL_MAJOR 0
#define MIXCCL_MINOR 1
#define MIXCCL_PATCH 0
#define MIXCCL_VERSION_CODE(X, Y, Z) ((X) * 10000 + (Y) * 100 + (Z))
#define MIXCCL_VERSION MIXCCL_VERSION_CODE(MIXCCL_MAJOR, MIXCCL_MINOR, MIXCCL_PATCH)

/* Opaque handles. */
typedef struct mixcclComm* mixcclComm_t;
#define MIXCCL_COMM_NULL NULL
/* A device backend's stream (cudaStream_t for cuda). Ignored by the cpu backend. */
typedef void* mixcclStream_t;

#define MIXCCL_UNIQUE_ID_BYTES 128
typedef struct {
  char internal[MIXCCL_UNIQUE_ID_BYTES];
} mixcclUniqueId;

/* Result codes: the same numbers as ncclResult_t. */
typedef enum {
  mixcclSuccess = 0,
  mixcclUnhandledDeviceError = 1, /* ncclUnhandledCudaError: a device runtime call failed */
  mixcclSystemError = 2,          /* an OS call failed, or a peer went away */
  mixcclInternalError = 3,
  mixcclInvalidArgument = 4,
  mixcclInvalidUsage = 5,
  mixcclRemoteError = 6,
  mixcclInProgress = 7,
  mixcclNumResults = 8
} mixcclResult_t;

/* Data types: the same numbers as ncclDataType_t. */
typedef enum {
  mixcclInt8 = 0,
  mixcclChar = 0,
  mixcclUint8 = 1,
  mixcclInt32 = 2,
  mixcclInt = 2,
  mixcclUint32 = 3,
  mixcclInt64 = 4,
  mixcclUint64 = 5,
  mixcclFloat16 = 6,
  mixcclHalf = 6,
  mixcclFloat32 = 7,
  mixcclFloat = 7,
  mixcclFloat64 = 8,
  mixcclDouble = 8,
  mixcclBfloat16 = 9,
  mixcclFloat8e4m3 = 10,
  mixcclFloat8e5m2 = 11,
  mixcclNumTypes = 12
} mixcclDataType_t;

/* Reduction operators: the same numbers as ncclRedOp_t. Values from mixcclNumOps up are
 * operators created by mixcclRedOpCreatePreMulSum for one communicator. */
typedef enum {
  mixcclSum = 0,
  mixcclProd = 1,
  mixcclMax = 2,
  mixcclMin = 3,
  mixcclAvg = 4,
  mixcclNumOps = 5,
  mixcclMaxRedOp = 0x7fffffff
} mixcclRedOp_t;

/* Where the scalar of a pre-multiplied sum lives: the same numbers as ncclScalarResidence_t. */
typedef enum {
  mixcclScalarDevice = 0,        /* read when the collective runs */
  mixcclScalarHostImmediate = 1  /* read before mixcclRedOpCreatePreMulSum returns */
} mixcclScalarResidence_t;

#define MIXCCL_CONFIG_UNDEF_INT INT_MIN
#define MIXCCL_CONFIG_UNDEF_PTR NULL
#define MIXCCL_SPLIT_NOCOLOR -1

/* Communicator configuration. Always start from MIXCCL_CONFIG_INITIALIZER; fields left undefined
 * take their value from the environment (MIXCCL_*) or the documented default. */
typedef struct mixcclConfig_v1 {
  size_t size;          /* set by the initializer: lets the library accept older layouts */
  unsigned int magic;   /* set by the initializer */
  unsigned int version; /* set by the initializer */
  int blocking;         /* 1 (default): calls return when done; 0: init and collectives may return
                           mixcclInProgress, poll mixcclCommGetAsyncError */
  int timeoutSeconds;   /* bound on every wait; default MIXCCL_TIMEOUT or 300 */
  const char* deviceKind; /* "cpu" (default) or a backend's name */
  int deviceOrdinal;    /* which device of that kind; default 0 */
  const char* commName; /* shown in logs and errors */
  int splitShare;       /* accepted for NCCL compatibility; resources are never shared */
  const char* algorithms; /* algorithms forced on this communicator, in MIXCCL_ALGO's syntax
                             ("allreduce:ring;broadcast:tree"); replaces MIXCCL_ALGO for it.
                             Default: MIXCCL_ALGO, else the tuner's choice. Split children
                             inherit it unless their config sets one. */
} mixcclConfig_t;

#define MIXCCL_CONFIG_MAGIC 0x6d697863u /* "mixc" */
#define MIXCCL_CONFIG_INITIALIZER                                                       \
  {                                                                                     \
    sizeof(mixcclConfig_t), MIXCCL_CONFIG_MAGIC, MIXCCL_VERSION, MIXCCL_CONFIG_UNDEF_INT, \
        MIXCCL_CONFIG_UNDEF_INT, MIXCCL_CONFIG_UNDEF_PTR, MIXCCL_CONFIG_UNDEF_INT,      \
        MIXCCL_CONFIG_UNDEF_PTR, MIXCCL_CONFIG_UNDEF_INT, MIXCCL_CONFIG_UNDEF_PTR       \
  }

/* ---- Library and communicators ---------------------------------------------------------------- */

mixcclResult_t mixcclGetVersion(int* version);

/* Creates the id that every rank of a new communicator must pass to mixcclCommInitRank. The calling
 * process hosts the rendezvous until all ranks have arrived (or the timeout passes), so it must stay
 * alive until then. The id holds the rendezvous address and a 128-bit random secret: connections that
 * do not present it are refused. With MIXCCL_COMM_ID=host:port set, the id names that address instead
 * and rank 0 hosts the rendezvous there. */
mixcclResult_t mixcclGetUniqueId(mixcclUniqueId* uniqueId);

mixcclResult_t mixcclCommInitRank(mixcclComm_t* comm, int nranks, mixcclUniqueId commId, int rank);
mixcclResult_t mixcclCommInitRankConfig(mixcclComm_t* comm, int nranks, mixcclUniqueId commId,
                                        int rank, mixcclConfig_t* config);
/* Creates ndev communicators of one clique in this process. devlist gives each rank's device ordinal
 * (NULL: 0..ndev-1, or all cpu). Each communicator must then be driven from its own thread, or all of
 * them inside one mixcclGroupStart/End. */
mixcclResult_t mixcclCommInitAll(mixcclComm_t* comms, int ndev, const int* devlist);
/* Splits comm by color (MIXCCL_SPLIT_NOCOLOR: this rank takes part in none) and orders the new ranks
 * by key, then by old rank. Every rank of comm must call it. */
mixcclResult_t mixcclCommSplit(mixcclComm_t comm, int color, int key, mixcclComm_t* newcomm,
                               mixcclConfig_t* config);
/* Waits for all operations of comm to finish. */
mixcclResult_t mixcclCommFinalize(mixcclComm_t comm);
mixcclResult_t mixcclCommDestroy(mixcclComm_t comm);
/* Stops every operation of comm now (any thread may call it; blocked calls return with an error)
 * and frees it. */
mixcclResult_t mixcclCommAbort(mixcclComm_t comm);
/* The first error an operation of comm met, or mixcclInProgress while a non-blocking call runs. */
mixcclResult_t mixcclCommGetAsyncError(mixcclComm_t comm, mixcclResult_t* asyncError);
mixcclResult_t mixcclCommCount(const mixcclComm_t comm, int* count);
mixcclResult_t mixcclCommUserRank(const mixcclComm_t comm, int* rank);
/* The device this rank runs on: kind ("cpu", "cuda", ...; valid while comm lives) and ordinal. */
mixcclResult_t mixcclCommDevice(const mixcclComm_t comm, const char** kind, int* ordinal);

const char* mixcclGetErrorString(mixcclResult_t result);
/* The sentence that explains the last error of comm (or of this thread, with comm NULL). */
const char* mixcclGetLastError(mixcclComm_t comm);

/* Pre-multiplied sum: each rank's input is multiplied by *scalar (of type datatype) before summing.
 * Valid only on comm and for datatype, until mixcclRedOpDestroy. */
mixcclResult_t mixcclRedOpCreatePreMulSum(mixcclRedOp_t* op, void* scalar, mixcclDataType_t datatype,
                                          mixcclScalarResidence_t residence, mixcclComm_t comm);
mixcclResult_t mixcclRedOpDestroy(mixcclRedOp_t op, mixcclComm_t comm);

/* ---- Collectives ----------------------------------------------------------------------------
 * Counts are in elements. Out-of-place and in-place (sendbuff == recvbuff, or for AllGather /
 * Gather sendbuff == recvbuff + rank*sendcount, for ReduceScatter / Scatter
 * sendbuff + rank*recvcount == recvbuff) are both supported. */

mixcclResult_t mixcclAllReduce(const void* sendbuff, void* recvbuff, size_t count,
                               mixcclDataType_t datatype, mixcclRedOp_t op, mixcclComm_t comm,
                               mixcclStream_t stream);
/* recvbuff on root may equal sendbuff; sendbuff is read only on root. */
mixcclResult_t mixcclBroadcast(const void* sendbuff, void* recvbuff, size_t count,
                               mixcclDataType_t datatype, int root, mixcclComm_t comm,
                               mixcclStream_t stream);
/* recvbuff is written only on root (it may be NULL elsewhere). */
mixcclResult_t mixcclReduce(const void* sendbuff, void* recvbuff, size_t count,
                            mixcclDataType_t datatype, mixcclRedOp_t op, int root,
                            mixcclComm_t comm, mixcclStream_t stream);
/* recvbuff holds nranks*sendcount elements, rank r's block at r*sendcount. */
mixcclResult_t mixcclAllGather(const void* sendbuff, void* recvbuff, size_t sendcount,
                               mixcclDataType_t datatype, mixcclComm_t comm,
                               mixcclStream_t stream);
/* sendbuff holds nranks*recvcount elements; rank r receives the reduction of block r. */
mixcclResult_t mixcclReduceScatter(const void* sendbuff, void* recvbuff, size_t recvcount,
                                   mixcclDataType_t datatype, mixcclRedOp_t op, mixcclComm_t comm,
                                   mixcclStream_t stream);
/* Block j of sendbuff (count elements) goes to rank j; block j of recvbuff comes from rank j. */
mixcclResult_t mixcclAlltoAll(const void* sendbuff, void* recvbuff, size_t count,
                              mixcclDataType_t datatype, mixcclComm_t comm, mixcclStream_t stream);
/* root's recvbuff receives nranks*count elements, rank r's at r*count. */
mixcclResult_t mixcclGather(const void* sendbuff, void* recvbuff, size_t count,
                            mixcclDataType_t datatype, int root, mixcclComm_t comm,
                            mixcclStream_t stream);
/* root's sendbuff holds nranks*count elements; rank r receives block r. */
mixcclResult_t mixcclScatter(const void* sendbuff, void* recvbuff, size_t count,
                             mixcclDataType_t datatype, int root, mixcclComm_t comm,
                             mixcclStream_t stream);

/* Point to point. Messages between two ranks are matched in the order they were posted; a send and
 * its receive must have the same count and type. Inside a group any pattern completes. */
mixcclResult_t mixcclSend(const void* sendbuff, size_t count, mixcclDataType_t datatype, int peer,
                          mixcclComm_t comm, mixcclStream_t stream);
mixcclResult_t mixcclRecv(void* recvbuff, size_t count, mixcclDataType_t datatype, int peer,
                          mixcclComm_t comm, mixcclStream_t stream);

/* Groups: calls between GroupStart and GroupEnd are queued and run at the outermost GroupEnd.
 * Collectives run in the order they were queued, then all sends and receives run together, so any
 * send/receive pattern completes. Communicators of one process may be driven together from one
 * thread this way (each runs on a thread of its own inside GroupEnd). */
mixcclResult_t mixcclGroupStart(void);
mixcclResult_t mixcclGroupEnd(void);

/* ---- Communicator lifecycle, registration and simulation (what the NCCL 2.28 binding maps onto) -- */

/* Like mixcclCommInitRankConfig, for ids made by several ranks (NCCL spreads the rendezvous over
 * them). All ranks must pass the same nIds ids; mixccl's rendezvous is served by commIds[0] alone, so
 * the others are checked and otherwise unused. */
mixcclResult_t mixcclCommInitRankScalable(mixcclComm_t* comm, int nranks, int rank, int nIds,
                                          mixcclUniqueId* commIds, mixcclConfig_t* config);

#define MIXCCL_SHRINK_DEFAULT 0 /* shrink a healthy communicator */
#define MIXCCL_SHRINK_ABORT 1   /* NCCL: abort the parent's operations first (see docs/nccl-compat.md) */
/* A new communicator of every rank of comm except the excludeCount ranks listed (ranks keep their
 * order). Only the ranks that stay call it; the excluded ones are not contacted. */
mixcclResult_t mixcclCommShrink(mixcclComm_t comm, const int* excludeRanks, int excludeCount,
                                mixcclComm_t* newcomm, mixcclConfig_t* config, int flags);
/* Stops every operation of comm now and refuses new ones, but keeps comm alive until
 * mixcclCommDestroy. flags must be 0. */
mixcclResult_t mixcclCommRevoke(mixcclComm_t comm, int flags);

/* Registration of user buffers. No transport of this build gains from it (shm copies through its
 * slots, sockets send from the buffer as is), so the handle only records the range; it is checked on
 * deregistration. */
mixcclResult_t mixcclCommRegister(mixcclComm_t comm, void* buff, size_t size, void** handle);
mixcclResult_t mixcclCommDeregister(mixcclComm_t comm, void* handle);
typedef struct mixcclWindow* mixcclWindow_t;
mixcclResult_t mixcclCommWindowRegister(mixcclComm_t comm, void* buff, size_t size, mixcclWindow_t* win,
                                        int flags);
mixcclResult_t mixcclCommWindowDeregister(mixcclComm_t comm, mixcclWindow_t win);

/* Memory for communication buffers from the device backend (cpu: cache-line aligned host memory). */
mixcclResult_t mixcclMemAlloc(void** ptr, size_t size);
mixcclResult_t mixcclMemFree(void* ptr);

/* Ends the outermost group like mixcclGroupEnd, but runs nothing: the queued operations are dropped
 * and *estimatedUs receives the cost model's prediction of their total time, in microseconds. */
mixcclResult_t mixcclGroupSimulateEnd(double* estimatedUs);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* MIXCCL_H_ */
