// The engine's staging of device messages in host blocks (core/staged_message.h), on the emu device,
// whose memory faults when the host touches it: every byte must go through the device's calls. The
// transports' side is played here: reads and receives in pieces of every awkward size, pieces that
// straddle blocks, restarts at earlier offsets, and pieces of a block or more.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
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

StagingPair take(StagingBlocks& blocks, size_t bytes) {
  StagingPair p;
  Status st = blocks.take(bytes, &p);
  EXPECT_TRUE(st.isOk()) << st.message();
  return p;
}

// Units of device calls: a whole block (the default) and a quarter (MIXCCL_STAGING_UNITS=4).
std::vector<size_t> unitSizes() { return {stagingBlockBytes(), stagingBlockBytes() / 4}; }

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
      for (size_t unit : unitSizes()) {
        StagingBlocks blocks(dev.get());
        MessageSource m = stagedSource(dev.get(), src.get(), bytes, take(blocks, bytes), unit);
        ASSERT_EQ(m.bytes, bytes);
        ASSERT_EQ(m.hostPtr, nullptr);
        std::vector<unsigned char> got(bytes, 0);
        for (size_t off = 0; off < bytes; off += piece) {
          const size_t len = std::min(piece, bytes - off);
          Status st = m.read(got.data() + off, off, len);
          ASSERT_TRUE(st.isOk()) << st.message();
        }
        ASSERT_EQ(got, data) << bytes << " bytes read in pieces of " << piece << ", units of " << unit;
        // A transport that starts over (a retry from the beginning) still gets the right bytes.
        std::vector<unsigned char> again(std::min(bytes, size_t{4096}), 0);
        ASSERT_TRUE(m.read(again.data(), 0, again.size()).isOk());
        ASSERT_TRUE(std::equal(again.begin(), again.end(), data.begin()));
      }
    }
  }
}

TEST(StagedMessage, SinksCopyEveryPieceSizeIntact) {
  auto dev = emu();
  const size_t block = stagingBlockBytes();
  for (size_t bytes : {size_t{8}, size_t{1000}, block - 8, block, block + 8, 3 * block + 12344}) {
    std::vector<unsigned char> data = randomBytes(bytes, static_cast<unsigned>(bytes) + 1);
    for (size_t piece : pieceSizes(8)) {
      for (size_t unit : unitSizes()) {
        DevBuf dst(dev.get(), std::vector<unsigned char>(bytes, 0xEE));
        StagingBlocks blocks(dev.get());
        MessageSink m = stagedSink(dev.get(), dst.get(), bytes, 8, take(blocks, bytes), nullptr, mixcclFloat32,
                                   ReduceOp::Sum, unit);
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
        ASSERT_EQ(dst.read(bytes), data) << bytes << " bytes received in pieces of " << piece << ", units of " << unit;
      }
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
    for (size_t unit : unitSizes()) {
      DevBuf input(dev.get(), aBytes), out(dev.get(), zeros);
      StagingBlocks blocks(dev.get());
      MessageSink m = stagedSink(dev.get(), out.get(), bytes, sizeof(float), take(blocks, bytes), input.get(),
                                 mixcclFloat32, ReduceOp::Sum, unit);
      const char* src = reinterpret_cast<const char*>(b.data());
      for (size_t off = 0; off < bytes; off += piece) {
        Status st = m.consume(src + off, off, std::min(piece, bytes - off));
        ASSERT_TRUE(st.isOk()) << st.message();
      }
      std::vector<unsigned char> got = out.read(bytes);
      const float* f = reinterpret_cast<const float*>(got.data());
      size_t wrong = 0;
      for (size_t i = 0; i < count; ++i) wrong += f[i] != a[i] + b[i];
      ASSERT_EQ(wrong, 0u) << "pieces of " << piece << ", units of " << unit;
    }
  }
}

TEST(StagedMessage, BlocksAreReusedAfterResetAndComeFromTheDevice) {
  auto dev = emu();
  const size_t block = stagingBlockBytes();
  StagingBlocks blocks(dev.get());
  StagingPair small = take(blocks, block);  // fits in one block
  EXPECT_NE(small.first, nullptr);
  EXPECT_EQ(small.second, nullptr);
  StagingPair large = take(blocks, block + 1);  // two: one is copied while the other is moved
  EXPECT_NE(large.second, nullptr);
  EXPECT_NE(large.first, small.first);
  EXPECT_NE(large.first, large.second);
  ASSERT_TRUE(blocks.reset().isOk());
  StagingPair again = take(blocks, 3 * block);
  EXPECT_EQ(again.first, small.first);
  EXPECT_EQ(again.second, large.first);
  // Host memory: the core writes the transport's pieces into it.
  std::memset(again.first, 1, block);
  std::memset(again.second, 2, block);
}

// A device whose async work runs only when waited for (or when a synchronous call drains its queue,
// as a stream would): a block read before its copy was waited for holds stale bytes, so these tests
// catch a missing wait; and what is still queued shows what overlaps the transport.
class DeferredDevice final : public Device {
 public:
  const char* kind() const override { return "deferred"; }
  int ordinal() const override { return 0; }
  bool hostAccessible() const override { return false; }
  bool owns(const void*) const override { return true; }
  Status allocate(size_t bytes, void** ptr) override {
    *ptr = ::operator new(bytes);
    return Status::ok();
  }
  void release(void* ptr) override { ::operator delete(ptr); }
  Status copy(void* dst, const void* src, size_t bytes) override {
    runUpTo(kAllTickets);
    std::memcpy(dst, src, bytes);
    return Status::ok();
  }
  Status reduce(void* dst, const void* a, const void* b, size_t count, mixcclDataType_t, ReduceOp) override {
    runUpTo(kAllTickets);
    sumFloats(dst, a, b, count);
    return Status::ok();
  }
  Status scale(void*, const void*, size_t, mixcclDataType_t, const void*) override { return Status::ok(); }
  Status divide(void*, const void*, size_t, mixcclDataType_t, uint64_t) override { return Status::ok(); }
  Status copyAsync(void* dst, const void* src, size_t bytes, uint64_t* ticket) override {
    queue_.push_back({++last_, [=] { std::memcpy(dst, src, bytes); }, bytes, false, dst, src});
    *ticket = last_;
    return Status::ok();
  }
  Status reduceAsync(void* dst, const void* a, const void* b, size_t count, mixcclDataType_t, ReduceOp,
                     uint64_t* ticket) override {
    queue_.push_back({++last_, [=] { sumFloats(dst, a, b, count); }, count * sizeof(float), true, dst, b});
    *ticket = last_;
    return Status::ok();
  }
  Status waitTicket(uint64_t ticket) override {
    runUpTo(ticket);
    return Status::ok();
  }

  struct Work {
    uint64_t ticket;
    std::function<void()> run;
    size_t bytes;
    bool reduce;
    const void* dst;  // where it writes
    const void* src;  // what it reads (for a reduce, the host block)
  };
  const std::vector<Work>& queued() const { return queue_; }

 private:
  static void sumFloats(void* dst, const void* a, const void* b, size_t count) {
    for (size_t i = 0; i < count; ++i) {
      static_cast<float*>(dst)[i] = static_cast<const float*>(a)[i] + static_cast<const float*>(b)[i];
    }
  }
  void runUpTo(uint64_t ticket) {
    size_t n = 0;
    while (n < queue_.size() && queue_[n].ticket <= ticket) queue_[n++].run();
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<long>(n));
  }
  std::vector<Work> queue_;
  uint64_t last_ = 0;
};

// MIXCCL_STAGING_UNITS=4: a block crosses in quarters.
size_t quarterBlock() { return stagingBlockBytes() / 4; }

TEST(StagedMessage, SourcesCopyTheNextUnitsWhileTheTransportReadsThisOne) {
  DeferredDevice dev;
  const size_t block = stagingBlockBytes(), unit = quarterBlock();
  const size_t bytes = 3 * block + 1000;
  std::vector<unsigned char> data = randomBytes(bytes, 11);
  const char* base = reinterpret_cast<const char*>(data.data());
  StagingBlocks blocks(&dev);
  MessageSource m = stagedSource(&dev, base, bytes, take(blocks, bytes), unit);
  std::vector<unsigned char> got(bytes, 0);
  for (size_t piece : {unit, size_t{100000}}) {  // a transport's slot, and pieces that straddle units
    std::fill(got.begin(), got.end(), 0);
    for (size_t off = 0; off < bytes; off += piece) {
      const size_t end = std::min(off + piece, bytes);
      ASSERT_TRUE(m.read(got.data() + off, off, end - off).isOk());
      // Queued: the units after the one the read ended in, none before (those were waited for).
      const size_t nextUnit = ((end - 1) / unit + 1) * unit, nextBlock = ((end - 1) / block + 1) * block;
      bool unitQueued = false, blockQueued = false;
      for (const auto& w : dev.queued()) {
        const size_t at = static_cast<size_t>(static_cast<const char*>(w.src) - base);
        EXPECT_GE(at, nextUnit) << "after reading to " << end;
        unitQueued |= at == nextUnit;
        blockQueued |= at == nextBlock;
      }
      if (piece == unit && off == 0) {
        // The first read waited for its unit only: the rest of the block, and the whole next block, are queued.
        EXPECT_EQ(dev.queued().size(), 2 * block / unit - 1);
      }
      if (nextUnit < bytes) {
        EXPECT_TRUE(unitQueued) << "after reading to " << end << ": the next unit is not on its way";
      } else {
        EXPECT_TRUE(dev.queued().empty()) << "the last unit leaves nothing queued";
      }
      if (nextBlock < bytes) {
        EXPECT_TRUE(blockQueued) << "after reading to " << end << ": the next block is not on its way";
      }
    }
    EXPECT_EQ(got, data) << "pieces of " << piece;
    m = stagedSource(&dev, base, bytes, take(blocks, bytes), unit);
  }
}

TEST(StagedMessage, SinksHandEachUnitToTheDeviceAsItFillsAndEndLanded) {
  DeferredDevice dev;
  const size_t block = stagingBlockBytes(), unit = quarterBlock();
  for (size_t count : {(3 * block + 4096) / sizeof(float) + 5, block / sizeof(float) - 3}) {  // 4 blocks; under one
    const size_t bytes = count * sizeof(float);
    std::vector<float> a(count), b(count), out(count, -1.0f);
    for (size_t i = 0; i < count; ++i) a[i] = static_cast<float>(i % 977), b[i] = static_cast<float>((i * 3) % 101);
    const char* outBase = reinterpret_cast<const char*>(out.data());
    for (bool reduce : {false, true}) {
      std::fill(out.begin(), out.end(), -1.0f);
      StagingBlocks blocks(&dev);
      MessageSink m = stagedSink(&dev, reinterpret_cast<char*>(out.data()), bytes, sizeof(float), take(blocks, bytes),
                                 reduce ? reinterpret_cast<const char*>(a.data()) : nullptr, mixcclFloat32,
                                 ReduceOp::Sum, unit);
      const char* src = reinterpret_cast<const char*>(b.data());
      bool overlapped = false;
      for (size_t off = 0; off < bytes; off += unit / 2) {  // the transport's pieces: half a unit each
        const size_t len = std::min(unit / 2, bytes - off);
        std::vector<char> slot(src + off, src + off + len);
        ASSERT_TRUE(m.consume(slot.data(), off, len).isOk());
        std::fill(slot.begin(), slot.end(), 0);  // the transport reuses its memory
        if (off + len == bytes) break;
        // Never more than two blocks with the device; a unit goes as soon as it is full.
        size_t queuedBytes = 0;
        bool unitJustHanded = false;
        for (const auto& w : dev.queued()) {
          const size_t at = static_cast<size_t>(static_cast<const char*>(w.dst) - outBase);
          queuedBytes += w.bytes;
          EXPECT_LE(at + w.bytes, off + len) << "the device got bytes not yet received";
          EXPECT_EQ(w.reduce, reduce);
          unitJustHanded |= at + w.bytes == off + len;
        }
        EXPECT_LE(queuedBytes, 2 * block);
        if ((off + len) % unit == 0) {
          EXPECT_TRUE(unitJustHanded) << "the unit ending at " << off + len << " was kept back";
        }
        overlapped |= !dev.queued().empty();
      }
      EXPECT_TRUE(overlapped) << "the device was never working while the transport received";
      EXPECT_TRUE(dev.queued().empty()) << "a finished receive must have landed";
      size_t wrong = 0;
      for (size_t i = 0; i < count; ++i) wrong += out[i] != (reduce ? a[i] + b[i] : b[i]);
      EXPECT_EQ(wrong, 0u) << (reduce ? "receive-reduce" : "receive") << " of " << bytes << " bytes";
    }
  }
}

}  // namespace
}  // namespace mixccl
