// The cuda_ipc transport: CUDA ranks on one host, several on one GPU included, move data
// device-to-device through IPC-mapped staging buffers instead of through host memory.
//
// Per rank: one device buffer holding a receive ring for each cuda_ipc peer (slots x slotBytes,
// allocated once when the communicator forms), exported as one IPC memory handle, and one
// interprocess event the rank records after each copy into a peer's ring. Control (which slot is
// posted, which consumed) lives in host shared memory with a doorbell per rank, so a waiting rank
// sleeps on a futex: no kernel ever spins waiting for another process's kernel (processes sharing a
// GPU are time-sliced, a spinning kernel would hold the GPU its peer needs).
//
// A send copies a chunk from the user's buffer straight into the peer's ring slot (one device copy,
// on the sending rank's stream), records the event, then posts the slot. The receiver makes its
// own stream wait for that event (GPU-side), then consumes the slot in place (copy into the
// destination, or the reduction kernel reading it) and frees the slot. Sender and receiver work on
// different slots at once, so a message of many chunks is pipelined.
//
// It moves bytes through the Device interface only (exportMemory/importMemory, the IPC events,
// copy), so it is tested without a GPU against a Device whose memory is shared host memory
// (tests/devices/cuda_ipc_transport_test.cc). docs/transports.md and docs/devices.md describe it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backends/transports/transport.h"

namespace mixccl {

class Device;

// Ring geometry: MIXCCL_CUDA_IPC_CHUNK bytes per slot (default 4 MiB, rounded to 64 bytes),
// MIXCCL_CUDA_IPC_SLOTS slots per peer (default 4, 2..16). Every rank must use the same values.
struct CudaIpcGeometry {
  uint64_t slotBytes = 4ull << 20;
  uint32_t slots = 4;
};
Status readCudaIpcGeometry(CudaIpcGeometry* out);

// Collective over every rank of the communicator, like the other constructors. ctx.device is the
// rank's device; it must support IPC when `peers` is not empty.
Status createCudaIpcTransport(const TransportContext& ctx, const std::vector<int>& peers,
                              std::unique_ptr<Transport>* out);

// What the communicator knows of one rank when choosing transports.
struct CudaIpcRankFacts {
  bool sameHostAsOther = false;
  std::string deviceKind;
  bool deviceSupportsIpc = false;
  bool autoTransport = true;  // MIXCCL_TRANSPORT unset or auto
  bool ipcEnabled = true;     // MIXCCL_CUDA_IPC not 0
};
// True when the pair (a, b) should use cuda_ipc: both cuda ranks on one host whose devices share
// memory, neither forcing another transport nor disabling cuda_ipc. Other pairs keep shm (staged
// through host memory) or the network transports.
bool cudaIpcServesPair(const CudaIpcRankFacts& a, const CudaIpcRankFacts& b);

}  // namespace mixccl
