// The Link of the ucx and ofi transports: ordered messages to and from one peer, cut into tagged
// fragments (see fabric.h) and posted on the transport's FabricEngine. Several fragments of the
// oldest message are in flight at once: up to kFabricWindow straight from/into user memory, or
// kFabricStagingWindow through the link's own staging buffers when the bytes must be read from a
// source or consumed by a sink (reductions). Staging buffers and operation slots are allocated once
// per link, never per message.
#pragma once

#include <array>
#include <memory>
#include <vector>

#include "backends/transports/fabric/fabric.h"
#include "backends/transports/transfer_queue.h"
#include "backends/transports/transport.h"

namespace mixccl {

constexpr size_t kFabricWindow = 16;
constexpr size_t kFabricStagingWindow = 4;

class FabricLink final : public Link {
 public:
  FabricLink(FabricEngine* engine, int rank, int peer) : engine_(engine), rank_(rank), peer_(peer) {}

  int peer() const override { return peer_; }
  std::unique_ptr<Transfer> send(MessageSource source) override;
  std::unique_ptr<Transfer> recv(MessageSink sink) override;

  // Used by the transfers (one unit with the link).
  struct Direction {
    TransferQueue queue;
    std::array<FabricOp, kFabricWindow> ops;
    std::array<std::vector<unsigned char>, kFabricStagingWindow> staging;
    uint64_t nextMessage = 0;
  };
  void pump(bool* moved);
  Direction& sends() { return sends_; }
  Direction& recvs() { return recvs_; }
  FabricEngine* engine() const { return engine_; }
  // Cancels every posted operation of one direction (its transfer was abandoned midway).
  void cancelPosted(Direction& d);

 private:
  void pumpSends(bool* moved);
  void pumpRecvs(bool* moved);
  void failBoth(const Status& cause);

  FabricEngine* engine_;
  int rank_;
  int peer_;
  Direction sends_;
  Direction recvs_;
};

}  // namespace mixccl
