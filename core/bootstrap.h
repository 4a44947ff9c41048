// Bootstrap: how the ranks of a new communicator find each other.
//
// 1. A rendezvous ("root") listens at the address in the unique id. Each rank connects, presents
//    the id's secret, its rank and the address of its own bootstrap listener. Connections without
//    the secret are refused and logged. When all nranks ranks have arrived, the root sends each the
//    table of listener addresses and a fresh random communicator nonce; if some never arrive within
//    MIXCCL_TIMEOUT, it tells the others which ranks are missing.
// 2. Each rank connects to the next rank's listener (again presenting the secret), forming a ring
//    that carries the small exchanges of setup (BootstrapNet::allGather, barrier).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "core/bootstrap_net.h"
#include "core/net.h"
#include "core/unique_id.h"

namespace mixccl {

// Starts a rendezvous for one communicator on `bindAddr` (port 0: any) in a background thread that
// ends when the communicator has formed or the timeout passed. *listening receives its address.
Status startBootstrapRoot(const net::Address& bindAddr, const uint8_t secret[16], int timeoutSeconds,
                          net::Address* listening);

class SocketBootstrap final : public BootstrapNet {
 public:
  // Joins the communicator described by `id` as `rank` of `nranks` (blocking, bounded by timeout).
  static Status create(const UniqueIdContents& id, int nranks, int rank, int timeoutSeconds,
                       const std::atomic<bool>* aborted, std::unique_ptr<SocketBootstrap>* out);
  ~SocketBootstrap() override;

  int rank() const override { return rank_; }
  int nranks() const override { return nranks_; }
  Status allGather(void* data, size_t bytesPerRank) override;
  Status barrier() override;

  uint64_t commNonce() const { return nonce_; }
  // The local address other ranks reach this one at (host part only, e.g. "127.0.0.1").
  const std::string& localHost() const { return localHost_; }

 private:
  SocketBootstrap() = default;
  Status connectRing(const UniqueIdContents& id, const net::Address& nextAddr, int listenFd);
  // Accepts connections until the previous rank presents the secret; strangers are refused.
  Status acceptRingPeer(int listenFd, const uint8_t secret[16], int prev, const Deadline& deadline);

  int rank_ = 0;
  int nranks_ = 1;
  int timeoutSeconds_ = 300;
  uint64_t nonce_ = 0;
  std::string localHost_;
  const std::atomic<bool>* aborted_ = nullptr;
  int nextFd_ = -1;  // to rank+1
  int prevFd_ = -1;  // from rank-1
};

}  // namespace mixccl
