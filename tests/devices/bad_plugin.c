/* Deliberately broken device plugins, one per refusal the loader must explain. Compiled several
 * times with one BAD_* macro each (tests/devices/CMakeLists.txt). Nothing here is ever called: the
 * loader must refuse these tables before calling any function in them. */
#include "mixccl_device_plugin.h"

#define UNUSED(x) (void)(x)

static const char* lastError(void) { return "fixture plugin: not a device"; }
static mixcclPluginResult_t count(int* n) { *n = 0; return MIXCCL_PLUGIN_UNSUPPORTED; }
static mixcclPluginResult_t identify(int o, mixcclPluginDeviceInfo_t* i) { UNUSED(o); UNUSED(i); return MIXCCL_PLUGIN_UNSUPPORTED; }
static mixcclPluginResult_t alloc(int o, size_t b, void** p) { UNUSED(o); UNUSED(b); UNUSED(p); return MIXCCL_PLUGIN_UNSUPPORTED; }
static mixcclPluginResult_t release(int o, void* p) { UNUSED(o); UNUSED(p); return MIXCCL_PLUGIN_UNSUPPORTED; }
static mixcclPluginResult_t owner(const void* p, int* o) { UNUSED(p); *o = -1; return MIXCCL_PLUGIN_OK; }
static mixcclPluginResult_t sCreate(int o, mixcclPluginStream_t* s) { UNUSED(o); UNUSED(s); return MIXCCL_PLUGIN_UNSUPPORTED; }
static mixcclPluginResult_t sOne(mixcclPluginStream_t s) { UNUSED(s); return MIXCCL_PLUGIN_UNSUPPORTED; }
static mixcclPluginResult_t eCreate(int o, mixcclPluginEvent_t* e) { UNUSED(o); UNUSED(e); return MIXCCL_PLUGIN_UNSUPPORTED; }
static mixcclPluginResult_t eOne(mixcclPluginEvent_t e) { UNUSED(e); return MIXCCL_PLUGIN_UNSUPPORTED; }
static mixcclPluginResult_t eRecord(mixcclPluginEvent_t e, mixcclPluginStream_t s) { UNUSED(e); UNUSED(s); return MIXCCL_PLUGIN_UNSUPPORTED; }
static mixcclPluginResult_t eQuery(mixcclPluginEvent_t e, int* d) { UNUSED(e); *d = 1; return MIXCCL_PLUGIN_UNSUPPORTED; }
static mixcclPluginResult_t sWait(mixcclPluginStream_t s, mixcclPluginEvent_t e) { UNUSED(e); UNUSED(s); return MIXCCL_PLUGIN_UNSUPPORTED; }
static mixcclPluginResult_t hWait(mixcclPluginStream_t s, const volatile uint32_t* f, uint32_t v) {
  UNUSED(s); UNUSED(f); UNUSED(v); return MIXCCL_PLUGIN_UNSUPPORTED;
}
static mixcclPluginResult_t copy(void* d, const void* s, size_t b, mixcclPluginCopyKind_t k, mixcclPluginStream_t st) {
  UNUSED(d); UNUSED(s); UNUSED(b); UNUSED(k); UNUSED(st); return MIXCCL_PLUGIN_UNSUPPORTED;
}
__attribute__((unused)) static mixcclPluginResult_t reduce(void* d, const void* a, const void* b, size_t n, mixcclPluginDataType_t t,
                                   mixcclPluginReduceOp_t op, mixcclPluginStream_t s) {
  UNUSED(d); UNUSED(a); UNUSED(b); UNUSED(n); UNUSED(t); UNUSED(op); UNUSED(s); return MIXCCL_PLUGIN_UNSUPPORTED;
}
static mixcclPluginResult_t scale(void* d, const void* a, size_t n, mixcclPluginDataType_t t, const void* x,
                                  mixcclPluginStream_t s) {
  UNUSED(d); UNUSED(a); UNUSED(n); UNUSED(t); UNUSED(x); UNUSED(s); return MIXCCL_PLUGIN_UNSUPPORTED;
}
static mixcclPluginResult_t divide(void* d, const void* a, size_t n, mixcclPluginDataType_t t, uint64_t x,
                                   mixcclPluginStream_t s) {
  UNUSED(d); UNUSED(a); UNUSED(n); UNUSED(t); UNUSED(x); UNUSED(s); return MIXCCL_PLUGIN_UNSUPPORTED;
}
static mixcclPluginResult_t ipcExport(int o, void* p, mixcclPluginIpcHandle_t* h) { UNUSED(o); UNUSED(p); UNUSED(h); return MIXCCL_PLUGIN_UNSUPPORTED; }
static mixcclPluginResult_t ipcImport(int o, const mixcclPluginIpcHandle_t* h, void** p, size_t* b) {
  UNUSED(o); UNUSED(h); UNUSED(p); UNUSED(b); return MIXCCL_PLUGIN_UNSUPPORTED;
}

#ifdef BAD_VERSION
#define ABI 2
#else
#define ABI MIXCCL_DEVICE_PLUGIN_ABI_VERSION
#endif
#ifdef BAD_SIZE
#define SIZE (sizeof(mixccl_device_plugin_v1) - 2 * sizeof(void*))
#else
#define SIZE sizeof(mixccl_device_plugin_v1)
#endif
#ifdef BAD_NULL
#define REDUCE 0
#else
#define REDUCE reduce
#endif
#ifdef BAD_NAME
#define NAME "bad-name"
#else
#define NAME "fixture"
#endif

static const mixccl_device_plugin_v1 table = {
    ABI, (uint32_t)SIZE, NAME, lastError, count, identify, alloc, release, alloc, release, owner,
    sCreate, sOne, sOne, eCreate, eOne, eRecord, eQuery, eOne, sWait, hWait, copy, REDUCE, scale, divide,
    ipcExport, ipcImport, release,
};

#ifdef BAD_NO_GETTER
/* Exports something, but not the getter. */
__attribute__((visibility("default"))) const mixccl_device_plugin_v1* somethingElse(void) { return &table; }
#else
__attribute__((visibility("default"))) const mixccl_device_plugin_v1* mixcclDevicePluginGetV1(void) { return &table; }
#endif
