#include "core/staged_message.h"

#include <algorithm>
#include <cstring>

#include "core/env.h"
#include "core/log.h"

namespace mixccl {

namespace {
constexpr int64_t kDefaultStagingBytes = int64_t{1} << 20;
constexpr int64_t kMinStagingBytes = int64_t{64} << 10;
constexpr int64_t kMaxStagingBytes = int64_t{1} << 30;
}  // namespace

size_t stagingBlockBytes() {
  static const size_t bytes = [] {
    int64_t v = env::getInt("STAGING_BYTES", kDefaultStagingBytes);
    if (v < kMinStagingBytes || v > kMaxStagingBytes || v % 8 != 0) {
      MIXCCL_WARN("MIXCCL_STAGING_BYTES=%lld must be a multiple of 8 between %lld and %lld; using %lld",
                  static_cast<long long>(v), static_cast<long long>(kMinStagingBytes),
                  static_cast<long long>(kMaxStagingBytes), static_cast<long long>(kDefaultStagingBytes));
      v = kDefaultStagingBytes;
    }
    return static_cast<size_t>(v);
  }();
  return bytes;
}

char* StagingBlocks::take() {
  if (used_ == blocks_.size()) blocks_.push_back(std::make_unique_for_overwrite<char[]>(stagingBlockBytes()));
  return blocks_[used_++].get();
}

MessageSource stagedSource(Device* dev, const char* src, size_t bytes, char* block) {
  struct State {
    size_t start = 0, length = 0;  // the message bytes the block holds
  };
  auto state = std::make_shared<State>();
  const size_t blockBytes = stagingBlockBytes();
  MessageSource m;
  m.bytes = bytes;
  m.read = [dev, src, bytes, block, blockBytes, state](void* dst, size_t off, size_t len) -> Status {
    char* out = static_cast<char*>(dst);
    if (len >= blockBytes) return dev->copy(out, src + off, len);
    while (len > 0) {
      if (off < state->start || off >= state->start + state->length) {
        state->start = off;
        state->length = std::min(blockBytes, bytes - off);
        MIXCCL_CHECK(dev->copy(block, src + off, state->length));
      }
      const size_t take = std::min(len, state->start + state->length - off);
      std::memcpy(out, block + (off - state->start), take);
      out += take, off += take, len -= take;
    }
    return Status::ok();
  };
  return m;
}

MessageSink stagedSink(Device* dev, char* dst, size_t bytes, size_t elementBytes, char* block,
                       const char* reduceInput, mixcclDataType_t type, ReduceOp op) {
  struct State {
    size_t start = 0, filled = 0;  // the block holds message bytes [start, start + filled)
  };
  auto state = std::make_shared<State>();
  const size_t blockBytes = stagingBlockBytes();
  auto flush = [=]() -> Status {
    const size_t n = state->filled;
    if (n == 0) return Status::ok();
    state->filled = 0;
    if (reduceInput == nullptr) return dev->copy(dst + state->start, block, n);
    return dev->reduce(dst + state->start, reduceInput + state->start, block, n / elementBytes, type, op);
  };
  MessageSink m;
  m.bytes = bytes;
  m.granule = elementBytes;
  m.consume = [=](const void* src, size_t off, size_t len) -> Status {
    const char* in = static_cast<const char*>(src);
    // Pieces come in order; one that does not continue the block's bytes starts a new block.
    if (state->filled > 0 && off != state->start + state->filled) MIXCCL_CHECK(flush());
    if (state->filled == 0 && len >= blockBytes) {  // a block or more at once: straight to the device
      if (reduceInput == nullptr) return dev->copy(dst + off, in, len);
      return dev->reduce(dst + off, reduceInput + off, in, len / elementBytes, type, op);
    }
    while (len > 0) {
      if (state->filled == 0) state->start = off;
      const size_t take = std::min(len, blockBytes - state->filled);
      std::memcpy(block + state->filled, in, take);
      state->filled += take, in += take, off += take, len -= take;
      if (state->filled == blockBytes || off == bytes) MIXCCL_CHECK(flush());
    }
    return Status::ok();
  };
  return m;
}

}  // namespace mixccl
