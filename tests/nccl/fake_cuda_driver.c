/*
 * A stand-in for the CUDA driver (libcuda.so.1), for testing the NCCL binding's staging of device
 * buffers on a machine without a GPU. It is a TEST DOUBLE, never installed and never linked into
 * mixccl: only nccl_cuda_staging_test loads it.
 *
 * Its "device memory" is host memory mapped PROT_NONE: any direct read or write by mixccl crashes
 * the test, so a passing test proves every byte went through the driver's copy functions. It
 * implements only the driver functions the binding looks up (bindings/nccl/cuda_staging.cc), with
 * the driver's calling conventions reduced to plain C types.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAX_ALLOCS 256
#define API __attribute__((visibility("default")))

static struct {
  char* base;
  size_t bytes;  /* usable */
  size_t mapped; /* whole pages */
} allocs[MAX_ALLOCS];
static int copies;
static int syncs;

static int find(const char* p, size_t n) {
  for (int i = 0; i < MAX_ALLOCS; ++i) {
    if (allocs[i].base != NULL && p >= allocs[i].base && p + n <= allocs[i].base + allocs[i].bytes) return i;
  }
  return -1;
}

static void access_on(int i, int on) {
  mprotect(allocs[i].base, allocs[i].mapped, on ? PROT_READ | PROT_WRITE : PROT_NONE);
}

/* ---- what the test uses ---- */
API void* fakeCudaMalloc(size_t bytes) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  size_t mapped = (bytes + page - 1) / page * page;
  if (mapped == 0) mapped = page;
  for (int i = 0; i < MAX_ALLOCS; ++i) {
    if (allocs[i].base != NULL) continue;
    void* p = mmap(NULL, mapped, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    allocs[i].base = (char*)p;
    allocs[i].bytes = bytes;
    allocs[i].mapped = mapped;
    return p;
  }
  return NULL;
}
API void fakeCudaFree(void* p) {
  int i = find((const char*)p, 0);
  if (i < 0) return;
  munmap(allocs[i].base, allocs[i].mapped);
  allocs[i].base = NULL;
}
API void fakeCudaWrite(void* dst, const void* src, size_t n) {
  int i = find((const char*)dst, n);
  access_on(i, 1);
  memcpy(dst, src, n);
  access_on(i, 0);
}
API void fakeCudaRead(void* dst, const void* src, size_t n) {
  int i = find((const char*)src, n);
  access_on(i, 1);
  memcpy(dst, src, n);
  access_on(i, 0);
}
API int fakeCudaCopies(void) { return copies; }
API int fakeCudaSyncs(void) { return syncs; }

/* ---- the driver functions ---- */
API int cuPointerGetAttribute(void* data, int attribute, unsigned long long ptr) {
  if (find((const char*)(size_t)ptr, 0) < 0) return 1; /* CUDA_ERROR_INVALID_VALUE: not ours */
  if (attribute == 2) { *(unsigned*)data = 2; return 0; } /* memory type: device */
  if (attribute == 1) { *(void**)data = (void*)0xc0; return 0; } /* context */
  return 1;
}
API int cuMemcpyDtoHAsync_v2(void* dst, unsigned long long src, size_t n, void* stream) {
  (void)stream;
  int i = find((const char*)(size_t)src, n);
  if (i < 0) return 1;
  access_on(i, 1);
  memcpy(dst, (const void*)(size_t)src, n);
  access_on(i, 0);
  ++copies;
  return 0;
}
API int cuMemcpyHtoDAsync_v2(unsigned long long dst, const void* src, size_t n, void* stream) {
  (void)stream;
  int i = find((const char*)(size_t)dst, n);
  if (i < 0) return 1;
  access_on(i, 1);
  memcpy((void*)(size_t)dst, src, n);
  access_on(i, 0);
  ++copies;
  return 0;
}
API int cuStreamSynchronize(void* stream) { (void)stream; ++syncs; return 0; }
API int cuCtxPushCurrent_v2(void* ctx) { return ctx == (void*)0xc0 ? 0 : 201; }
API int cuCtxPopCurrent_v2(void** ctx) { if (ctx) *ctx = (void*)0xc0; return 0; }
API int cuCtxGetDevice(int* device) { *device = 3; return 0; }
API int cuGetErrorString(int error, const char** text) { (void)error; *text = "fake driver error"; return 0; }
