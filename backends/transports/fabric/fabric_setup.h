// The setup both fabric transports (ucx, ofi) run, as one template over their engine and address
// card: check the peer list, open the engine (only when this rank has peers on it), publish every
// rank's address through the bootstrap, connect to each peer, prove membership with the hello, and
// agree on the outcome, so that a failure on any rank fails setup on every rank together.
//
// Engine: Status init(); Status localAddress(Card*); Status connect(int peer, const Card&).
// Card: trivially copyable, with `uint8_t ok` and an integer `length` (0: no address published).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backends/transports/fabric/fabric_transport.h"
#include "backends/transports/setup_agreement.h"
#include "backends/transports/transport.h"
#include "core/log.h"

namespace mixccl {

// The words setup uses for one transport in its errors and logs.
struct FabricSetupWords {
  const char* transport;  // "ucx": the MIXCCL_TRANSPORT name
  const char* library;    // "UCX": what failed to open, for the user
  const char* addresses;  // "worker addresses": what the ranks exchange
};

// open(Engine*) opens the engine for this rank; describe(Engine*, int firstPeer) says what was
// opened, for the MIXCCL_DEBUG=INFO line.
template <class Engine, class Card, class Open, class Describe>
Status setUpFabricTransport(const TransportContext& ctx, const std::vector<int>& peers, const FabricSetupWords& words,
                            std::unique_ptr<Engine> engine, Open open, Describe describe,
                            std::unique_ptr<Transport>* out) {
  std::vector<Card> cards(static_cast<size_t>(ctx.nranks));
  Card& mine = cards[static_cast<size_t>(ctx.rank)];
  Status local = checkFabricPeers(ctx, peers, words.transport);
  if (local.isOk()) local = engine->init();
  // Ranks without peers on this transport still take part in every collective step, but open nothing.
  if (local.isOk() && !peers.empty()) local = open(engine.get());
  if (local.isOk() && !peers.empty()) local = engine->localAddress(&mine);
  mine.ok = local.isOk() ? 1 : 0;
  Status gathered = ctx.bootstrap->allGather(cards.data(), sizeof(Card));
  MIXCCL_CHECK(local);
  MIXCCL_CHECK(gathered.withContext(strFormat("%s transport: exchanging %s: ", words.transport, words.addresses)));
  for (int r = 0; r < ctx.nranks; ++r) {
    if (!cards[static_cast<size_t>(r)].ok) {
      return errorStatus(mixcclRemoteError, "%s transport setup failed on rank %d while opening %s (its own log "
                         "says why)", words.transport, r, words.library);
    }
  }
  for (int p : peers) {
    if (!local.isOk()) break;
    if (cards[static_cast<size_t>(p)].length == 0) {
      local = errorStatus(mixcclInternalError, "%s transport: rank %d wants a %s connection to rank %d, which "
                          "did not open %s for it", words.transport, ctx.rank, words.transport, p, words.transport);
      break;
    }
    local = engine->connect(p, cards[static_cast<size_t>(p)]);
  }
  if (local.isOk() && !peers.empty()) local = exchangeHellos(engine.get(), ctx, peers);
  if (local.isOk() && !peers.empty()) {
    MIXCCL_INFO("%s transport: rank %d connected to %zu peers; %s", words.transport, ctx.rank, peers.size(),
                describe(engine.get(), peers.front()).c_str());
  }
  MIXCCL_CHECK(agreeOnSetup(ctx.bootstrap, local, words.transport, "connecting to their peers"));
  *out = std::make_unique<FabricTransport>(std::move(engine), ctx.rank, ctx.nranks, peers);
  return Status::ok();
}

}  // namespace mixccl
