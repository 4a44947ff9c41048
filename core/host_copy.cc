#include "core/host_copy.h"

#include <cstdint>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace mixccl {
namespace {

// Below this glibc copies with vector loops whatever the offsets (its rep movsb threshold is
// 2048 bytes or more on every x86-64 it supports).
constexpr size_t kMinLoopBytes = 2048;

#if defined(__x86_64__)
// Both loops first copy up to the destination's next 64-byte boundary, then store whole aligned
// cache lines from unaligned loads: with unaligned stores the loop reaches 41-49 GB/s on the VM of
// docs/performance.md, with aligned ones 49 (SSE2) and 57 (AVX2), what memcpy does when it is fast.
size_t copyHead(unsigned char* dst, const unsigned char* src, size_t bytes) {
  size_t head = (64 - (reinterpret_cast<uintptr_t>(dst) & 63)) & 63;
  if (head > bytes) head = bytes;
  if (head > 0) std::memcpy(dst, src, head);  // under 64 bytes: no rep movsb
  return head;
}

__attribute__((target("avx2"))) void copyByAvx2(unsigned char* dst, const unsigned char* src, size_t bytes) {
  size_t i = copyHead(dst, src, bytes);
  for (; i + 128 <= bytes; i += 128) {
    __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
    __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i + 32));
    __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i + 64));
    __m256i d = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i + 96));
    _mm256_store_si256(reinterpret_cast<__m256i*>(dst + i), a);
    _mm256_store_si256(reinterpret_cast<__m256i*>(dst + i + 32), b);
    _mm256_store_si256(reinterpret_cast<__m256i*>(dst + i + 64), c);
    _mm256_store_si256(reinterpret_cast<__m256i*>(dst + i + 96), d);
  }
  if (i < bytes) std::memcpy(dst + i, src + i, bytes - i);  // under 128 bytes
}

void copyBySse2(unsigned char* dst, const unsigned char* src, size_t bytes) {
  size_t i = copyHead(dst, src, bytes);
  for (; i + 64 <= bytes; i += 64) {
    __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i + 16));
    __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i + 32));
    __m128i d = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i + 48));
    _mm_store_si128(reinterpret_cast<__m128i*>(dst + i), a);
    _mm_store_si128(reinterpret_cast<__m128i*>(dst + i + 16), b);
    _mm_store_si128(reinterpret_cast<__m128i*>(dst + i + 32), c);
    _mm_store_si128(reinterpret_cast<__m128i*>(dst + i + 48), d);
  }
  if (i < bytes) std::memcpy(dst + i, src + i, bytes - i);  // under 64 bytes
}

bool haveAvx2() {
  static const bool have = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") != 0;
  }();
  return have;
}
#endif

}  // namespace

bool hostCopyAvoidsMemcpy(const void* dst, const void* src, size_t bytes) {
#if defined(__x86_64__)
  // Where within its cache line the destination lies against the source: 0, and glibc is fast.
  const uintptr_t offset = (reinterpret_cast<uintptr_t>(dst) - reinterpret_cast<uintptr_t>(src)) & 63;
  return bytes >= kMinLoopBytes && offset != 0;
#else
  (void)dst;
  (void)src;
  (void)bytes;
  return false;
#endif
}

void copyHostMemory(void* dst, const void* src, size_t bytes) {
#if defined(__x86_64__)
  if (hostCopyAvoidsMemcpy(dst, src, bytes)) {
    auto* d = static_cast<unsigned char*>(dst);
    const auto* s = static_cast<const unsigned char*>(src);
    if (haveAvx2()) {
      copyByAvx2(d, s, bytes);
    } else {
      copyBySse2(d, s, bytes);
    }
    return;
  }
#endif
  std::memcpy(dst, src, bytes);
}

}  // namespace mixccl
