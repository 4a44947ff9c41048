// The socket transport: one TCP connection per peer pair, for ranks on any hosts. Setup: every
// rank listens and publishes its address through the bootstrap; the lower rank of each pair
// connects and proves membership with the communicator's secret; the higher one accepts.
#include <poll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <memory>
#include <vector>

#include "backends/transports/setup_agreement.h"
#include "backends/transports/socket/socket_link.h"
#include "backends/transports/socket/socket_setup.h"
#include "backends/transports/socket/socket_util.h"
#include "backends/transports/socket/socket_wire.h"
#include "backends/transports/transport.h"
#include "core/log.h"

namespace mixccl {
namespace {

class SocketTransport final : public Transport {
 public:
  explicit SocketTransport(int nranks) : links_(static_cast<size_t>(nranks)) {}

  const char* name() const override { return "socket"; }

  Link* link(int peer) override {
    if (peer < 0 || static_cast<size_t>(peer) >= links_.size()) return nullptr;
    return links_[static_cast<size_t>(peer)].get();
  }

  Status init() {
    wakeFd_ = UniqueFd(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!wakeFd_.valid()) return systemErrorStatus("socket transport: cannot create an eventfd");
    return Status::ok();
  }

  void addLink(int peer, UniqueFd fd) {
    links_[static_cast<size_t>(peer)] = std::make_unique<SocketLink>(peer, std::move(fd));
  }

  void waitForActivity(uint64_t timeoutNs) override {
    // poll() is level-triggered, so nothing that happened since the progress sweep is missed: data
    // that arrived is still readable, and an interrupt stays pending in the eventfd until read here.
    pollfds_.clear();
    pollfds_.push_back({wakeFd_.get(), POLLIN, 0});
    for (auto& l : links_) {
      if (!l) continue;
      short events = l->wantedEvents();
      if (events != 0) pollfds_.push_back({l->fd(), events, 0});
    }
    timespec ts;
    ts.tv_sec = static_cast<time_t>(timeoutNs / 1000000000ull);
    ts.tv_nsec = static_cast<long>(timeoutNs % 1000000000ull);
    int n = ppoll(pollfds_.data(), pollfds_.size(), &ts, nullptr);
    if (n > 0 && pollfds_[0].revents != 0) {
      uint64_t count = 0;
      ssize_t ignored = read(wakeFd_.get(), &count, sizeof(count));
      (void)ignored;
    }
  }

  void interrupt() override {
    uint64_t one = 1;
    ssize_t ignored = write(wakeFd_.get(), &one, sizeof(one));
    (void)ignored;  // a full counter (never in practice) still leaves the fd readable
  }

 private:
  std::vector<std::unique_ptr<SocketLink>> links_;  // by peer rank
  UniqueFd wakeFd_;
  std::vector<pollfd> pollfds_;
};

Status checkPeers(const TransportContext& ctx, const std::vector<int>& peers) {
  for (int p : peers) {
    if (p < 0 || p >= ctx.nranks || p == ctx.rank) {
      return errorStatus(mixcclInternalError, "socket transport: rank %d asked to serve peer %d of %d ranks",
                         ctx.rank, p, ctx.nranks);
    }
  }
  return Status::ok();
}

// Connects to the higher peers, accepts the lower ones, then collects the higher ones' replies
// (connecting never waits for an accept, so no rank waits on a rank that waits on it).
Status connectAll(const TransportContext& ctx, const std::vector<int>& peers, int listenFd,
                  const std::vector<SocketAddressCard>& cards, SocketTransport* transport) {
  SetupDeadline deadline{SetupClock::now() + std::chrono::seconds(ctx.timeoutSeconds), ctx.aborted,
                         ctx.timeoutSeconds};
  std::map<int, UniqueFd> connected;
  std::vector<int> lower;
  for (int peer : peers) {
    const SocketAddressCard& card = cards[static_cast<size_t>(peer)];
    if (!card.listening) {
      return errorStatus(mixcclInternalError, "socket transport: rank %d wants a connection to rank %d, "
                         "which does not use the socket transport for it", ctx.rank, peer);
    }
    if (peer < ctx.rank) {
      lower.push_back(peer);
      continue;
    }
    MIXCCL_CHECK(connectToPeer(ctx, peer, card.address, deadline, &connected[peer]));
  }
  const std::string listenText = formatAddress(cards[static_cast<size_t>(ctx.rank)].address);
  MIXCCL_CHECK(acceptPeers(ctx, listenFd, listenText, lower, deadline, &connected));
  for (auto& [peer, fd] : connected) {
    if (peer > ctx.rank) MIXCCL_CHECK(readHelloReply(ctx, peer, fd.get(), deadline));
  }
  for (auto& [peer, fd] : connected) {
    tuneDataSocket(fd.get());
    transport->addLink(peer, std::move(fd));
  }
  return Status::ok();
}

}  // namespace

Status createSocketTransport(const TransportContext& ctx, const std::vector<int>& peers,
                             std::unique_ptr<Transport>* out) {
  auto transport = std::make_unique<SocketTransport>(ctx.nranks);
  UniqueFd listenFd;
  std::vector<SocketAddressCard> cards(static_cast<size_t>(ctx.nranks));
  SocketAddressCard& mine = cards[static_cast<size_t>(ctx.rank)];
  Status local = checkPeers(ctx, peers);
  if (local.isOk()) local = transport->init();
  if (local.isOk() && !peers.empty()) {
    local = listenOn(ctx.bindAddress, &listenFd, &mine.address);
    mine.listening = local.isOk() ? 1 : 0;
  }
  mine.ok = local.isOk() ? 1 : 0;
  Status gathered = ctx.bootstrap->allGather(cards.data(), sizeof(SocketAddressCard));
  MIXCCL_CHECK(local);
  MIXCCL_CHECK(gathered.withContext("socket transport: exchanging listening addresses: "));
  for (int r = 0; r < ctx.nranks; ++r) {
    if (!cards[static_cast<size_t>(r)].ok) {
      return errorStatus(mixcclRemoteError, "socket transport setup failed on rank %d while it was starting to "
                         "listen (its own log says why)", r);
    }
  }
  if (!peers.empty()) {
    MIXCCL_INFO("socket transport: rank %d listening at %s for %zu peers", ctx.rank,
                formatAddress(mine.address).c_str(), peers.size());
  }

  local = peers.empty() ? Status::ok() : connectAll(ctx, peers, listenFd.get(), cards, transport.get());
  MIXCCL_CHECK(agreeOnSetup(ctx.bootstrap, local, "socket", "connecting to their peers"));
  *out = std::move(transport);
  return Status::ok();
}

}  // namespace mixccl
