// The layout of one directed ring (sender -> receiver) in shared memory, and the view each side
// keeps of it. A single-producer single-consumer queue of fixed-size slots: the sender owns `head`
// (pieces published), the receiver owns `tail` (pieces freed); each counter has its own cache line
// so the two sides do not fight over one. A slot's header and data are written before head moves
// (release) and read after head is seen (acquire); the same holds for tail in the other direction.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace mixccl {

constexpr uint64_t kShmRingMagic = 0x6d697863636c5247ull;  // marks a mixccl ring
constexpr uint32_t kShmRingVersion = 2;

struct alignas(64) ShmRingHeader {
  uint64_t magic;
  uint32_t version;
  uint32_t slots;
  uint64_t slotBytes;
  uint64_t dataOffset;  // from the start of the segment
  int32_t senderRank;
  int32_t receiverRank;
};

struct alignas(64) ShmCounter {
  uint64_t value;
};

// Describes the piece in one slot. messageBytes lets the receiver of the first piece report a size
// disagreement in words instead of reading past the end of what it expected.
// A slot with a nonzero senderAddress carries no data: the whole message (offset 0, pieceBytes =
// messageBytes) is to be read straight from the sender's memory at that address (cross_memory.h),
// and the sender keeps it unchanged until the receiver frees the slot.
struct alignas(64) ShmSlotHeader {
  uint64_t messageBytes;
  uint64_t offset;
  uint64_t pieceBytes;
  uint64_t senderAddress;
};

struct alignas(64) ShmRingControl {
  ShmRingHeader header;
  ShmCounter head;
  ShmCounter tail;
  // Written by the receiver at setup: 1 when it can read the sender's memory directly, so the
  // sender may post large messages by address (see ShmSlotHeader).
  ShmCounter receiverReadsSender;
  // `slots` ShmSlotHeaders follow; the slot data starts at header.dataOffset.
};

// Segment size and data offset for a ring of `slots` x `slotBytes`.
inline size_t shmRingDataOffset(uint32_t slots) {
  size_t control = sizeof(ShmRingControl) + size_t{slots} * sizeof(ShmSlotHeader);
  return (control + 4095) & ~size_t{4095};
}
inline size_t shmRingBytes(uint32_t slots, size_t slotBytes) {
  return shmRingDataOffset(slots) + size_t{slots} * slotBytes;
}

// A mapped ring, as either side sees it.
struct ShmRingView {
  ShmRingControl* control = nullptr;
  unsigned char* data = nullptr;
  uint32_t slots = 0;
  size_t slotBytes = 0;

  std::atomic_ref<uint64_t> head() const { return std::atomic_ref<uint64_t>(control->head.value); }
  std::atomic_ref<uint64_t> tail() const { return std::atomic_ref<uint64_t>(control->tail.value); }
  ShmSlotHeader& slotHeader(uint64_t n) const {
    return reinterpret_cast<ShmSlotHeader*>(control + 1)[n % slots];
  }
  unsigned char* slotData(uint64_t n) const { return data + (n % slots) * slotBytes; }
};

}  // namespace mixccl
