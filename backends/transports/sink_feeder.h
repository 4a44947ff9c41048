// Delivers a received message, piece by piece as it arrives, to its MessageSink: straight into
// hostPtr when there is one, else through consume() in pieces whose offsets and lengths are
// multiples of the sink's granule. Arrival pieces may split an element (a socket read stops
// anywhere), so the few bytes of a split element wait here until the rest of it arrives.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "backends/transports/transport.h"

namespace mixccl {

class SinkFeeder {
 public:
  explicit SinkFeeder(const MessageSink* sink) : sink_(sink) {}

  // The next `len` bytes of the message, in order.
  Status feed(const void* src, size_t len);
  // The next `len` bytes were already written in place at hostPtr (a receive straight into it).
  void wroteToHost(size_t len) { fed_ += len; }
  // Bytes fed so far (including bytes of a split element not yet handed to consume()).
  size_t fed() const { return fed_; }
  bool complete() const { return fed_ == sink_->bytes; }

 private:
  Status consume(const void* src, size_t len);

  const MessageSink* sink_;
  size_t fed_ = 0;
  size_t consumed_ = 0;                 // bytes handed to consume(), a multiple of the granule
  std::vector<unsigned char> partial_;  // the start of an element split across arrivals
  std::vector<uint64_t> aligned_;       // an aligned copy of pieces that arrive misaligned
};

// Why a sink cannot be used, or ok: the engine promises bytes is a multiple of granule.
Status checkSink(const MessageSink& sink, int peer, const char* transportName);

}  // namespace mixccl
