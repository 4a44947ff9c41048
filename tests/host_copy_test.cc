// Tests of copyHostMemory (core/host_copy.h): every byte arrives, nothing around the destination is
// written, for sizes around the loop's thresholds and every source/destination offset pair that
// matters, and that the loop is taken exactly where glibc's memcpy is slow (source and destination
// at different places in their cache lines).
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "core/host_copy.h"

namespace mixccl {
namespace {

constexpr unsigned char kGuard = 0xA5;

// Fills with a pattern whose bytes differ from their neighbours and from kGuard's pattern.
void fillPattern(std::vector<unsigned char>* v, unsigned seed) {
  uint32_t x = seed * 2654435761u + 1;
  for (auto& b : *v) {
    x = x * 1664525u + 1013904223u;
    b = static_cast<unsigned char>(x >> 24);
  }
}

// Copies `bytes` from page offset srcOffset to page offset dstOffset (both within one 4096-byte
// page of their buffers) and checks the destination and its guard bytes on both sides.
void checkCopy(size_t bytes, size_t srcOffset, size_t dstOffset) {
  constexpr size_t kPage = 4096, kGuardBytes = 256;
  std::vector<unsigned char> srcStore(bytes + 2 * kPage);
  std::vector<unsigned char> dstStore(bytes + 2 * kPage + 2 * kGuardBytes, kGuard);
  fillPattern(&srcStore, static_cast<unsigned>(bytes + srcOffset * 31 + dstOffset));
  auto pageStart = [&](unsigned char* p) {
    return p + (kPage - reinterpret_cast<uintptr_t>(p) % kPage) % kPage;
  };
  const unsigned char* src = pageStart(srcStore.data()) + srcOffset;
  unsigned char* dst = pageStart(dstStore.data() + kGuardBytes) + dstOffset;
  copyHostMemory(dst, src, bytes);
  size_t wrong = 0, firstWrong = bytes;
  for (size_t i = 0; i < bytes; ++i) {
    if (dst[i] != src[i]) {
      ++wrong;
      if (firstWrong == bytes) firstWrong = i;
    }
  }
  EXPECT_EQ(wrong, 0u) << bytes << " bytes from page offset " << srcOffset << " to " << dstOffset
                       << ": first wrong byte at " << firstWrong;
  for (size_t i = 1; i <= kGuardBytes / 2; ++i) {
    ASSERT_EQ(dst[-static_cast<ptrdiff_t>(i)], kGuard) << "wrote " << i << " byte(s) before the destination ("
                                                        << bytes << " bytes, offsets " << srcOffset << "/"
                                                        << dstOffset << ")";
    ASSERT_EQ(dst[bytes + i - 1], kGuard) << "wrote " << i << " byte(s) past the destination (" << bytes
                                          << " bytes, offsets " << srcOffset << "/" << dstOffset << ")";
  }
}

TEST(HostCopy, CopiesEveryByteAndNothingElseForEveryOffsetPair) {
  const size_t sizes[] = {0, 1, 15, 63, 64, 65, 127, 2047, 2048, 2049, 4096 + 17, 65536 + 5, 262144 + 3};
  const size_t srcOffsets[] = {0, 1, 4, 16, 60, 4000};
  for (size_t bytes : sizes) {
    for (size_t so : srcOffsets) {
      // The destination from 0 to 70 bytes after the source, and a few before it.
      for (size_t ahead = 0; ahead <= 70; ++ahead) checkCopy(bytes, so, (so + ahead) % 4096);
      for (size_t behind : {1, 4, 15, 16, 64}) checkCopy(bytes, so, (so + 4096 - behind) % 4096);
    }
  }
}

TEST(HostCopy, TakesItsOwnLoopExactlyWhereMemcpyCrawls) {
  alignas(4096) static unsigned char page[2 * 4096];
  const unsigned char* src = page + 4096;
#if defined(__x86_64__)
  for (size_t apart = 1; apart < 64; ++apart) {
    EXPECT_TRUE(hostCopyAvoidsMemcpy(page + 4096 + apart, src, 4096)) << "destination " << apart << " bytes ahead";
    EXPECT_TRUE(hostCopyAvoidsMemcpy(page + 4096 - apart, src, 2048)) << "destination " << apart << " bytes behind";
    EXPECT_TRUE(hostCopyAvoidsMemcpy(page + 64 + apart, src, 1 << 20)) << "64 + " << apart << " bytes apart";
  }
#endif
  EXPECT_FALSE(hostCopyAvoidsMemcpy(page, src, 1 << 20)) << "a page apart";
  EXPECT_FALSE(hostCopyAvoidsMemcpy(page + 64, src, 1 << 20)) << "a cache line apart";
  EXPECT_FALSE(hostCopyAvoidsMemcpy(page + 4, src, 2047)) << "below 2048 bytes";
}

}  // namespace
}  // namespace mixccl
