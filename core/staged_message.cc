#include "core/staged_message.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/env.h"
#include "core/log.h"

namespace mixccl {

namespace {
constexpr int64_t kDefaultStagingBytes = int64_t{1} << 20;
constexpr int64_t kMinStagingBytes = int64_t{64} << 10;
constexpr int64_t kMaxStagingBytes = int64_t{1} << 30;
// At most this many device calls per block (MIXCCL_STAGING_UNITS).
constexpr int64_t kMaxUnitsPerBlock = 16;
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

StagingBlocks::~StagingBlocks() {
  if (used_ > 0) (void)dev_->waitTicket(Device::kAllTickets);
  for (char* b : blocks_) dev_->releaseHost(b);
}

Status StagingBlocks::takeOne(char** block) {
  if (used_ == blocks_.size()) {
    void* p = nullptr;
    MIXCCL_CHECK(dev_->allocateHost(stagingBlockBytes(), &p).withContext("staging block: "));
    blocks_.push_back(static_cast<char*>(p));
  }
  *block = blocks_[used_++];
  return Status::ok();
}

Status StagingBlocks::take(size_t bytes, StagingPair* out) {
  *out = {};
  MIXCCL_CHECK(takeOne(&out->first));
  if (bytes > stagingBlockBytes()) MIXCCL_CHECK(takeOne(&out->second));
  return Status::ok();
}

Status StagingBlocks::reset() {
  if (used_ == 0) return Status::ok();
  used_ = 0;
  return dev_->waitTicket(Device::kAllTickets);
}

size_t stagingUnitBytes() {
  static const size_t bytes = [] {
    int64_t units = env::getInt("STAGING_UNITS", 1);
    if (units < 1 || units > kMaxUnitsPerBlock) {
      MIXCCL_WARN("MIXCCL_STAGING_UNITS=%lld must be between 1 and %lld; using 1", static_cast<long long>(units),
                  static_cast<long long>(kMaxUnitsPerBlock));
      units = 1;
    }
    return stagingBlockBytes() / static_cast<size_t>(units) / 8 * 8;
  }();
  return bytes;
}

MessageSource stagedSource(Device* dev, const char* src, size_t bytes, StagingPair blocks, size_t unitBytes) {
  // A block's contents: message bytes [start, start + length), copied in by one device copy per
  // unit (ticket[u]); the first `waited` units are known to have landed.
  struct Fill {
    char* block = nullptr;
    size_t start = 0, length = 0;
    std::vector<uint64_t> ticket;
    size_t waited = 0;
    bool issued = false;
  };
  struct State {
    Fill fill[2];
  };
  auto state = std::make_shared<State>();
  state->fill[0].block = blocks.first;
  state->fill[1].block = blocks.second;
  const int nfills = blocks.second != nullptr ? 2 : 1;
  const size_t blockBytes = stagingBlockBytes();
  auto fetch = [dev, src, bytes, blockBytes, unitBytes](Fill* f, size_t off) -> Status {
    f->start = off;
    f->length = std::min(blockBytes, bytes - off);
    f->waited = 0;
    f->issued = true;
    f->ticket.resize((f->length + unitBytes - 1) / unitBytes);
    for (size_t u = 0; u < f->ticket.size(); ++u) {
      const size_t at = u * unitBytes;
      MIXCCL_CHECK(dev->copyAsync(f->block + at, src + off + at, std::min(unitBytes, f->length - at), &f->ticket[u]));
    }
    return Status::ok();
  };
  MessageSource m;
  m.bytes = bytes;
  m.read = [dev, src, bytes, blockBytes, unitBytes, state, nfills, fetch](void* dst, size_t off, size_t len) -> Status {
    char* out = static_cast<char*>(dst);
    if (len >= blockBytes) return dev->copy(out, src + off, len);
    while (len > 0) {
      Fill* f = nullptr;
      for (int i = 0; i < nfills; ++i) {
        Fill& c = state->fill[i];
        if (c.issued && off >= c.start && off < c.start + c.length) f = &c;
      }
      if (f == nullptr) {  // the first read, or a transport that went back: fetch where it reads
        f = &state->fill[0];
        if (nfills == 2 && state->fill[0].issued && !state->fill[1].issued) f = &state->fill[1];
        MIXCCL_CHECK(fetch(f, off));
      }
      // The next block comes in while the transport takes this one.
      const size_t next = f->start + f->length;
      Fill* g = nfills == 2 ? &state->fill[f == &state->fill[0] ? 1 : 0] : nullptr;
      if (g != nullptr && next < bytes && !(g->issued && g->start == next)) MIXCCL_CHECK(fetch(g, next));
      // Wait for the unit this piece starts in; the transport moves it while later units land.
      const size_t unit = (off - f->start) / unitBytes;
      if (unit >= f->waited) {
        MIXCCL_CHECK(dev->waitTicket(f->ticket[unit]));
        f->waited = unit + 1;
      }
      const size_t take = std::min(len, std::min(next, f->start + (unit + 1) * unitBytes) - off);
      std::memcpy(out, f->block + (off - f->start), take);
      out += take, off += take, len -= take;
    }
    return Status::ok();
  };
  return m;
}

MessageSink stagedSink(Device* dev, char* dst, size_t bytes, size_t elementBytes, StagingPair blocks,
                       const char* reduceInput, mixcclDataType_t type, ReduceOp op, size_t unitBytes) {
  // A block whose bytes went to the device; `ticket` is the last call that reads it.
  struct Drain {
    char* block = nullptr;
    uint64_t ticket = 0;
    bool pending = false;
  };
  struct State {
    Drain drain[2];
    int cur = 0;                   // the block being filled
    size_t start = 0, filled = 0;  // it holds message bytes [start, start + filled)
    size_t handed = 0;             // of which [start, start + handed) went to the device
  };
  auto state = std::make_shared<State>();
  state->drain[0].block = blocks.first;
  state->drain[1].block = blocks.second;
  const int ndrains = blocks.second != nullptr ? 2 : 1;
  const size_t blockBytes = stagingBlockBytes();
  auto settle = [dev](Drain* d) -> Status {
    if (!d->pending) return Status::ok();
    d->pending = false;
    return dev->waitTicket(d->ticket);
  };
  auto settleAll = [state, settle]() -> Status {
    MIXCCL_CHECK(settle(&state->drain[0]));
    return settle(&state->drain[1]);
  };
  // Hands the block's bytes not yet handed to the device (one call); `done` moves on to the other block.
  auto handOver = [=](bool done) -> Status {
    Drain* d = &state->drain[state->cur];
    const size_t from = state->handed, n = state->filled - from;
    if (n > 0) {
      char* to = dst + state->start + from;
      if (reduceInput == nullptr) {
        MIXCCL_CHECK(dev->copyAsync(to, d->block + from, n, &d->ticket));
      } else {
        MIXCCL_CHECK(dev->reduceAsync(to, reduceInput + state->start + from, d->block + from, n / elementBytes, type,
                                      op, &d->ticket));
      }
      d->pending = true;
      state->handed = state->filled;
    }
    if (done) {
      state->filled = state->handed = 0;
      state->cur = (state->cur + 1) % ndrains;
    }
    return Status::ok();
  };
  MessageSink m;
  m.bytes = bytes;
  m.granule = elementBytes;
  m.consume = [=](const void* src, size_t off, size_t len) -> Status {
    const char* in = static_cast<const char*>(src);
    // Pieces come in order; one that does not continue the block's bytes starts a new block.
    if (state->filled > 0 && off != state->start + state->filled) MIXCCL_CHECK(handOver(true));
    if (state->filled == 0 && len >= blockBytes) {  // a block or more at once: straight to the device
      MIXCCL_CHECK(settleAll());
      if (reduceInput == nullptr) return dev->copy(dst + off, in, len);
      return dev->reduce(dst + off, reduceInput + off, in, len / elementBytes, type, op);
    }
    while (len > 0) {
      Drain* d = &state->drain[state->cur];
      if (state->filled == 0) {
        state->start = off;
        MIXCCL_CHECK(settle(d));  // the device may still be reading this block
      }
      const size_t take = std::min(len, blockBytes - state->filled);
      std::memcpy(d->block + state->filled, in, take);
      state->filled += take, in += take, off += take, len -= take;
      // Each full unit goes to the device at once, the block's last bytes when it is full or the
      // message ends.
      const bool done = state->filled == blockBytes || off == bytes;
      if (done || state->filled - state->handed >= unitBytes) MIXCCL_CHECK(handOver(done));
    }
    // The message is complete only once its bytes are in device memory.
    if (off == bytes) MIXCCL_CHECK(settleAll());
    return Status::ok();
  };
  return m;
}

}  // namespace mixccl
