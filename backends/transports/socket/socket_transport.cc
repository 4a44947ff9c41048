// The socket transport: one or more TCP connections per peer pair (MIXCCL_NSOCKS), for ranks on
// any hosts. Setup: every rank listens and publishes its address and connection count through the
// bootstrap; the lower rank of each pair opens min(both counts) connections and proves membership
// with the communicator's secret on every one of them; the higher one accepts.
#include <poll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
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
#include "core/env.h"
#include "core/log.h"

namespace mixccl {
namespace {

// Measured on loopback: more connections gain nothing there (docs/transports.md, "The socket transport").
constexpr int kDefaultSocketsPerPeer = 1;

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

  void addLink(int peer, std::vector<UniqueFd> fds) {
    links_[static_cast<size_t>(peer)] = std::make_unique<SocketLink>(peer, std::move(fds));
  }

  void waitForActivity(uint64_t timeoutNs) override {
    // poll() is level-triggered, so nothing that happened since the progress sweep is missed: data
    // that arrived is still readable, and an interrupt stays pending in the eventfd until read here.
    pollfds_.clear();
    pollfds_.push_back({wakeFd_.get(), POLLIN, 0});
    for (auto& l : links_) {
      if (l) l->addPollFds(&pollfds_);  // capacity is kept between calls: no allocation once warm
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
  const int mine = cards[static_cast<size_t>(ctx.rank)].nsocks;
  // A card that says 0 (one filled in by hand, as the tests do) means one connection.
  auto lanesWith = [&](int peer) { return std::max(1, std::min<int>(mine, cards[static_cast<size_t>(peer)].nsocks)); };
  std::map<int, UniqueFd> connected;  // by socketConnectionKey(peer, lane)
  std::vector<int> lower;
  for (int peer : peers) {
    const SocketAddressCard& card = cards[static_cast<size_t>(peer)];
    if (!card.listening) {
      return errorStatus(mixcclInternalError, "socket transport: rank %d wants a connection to rank %d, "
                         "which does not use the socket transport for it", ctx.rank, peer);
    }
    for (int lane = 0; lane < lanesWith(peer); ++lane) {
      if (peer < ctx.rank) {
        lower.push_back(socketConnectionKey(peer, lane));
      } else {
        MIXCCL_CHECK(connectToPeer(ctx, peer, card.address, deadline,
                                   &connected[socketConnectionKey(peer, lane)], lane));
      }
    }
  }
  const std::string listenText = formatAddress(cards[static_cast<size_t>(ctx.rank)].address);
  MIXCCL_CHECK(acceptPeers(ctx, listenFd, listenText, lower, deadline, &connected));
  for (auto& [key, fd] : connected) {
    int peer = key / kMaxSocketLanes;
    if (peer > ctx.rank) MIXCCL_CHECK(readHelloReply(ctx, peer, fd.get(), deadline));
  }
  for (int peer : peers) {
    std::vector<UniqueFd> fds;
    for (int lane = 0; lane < lanesWith(peer); ++lane) {
      UniqueFd& fd = connected[socketConnectionKey(peer, lane)];
      tuneDataSocket(fd.get());
      fds.push_back(std::move(fd));
    }
    transport->addLink(peer, std::move(fds));
  }
  return Status::ok();
}

// Connections per peer: MIXCCL_NSOCKS, else NCCL's NCCL_NSOCKSPERTHREAD x NCCL_SOCKET_NTHREADS (mixccl
// has no helper threads: the engine's thread drives every connection), else the default.
Status socketsPerPeer(int* out) {
  int64_t n = kDefaultSocketsPerPeer;
  const char* from = "MIXCCL_NSOCKS";
  if (env::get("NSOCKS")) {
    n = env::getInt("NSOCKS", kDefaultSocketsPerPeer);
  } else if (env::get("NSOCKSPERTHREAD", true) || env::get("SOCKET_NTHREADS", true)) {
    n = env::getInt("NSOCKSPERTHREAD", 1, true) * env::getInt("SOCKET_NTHREADS", 1, true);
    from = "NCCL_NSOCKSPERTHREAD x NCCL_SOCKET_NTHREADS";
  }
  if (n < 1 || n > kMaxSocketLanes) {
    return errorStatus(mixcclInvalidArgument, "socket transport: %s asks for %lld connections per peer; it must "
                       "be 1 to %d", from, static_cast<long long>(n), kMaxSocketLanes);
  }
  *out = static_cast<int>(n);
  return Status::ok();
}

}  // namespace

Status createSocketTransport(const TransportContext& ctx, const std::vector<int>& peers,
                             std::unique_ptr<Transport>* out) {
  auto transport = std::make_unique<SocketTransport>(ctx.nranks);
  UniqueFd listenFd;
  std::vector<SocketAddressCard> cards(static_cast<size_t>(ctx.nranks));
  SocketAddressCard& mine = cards[static_cast<size_t>(ctx.rank)];
  int nsocks = 1;
  Status local = checkPeers(ctx, peers);
  if (local.isOk()) local = socketsPerPeer(&nsocks);
  mine.nsocks = static_cast<uint8_t>(nsocks);
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
    MIXCCL_INFO("socket transport: rank %d listening at %s for %zu peers, %d connection(s) per peer "
                "(MIXCCL_NSOCKS; a pair uses the smaller of its two ranks' counts)", ctx.rank,
                formatAddress(mine.address).c_str(), peers.size(), nsocks);
  }

  local = peers.empty() ? Status::ok() : connectAll(ctx, peers, listenFd.get(), cards, transport.get());
  MIXCCL_CHECK(agreeOnSetup(ctx.bootstrap, local, "socket", "connecting to their peers"));
  *out = std::move(transport);
  return Status::ok();
}

}  // namespace mixccl
