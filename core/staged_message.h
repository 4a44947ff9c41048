// Messages of a device whose memory the host cannot touch (Device::hostAccessible() false) cross a
// host transport through host memory: the sender copies device -> host, the receiver host -> device
// (and reduces, for a receive-reduce). A transport asks for a message in pieces of its own size (a
// 256 KiB slot for shm) and every device call costs a hand-off to the device's stream beyond its
// copy (18-30 us for the emu on this project's VMs, microseconds for a CUDA memcpy), so one call
// per piece made the hand-offs, not the copies, set the pace. These adapters stage in blocks
// instead: one device call per block (MIXCCL_STAGING_BYTES, 1 MiB by default), and the transport's
// pieces are host memcpys from or into the block.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "backends/devices/device.h"
#include "backends/transports/transport.h"

namespace mixccl {

// The block size: MIXCCL_STAGING_BYTES, read once per process (a multiple of 8 bytes, so a block
// always ends on an element; between 64 KiB and 1 GiB).
size_t stagingBlockBytes();

// Host blocks for the staged messages of one round, reused from round to round.
class StagingBlocks {
 public:
  char* take();                // a block of stagingBlockBytes() bytes, free until reset()
  void reset() { used_ = 0; }  // every message that took one has finished
 private:
  std::vector<std::unique_ptr<char[]>> blocks_;
  size_t used_ = 0;
};

// A send of `bytes` from device memory at src: the transport's reads come from `block`, refilled
// with one device copy whenever a read leaves it. A read of a block or more goes straight through.
MessageSource stagedSource(Device* dev, const char* src, size_t bytes, char* block);

// A receive of `bytes` into device memory at dst: pieces gather in `block`, which goes to the device
// in one call when full and at the end. With reduceInput set, that call is dst = reduceInput op
// block (a receive-reduce); otherwise a copy.
MessageSink stagedSink(Device* dev, char* dst, size_t bytes, size_t elementBytes, char* block,
                       const char* reduceInput = nullptr, mixcclDataType_t type = mixcclFloat32,
                       ReduceOp op = ReduceOp::Sum);

}  // namespace mixccl
