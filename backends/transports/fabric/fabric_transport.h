// The Transport of the ucx and ofi transports: a FabricEngine plus one FabricLink per served peer,
// and the setup steps both share (checking the peer list, proving membership to each peer).
#pragma once

#include <memory>
#include <vector>

#include "backends/transports/fabric/fabric.h"
#include "backends/transports/fabric/fabric_link.h"
#include "backends/transports/transport.h"

namespace mixccl {

class FabricTransport final : public Transport {
 public:
  FabricTransport(std::unique_ptr<FabricEngine> engine, int rank, int nranks, const std::vector<int>& peers);
  // The engine goes first: closing it completes (cancelled) every posted operation, and those
  // completions write into the links' operation slots.
  ~FabricTransport() override;

  const char* name() const override { return engine_->name(); }
  Link* link(int peer) override {
    if (peer < 0 || static_cast<size_t>(peer) >= links_.size()) return nullptr;
    return links_[static_cast<size_t>(peer)].get();
  }
  void waitForActivity(uint64_t timeoutNs) override { engine_->waitForActivity(timeoutNs); }
  void interrupt() override { engine_->interrupt(); }

 private:
  std::vector<std::unique_ptr<FabricLink>> links_;  // by peer rank
  std::unique_ptr<FabricEngine> engine_;
};

// Why `peers` is not a valid peer list for this rank, or ok.
Status checkFabricPeers(const TransportContext& ctx, const std::vector<int>& peers, const char* transportName);

// Every rank sends each peer a hello carrying the communicator's secret and hash and its rank, and
// checks the hellos it receives: the engine addresses came through the authenticated bootstrap, and
// the hello proves that the process behind each endpoint holds the secret too. Waits at most the
// communicator's timeout; an abort ends the wait.
Status exchangeHellos(FabricEngine* engine, const TransportContext& ctx, const std::vector<int>& peers);

}  // namespace mixccl
