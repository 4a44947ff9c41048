/*
 * mixccl device plugin ABI, version 1.
 *
 * A vendor adds its accelerator to mixccl by shipping one shared library that exports a single
 * function, MIXCCL_DEVICE_PLUGIN_GETTER_V1, returning a pointer to a filled-in
 * mixccl_device_plugin_v1 table. mixccl loads it with dlopen when a rank's device kind is not a
 * built-in one (or when MIXCCL_DEVICE_PLUGIN names it), checks the table (version, size, no NULL
 * function), and from then on does everything with that device's memory through these functions
 * only: mixccl never reads or writes device memory itself.
 *
 * The full contract (threading, errors, what each call must guarantee) is in docs/plugin-abi.md.
 * This header is plain C99 and depends on nothing but the C library.
 *
 * Versioning: the layout of mixccl_device_plugin_v1 is frozen. A later version appends fields and
 * gets its own struct and getter (…_v2); a library may export several getters, and mixccl uses the
 * newest one it understands. structSize lets mixccl refuse a table shorter than the one it was
 * built for.
 */
#ifndef MIXCCL_DEVICE_PLUGIN_H_
#define MIXCCL_DEVICE_PLUGIN_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MIXCCL_DEVICE_PLUGIN_ABI_VERSION 1
/* The one symbol a plugin library exports (as a C function, default visibility). */
#define MIXCCL_DEVICE_PLUGIN_GETTER_V1 "mixcclDevicePluginGetV1"

/* What every plugin function returns. On any value but OK, the function must leave a sentence in
 * the calling thread's last error (lastError below) saying what failed and why. */
typedef enum {
  MIXCCL_PLUGIN_OK = 0,
  MIXCCL_PLUGIN_ERROR = 1,         /* the device or its runtime failed */
  MIXCCL_PLUGIN_OUT_OF_MEMORY = 2, /* an allocation could not be satisfied */
  MIXCCL_PLUGIN_INVALID = 3,       /* a bad argument: unknown ordinal, foreign pointer, bad type */
  MIXCCL_PLUGIN_UNSUPPORTED = 4    /* the device cannot do this (e.g. no IPC) */
} mixcclPluginResult_t;

/* Element types: the same numbers as mixcclDataType_t / ncclDataType_t. */
typedef enum {
  MIXCCL_PLUGIN_INT8 = 0,
  MIXCCL_PLUGIN_UINT8 = 1,
  MIXCCL_PLUGIN_INT32 = 2,
  MIXCCL_PLUGIN_UINT32 = 3,
  MIXCCL_PLUGIN_INT64 = 4,
  MIXCCL_PLUGIN_UINT64 = 5,
  MIXCCL_PLUGIN_FLOAT16 = 6,   /* IEEE binary16 */
  MIXCCL_PLUGIN_FLOAT32 = 7,
  MIXCCL_PLUGIN_FLOAT64 = 8,
  MIXCCL_PLUGIN_BFLOAT16 = 9,
  MIXCCL_PLUGIN_FP8_E4M3 = 10, /* OCP e4m3fn: no infinities, saturates at 448 */
  MIXCCL_PLUGIN_FP8_E5M2 = 11, /* OCP e5m2 */
  MIXCCL_PLUGIN_NUM_TYPES = 12
} mixcclPluginDataType_t;

/* Binary elementwise operators. (Average and pre-multiplied sum are composed by mixccl from these,
 * scale and divide.) */
typedef enum {
  MIXCCL_PLUGIN_SUM = 0,
  MIXCCL_PLUGIN_PROD = 1,
  MIXCCL_PLUGIN_MAX = 2,
  MIXCCL_PLUGIN_MIN = 3
} mixcclPluginReduceOp_t;

/* Direction of a copy. HOST means any host memory (pageable or from hostAlloc). */
typedef enum {
  MIXCCL_PLUGIN_HOST_TO_DEVICE = 0,
  MIXCCL_PLUGIN_DEVICE_TO_HOST = 1,
  MIXCCL_PLUGIN_DEVICE_TO_DEVICE = 2
} mixcclPluginCopyKind_t;

/* Opaque handles owned by the plugin. */
typedef struct mixcclPluginStream* mixcclPluginStream_t;
typedef struct mixcclPluginEvent* mixcclPluginEvent_t;

/* What identify() reports about one device. Strings are NUL-terminated; unused bytes zero. */
typedef struct {
  char kind[32];        /* the device kind ranks ask for, e.g. "emu"; must equal the table's name */
  char vendor[64];      /* for logs: "ACME Corp. XPU-3" */
  int ordinal;          /* which device of this kind this is: 0 .. deviceCount-1 */
  int deviceCount;      /* devices of this kind visible to this process */
  char pciBusId[32];    /* "0000:17:00.0", or empty where there is no PCI device */
  uint8_t uuid[16];     /* stable identity: two ranks on one device report the same uuid */
  int hostAccessible;   /* 1 only if the host may load/store device pointers directly */
  int supportsIpc;      /* 1 if ipcExport/ipcImport work between processes of one host */
} mixcclPluginDeviceInfo_t;

/* An exported memory region, carried between processes of one host as plain bytes. */
#define MIXCCL_PLUGIN_IPC_HANDLE_BYTES 64
typedef struct {
  unsigned char bytes[MIXCCL_PLUGIN_IPC_HANDLE_BYTES];
} mixcclPluginIpcHandle_t;

/*
 * The table. Every function pointer must be non-NULL (a device without IPC returns
 * MIXCCL_PLUGIN_UNSUPPORTED from the IPC calls). All functions may be called from several threads
 * at once, for different or the same device. "Async" functions enqueue work on a stream and may
 * return before it is done; work on one stream runs in order; a host pointer passed to an async
 * call must stay valid until the stream has passed that point (mixccl synchronizes before reusing).
 */
typedef struct mixccl_device_plugin_v1 {
  uint32_t abiVersion; /* MIXCCL_DEVICE_PLUGIN_ABI_VERSION */
  uint32_t structSize; /* sizeof(mixccl_device_plugin_v1) */
  const char* name;    /* the device kind, [a-z0-9_]{1,31}: "emu", "xpu" */

  /* The calling thread's message for the last failed call ("" if none). Never NULL. */
  const char* (*lastError)(void);

  /* ---- identify ---- */
  mixcclPluginResult_t (*deviceCount)(int* count);
  mixcclPluginResult_t (*identify)(int ordinal, mixcclPluginDeviceInfo_t* info);

  /* ---- memory ---- */
  /* Device memory of `ordinal`, at least 256-byte aligned. bytes > 0. */
  mixcclPluginResult_t (*memAlloc)(int ordinal, size_t bytes, void** ptr);
  mixcclPluginResult_t (*memFree)(int ordinal, void* ptr);
  /* Host memory the device copies to and from fastest (pinned / page-locked); host-accessible. */
  mixcclPluginResult_t (*hostAlloc)(int ordinal, size_t bytes, void** ptr);
  mixcclPluginResult_t (*hostFree)(int ordinal, void* ptr);
  /* Whether ptr lies inside device memory of this plugin (allocated or imported), and of which
   * device: *ordinal = -1 when it does not. Must be cheap: called for every buffer of every call. */
  mixcclPluginResult_t (*pointerOwner)(const void* ptr, int* ordinal);

  /* ---- streams and events ---- */
  mixcclPluginResult_t (*streamCreate)(int ordinal, mixcclPluginStream_t* stream);
  mixcclPluginResult_t (*streamDestroy)(mixcclPluginStream_t stream);
  /* Blocks until all work enqueued on the stream so far is done; returns its first error. */
  mixcclPluginResult_t (*streamSynchronize)(mixcclPluginStream_t stream);
  mixcclPluginResult_t (*eventCreate)(int ordinal, mixcclPluginEvent_t* event);
  mixcclPluginResult_t (*eventDestroy)(mixcclPluginEvent_t event);
  /* Marks the current end of the stream's queue. */
  mixcclPluginResult_t (*eventRecord)(mixcclPluginEvent_t event, mixcclPluginStream_t stream);
  /* *done = 1 once the stream has passed the recorded point (also for a never-recorded event). */
  mixcclPluginResult_t (*eventQuery)(mixcclPluginEvent_t event, int* done);
  mixcclPluginResult_t (*eventSynchronize)(mixcclPluginEvent_t event);
  /* Later work on `stream` waits until `event` has completed (the host does not block). */
  mixcclPluginResult_t (*streamWaitEvent)(mixcclPluginStream_t stream, mixcclPluginEvent_t event);
  /* Later work on `stream` waits until the 32-bit value at `flag` (host memory from hostAlloc,
   * written by the host) is >= `value`, compared as (int32_t)(*flag - value) >= 0 so that the
   * counter may wrap. The host does not block. This is how mixccl holds a user's stream until a
   * collective it runs on its own thread is done, without a kernel that spins. */
  mixcclPluginResult_t (*streamWaitHostValue)(mixcclPluginStream_t stream, const volatile uint32_t* flag,
                                              uint32_t value);

  /* ---- data movement and arithmetic (async on `stream`) ---- */
  mixcclPluginResult_t (*memcpyAsync)(void* dst, const void* src, size_t bytes, mixcclPluginCopyKind_t kind,
                                      mixcclPluginStream_t stream);
  /* dst[i] = a[i] op b[i], i < count; all three in device memory of the stream's device; dst may
   * equal a or b. Narrow floats (fp16, bf16, fp8) are computed in float and rounded to nearest
   * even once; integer sum/prod wrap around. */
  mixcclPluginResult_t (*reduceAsync)(void* dst, const void* a, const void* b, size_t count,
                                      mixcclPluginDataType_t type, mixcclPluginReduceOp_t op,
                                      mixcclPluginStream_t stream);
  /* dst[i] = src[i] * scalar; `scalar` points to one element of `type` in HOST memory and is read
   * before the call returns. */
  mixcclPluginResult_t (*scaleAsync)(void* dst, const void* src, size_t count, mixcclPluginDataType_t type,
                                     const void* scalar, mixcclPluginStream_t stream);
  /* dst[i] = src[i] / divisor (integers truncate toward zero; floats divide and round once). */
  mixcclPluginResult_t (*divideAsync)(void* dst, const void* src, size_t count, mixcclPluginDataType_t type,
                                      uint64_t divisor, mixcclPluginStream_t stream);

  /* ---- IPC between processes on one host ---- */
  /* Exports the allocation that starts at ptr (from memAlloc on `ordinal`). */
  mixcclPluginResult_t (*ipcExport)(int ordinal, void* ptr, mixcclPluginIpcHandle_t* handle);
  /* Maps an exported allocation of another process into this one, on device `ordinal`. */
  mixcclPluginResult_t (*ipcImport)(int ordinal, const mixcclPluginIpcHandle_t* handle, void** ptr, size_t* bytes);
  mixcclPluginResult_t (*ipcClose)(int ordinal, void* ptr);
} mixccl_device_plugin_v1;

/* The type of the exported getter. It returns the same table on every call (never NULL); the table
 * must stay valid while the library is loaded. */
typedef const mixccl_device_plugin_v1* (*mixcclDevicePluginGetV1_t)(void);

#ifdef __cplusplus
}
#endif

#endif /* MIXCCL_DEVICE_PLUGIN_H_ */
