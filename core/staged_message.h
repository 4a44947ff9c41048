// Messages of a device whose memory the host cannot touch (Device::hostAccessible() false) cross a
// host transport through host memory: the sender copies device -> host, the receiver host -> device
// (and reduces, for a receive-reduce). A transport asks for a message in pieces of its own size (a
// 256 KiB slot for shm) and every device call costs a hand-off to the device's stream beyond its
// copy (18-30 us for the emu on this project's VMs, microseconds for a CUDA memcpy), so one call
// per piece made the hand-offs, not the copies, set the pace. These adapters stage in blocks
// instead: one device call per block (MIXCCL_STAGING_BYTES, 1 MiB by default), and the transport's
// pieces are host memcpys from or into the block.
//
// Staging is pipelined (Device::copyAsync / reduceAsync, waited for by ticket). A message longer
// than a block gets two: a send fetches block k+1 as soon as the transport starts reading block k; a
// receive hands a block to the device when it is full, goes on into the other one, and waits for the
// device only when it needs a block back and at the message's end (so a finished receive has landed
// in device memory, as the engine's next steps assume). MIXCCL_STAGING_UNITS > 1 also splits each
// block into that many device calls, so that the transport moves one unit while the device copies
// the next inside one block (the schedules' pipelined chunks are 256 KiB to 1 MiB, so most staged
// messages fit in one block). It is 1 by default: on the 2-core build machine the emu's copies take
// a core and every wait for one is a thread hand-off, and 4 units measured 10-20 % slower in every
// cpu+emu all-reduce tried (docs/performance.md); a GPU's DMA copies cost the host nothing while
// they run, and are where more units should pay (not yet measured). The blocks come from
// Device::allocateHost: page-locked for a GPU, so that its copies run in the background at the
// bus's rate.
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
// The bytes of one device call inside a block: the block / MIXCCL_STAGING_UNITS (1 to 16, default
// 1), rounded down to a multiple of 8; read once per process.
size_t stagingUnitBytes();

// The host blocks of one message: `second` is null when the message fits in one block.
struct StagingPair {
  char* first = nullptr;
  char* second = nullptr;
};

// Host blocks for the staged messages of one round, reused from round to round, from the device's
// allocateHost; one pool per communicator (its collectives run one at a time).
class StagingBlocks {
 public:
  explicit StagingBlocks(Device* dev) : dev_(dev) {}
  ~StagingBlocks();  // waits for device work still queued on the blocks, then frees them
  StagingBlocks(const StagingBlocks&) = delete;
  StagingBlocks& operator=(const StagingBlocks&) = delete;

  // Blocks of stagingBlockBytes() for a message of `bytes`, free until reset().
  Status take(size_t bytes, StagingPair* out);
  // Every message that took blocks has finished. Waits for device work a failed message may have
  // left queued on them (none on success: messages wait for their own copies).
  Status reset();

 private:
  Status takeOne(char** block);
  Device* dev_;
  std::vector<char*> blocks_;
  size_t used_ = 0;
};

// A send of `bytes` from device memory at src: the transport's reads come from the blocks, each
// refilled with one device copy per unit (unitBytes: a multiple of 8 dividing into the block). A read of a block or more goes straight through.
MessageSource stagedSource(Device* dev, const char* src, size_t bytes, StagingPair blocks,
                           size_t unitBytes = stagingUnitBytes());

// A receive of `bytes` into device memory at dst: pieces gather in a block, which goes to the device
// in one call when full and at the end. With reduceInput set, that call is dst = reduceInput op
// block (a receive-reduce); otherwise a copy.
MessageSink stagedSink(Device* dev, char* dst, size_t bytes, size_t elementBytes, StagingPair blocks,
                       const char* reduceInput = nullptr, mixcclDataType_t type = mixcclFloat32,
                       ReduceOp op = ReduceOp::Sum, size_t unitBytes = stagingUnitBytes());

}  // namespace mixccl
