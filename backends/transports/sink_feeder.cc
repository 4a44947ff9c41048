#include "backends/transports/sink_feeder.h"
#include "core/host_copy.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace mixccl {

Status checkSink(const MessageSink& sink, int peer, const char* transportName) {
  if (sink.granule == 0 || sink.bytes % sink.granule != 0) {
    return errorStatus(mixcclInternalError,
                       "%s transport: a receive from rank %d of %zu bytes has element size %zu, "
                       "which does not divide it",
                       transportName, peer, sink.bytes, sink.granule);
  }
  if (sink.hostPtr == nullptr && !sink.consume) {
    return errorStatus(mixcclInternalError,
                       "%s transport: a receive from rank %d has neither a host pointer nor a consumer",
                       transportName, peer);
  }
  return Status::ok();
}

Status SinkFeeder::consume(const void* src, size_t len) {
  Status s = sink_->consume(src, consumed_, len);
  consumed_ += len;
  return s;
}

Status SinkFeeder::feed(const void* src, size_t len) {
  if (len == 0) return Status::ok();
  if (sink_->hostPtr != nullptr) {
    copyHostMemory(static_cast<unsigned char*>(sink_->hostPtr) + fed_, src, len);
    fed_ += len;
    return Status::ok();
  }
  const size_t granule = sink_->granule;
  auto* p = static_cast<const unsigned char*>(src);
  size_t n = len;
  fed_ += len;
  if (!partial_.empty()) {
    size_t take = std::min(granule - partial_.size(), n);
    partial_.insert(partial_.end(), p, p + take);
    p += take;
    n -= take;
    if (partial_.size() < granule) return Status::ok();
    MIXCCL_CHECK(consume(partial_.data(), granule));
    partial_.clear();
  }
  size_t whole = n - n % granule;
  if (whole > 0 && reinterpret_cast<uintptr_t>(p) % granule != 0) {
    // After a split element the rest is misaligned for its type; consumers (reduction kernels)
    // may rely on alignment, so hand them an aligned copy.
    aligned_.resize((whole + sizeof(uint64_t) - 1) / sizeof(uint64_t));
    std::memcpy(aligned_.data(), p, whole);
    MIXCCL_CHECK(consume(aligned_.data(), whole));
  } else if (whole > 0) {
    MIXCCL_CHECK(consume(p, whole));
  }
  partial_.assign(p + whole, p + n);
  return Status::ok();
}

}  // namespace mixccl
