// The engine's staging of device messages in host blocks (core/staged_message.h), on the emu device,
// whose memory faults when the host touches it: every byte must go through the device's calls. The
// transports' side is played here: reads and receives in pieces of every awkward size, pieces that
// straddle blocks, restarts at earlier offsets, and pieces of a block or more.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "backends/devices/device_factory.h"
#include "core/staged_message.h"

namespace mixccl {
namespace {

std::unique_ptr<Device> emu() {
  std::unique_ptr<Device> d;
  Status st = createDevice("emu", 0, 1, "", &d);
  EXPECT_TRUE(st.isOk()) << st.message();
  return d;
}

std::vector<unsigned char> randomBytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<unsigned char> v(n);
  for (auto& b : v) b = static_cast<unsigned char>(rng());
  return v;
}

// Device memory holding `host`, released with the test.
struct DevBuf {
  Device* dev;
  void* p = nullptr;
  DevBuf(Device* d, const std::vector<unsigned char>& host) : dev(d) {
    EXPECT_TRUE(dev->allocate(std::max<size_t>(host.size(), 1), &p).isOk());
    if (!host.empty()) {
      EXPECT_TRUE(dev->copy(p, host.data(), host.size()).isOk());
    }
  }
  ~DevBuf() { dev->release(p); }
  char* get() const { return static_cast<char*>(p); }
  std::vector<unsigned char> read(size_t n) const {
    std::vector<unsigned char> v(n);
    if (n > 0) {
      EXPECT_TRUE(dev->copy(v.data(), p, n).isOk());
    }
    return v;
  }
};

// Piece sizes a transport might use, each a multiple of `granule`: tiny, odd, a slot, a block and more.
std::vector<size_t> pieceSizes(size_t granule) {
  const size_t block = stagingBlockBytes();
  std::vector<size_t> sizes = {granule, 7 * granule, 40000 / granule * granule, 256 * 1024, block - granule, block,
                               block + 3 * granule, 2 * block};
  return sizes;
}

TEST(StagedMessage, SourcesReadEveryPieceSizeIntact) {
  auto dev = emu();
  const size_t block = stagingBlockBytes();
  for (size_t bytes : {size_t{1}, size_t{1000}, block - 1, block, block + 1, 3 * block + 12345}) {
    std::vector<unsigned char> data = randomBytes(bytes, static_cast<unsigned>(bytes));
    DevBuf src(dev.get(), data);
    for (size_t piece : pieceSizes(1)) {
      StagingBlocks blocks;
      MessageSource m = stagedSource(dev.get(), src.get(), bytes, blocks.take());
      ASSERT_EQ(m.bytes, bytes);
      ASSERT_EQ(m.hostPtr, nullptr);
      std::vector<unsigned char> got(bytes, 0);
      for (size_t off = 0; off < bytes; off += piece) {
        const size_t len = std::min(piece, bytes - off);
        Status st = m.read(got.data() + off, off, len);
        ASSERT_TRUE(st.isOk()) << st.message();
      }
      ASSERT_EQ(got, data) << bytes << " bytes read in pieces of " << piece;
      // A transport that starts over (a retry from the beginning) still gets the right bytes.
      std::vector<unsigned char> again(std::min(bytes, size_t{4096}), 0);
      ASSERT_TRUE(m.read(again.data(), 0, again.size()).isOk());
      ASSERT_TRUE(std::equal(again.begin(), again.end(), data.begin()));
    }
  }
}

TEST(StagedMessage, SinksCopyEveryPieceSizeIntact) {
  auto dev = emu();
  const size_t block = stagingBlockBytes();
  for (size_t bytes : {size_t{8}, size_t{1000}, block - 8, block, block + 8, 3 * block + 12344}) {
    std::vector<unsigned char> data = randomBytes(bytes, static_cast<unsigned>(bytes) + 1);
    for (size_t piece : pieceSizes(8)) {
      DevBuf dst(dev.get(), std::vector<unsigned char>(bytes, 0xEE));
      StagingBlocks blocks;
      MessageSink m = stagedSink(dev.get(), dst.get(), bytes, 8, blocks.take());
      ASSERT_EQ(m.bytes, bytes);
      ASSERT_EQ(m.granule, 8u);
      ASSERT_EQ(m.hostPtr, nullptr);
      for (size_t off = 0; off < bytes; off += piece) {
        const size_t len = std::min(piece, bytes - off);
        // The transport reuses its memory once consume() returns: hand over a copy and wipe it.
        std::vector<unsigned char> slot(data.begin() + static_cast<long>(off), data.begin() + static_cast<long>(off + len));
        Status st = m.consume(slot.data(), off, len);
        ASSERT_TRUE(st.isOk()) << st.message();
        std::fill(slot.begin(), slot.end(), 0);
      }
      ASSERT_EQ(dst.read(bytes), data) << bytes << " bytes received in pieces of " << piece;
    }
  }
}

TEST(StagedMessage, ReducingSinksReduceEveryElementOnce) {
  auto dev = emu();
  const size_t block = stagingBlockBytes();
  const size_t count = (2 * block + 4096) / sizeof(float) + 3;  // three blocks, the last one partial
  const size_t bytes = count * sizeof(float);
  std::vector<float> a(count), b(count);
  for (size_t i = 0; i < count; ++i) a[i] = static_cast<float>(i % 1000), b[i] = static_cast<float>((i * 7) % 333);
  std::vector<unsigned char> aBytes(bytes), zeros(bytes, 0);
  std::memcpy(aBytes.data(), a.data(), bytes);
  for (size_t piece : pieceSizes(sizeof(float))) {
    DevBuf input(dev.get(), aBytes), out(dev.get(), zeros);
    StagingBlocks blocks;
    MessageSink m = stagedSink(dev.get(), out.get(), bytes, sizeof(float), blocks.take(), input.get(), mixcclFloat32,
                               ReduceOp::Sum);
    const char* src = reinterpret_cast<const char*>(b.data());
    for (size_t off = 0; off < bytes; off += piece) {
      Status st = m.consume(src + off, off, std::min(piece, bytes - off));
      ASSERT_TRUE(st.isOk()) << st.message();
    }
    std::vector<unsigned char> got = out.read(bytes);
    const float* f = reinterpret_cast<const float*>(got.data());
    size_t wrong = 0;
    for (size_t i = 0; i < count; ++i) wrong += f[i] != a[i] + b[i];
    ASSERT_EQ(wrong, 0u) << "pieces of " << piece;
  }
}

TEST(StagedMessage, BlocksAreReusedAfterReset) {
  StagingBlocks blocks;
  char* first = blocks.take();
  char* second = blocks.take();
  EXPECT_NE(first, second);
  blocks.reset();
  EXPECT_EQ(blocks.take(), first);
  EXPECT_EQ(blocks.take(), second);
  EXPECT_NE(blocks.take(), second);
}

}  // namespace
}  // namespace mixccl
