#include "backends/transports/fabric/fabric_transport.h"

#include <chrono>
#include <cstring>

namespace mixccl {
namespace {

constexpr uint64_t kFabricHelloMagic = 0x6f6c6c6548626166ull;  // "fabHello" read little-endian

struct FabricHello {
  uint64_t magic;
  unsigned char secret[16];
  uint64_t commHash;
  int32_t rank;
  int32_t reserved;
};
static_assert(sizeof(FabricHello) == 40);

}  // namespace

FabricTransport::FabricTransport(std::unique_ptr<FabricEngine> engine, int rank, int nranks,
                                 const std::vector<int>& peers)
    : links_(static_cast<size_t>(nranks)), engine_(std::move(engine)) {
  for (int p : peers) links_[static_cast<size_t>(p)] = std::make_unique<FabricLink>(engine_.get(), rank, p);
}

FabricTransport::~FabricTransport() {
  // Operations of abandoned transfers may still be posted: cancel them and let the engine complete
  // them (briefly) while the links that own their slots still exist.
  bool pending = false;
  for (auto& l : links_) {
    if (!l) continue;
    l->cancelPosted(l->sends());
    l->cancelPosted(l->recvs());
  }
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  do {
    pending = false;
    for (auto& l : links_) {
      if (!l) continue;
      for (auto* d : {&l->sends(), &l->recvs()})
        for (const FabricOp& op : d->ops) pending = pending || (op.busy && !op.completed);
    }
    if (pending && !engine_->progress()) engine_->waitForActivity(1000 * 1000);
  } while (pending && std::chrono::steady_clock::now() < until);
  engine_.reset();
}

Status checkFabricPeers(const TransportContext& ctx, const std::vector<int>& peers, const char* transportName) {
  if (ctx.nranks > kFabricMaxRanks) {
    return errorStatus(mixcclInvalidUsage, "%s transport: %d ranks is more than the %d its message tags can name",
                       transportName, ctx.nranks, kFabricMaxRanks);
  }
  for (int p : peers) {
    if (p < 0 || p >= ctx.nranks || p == ctx.rank) {
      return errorStatus(mixcclInternalError, "%s transport: rank %d asked to serve peer %d of %d ranks",
                         transportName, ctx.rank, p, ctx.nranks);
    }
  }
  return Status::ok();
}

Status exchangeHellos(FabricEngine* engine, const TransportContext& ctx, const std::vector<int>& peers) {
  const size_t n = peers.size();
  FabricHello mine{};
  mine.magic = kFabricHelloMagic;
  std::memcpy(mine.secret, ctx.secret, sizeof(mine.secret));
  mine.commHash = ctx.commHash;
  mine.rank = ctx.rank;
  // One more byte than a hello, so that a longer message shows up as a wrong length.
  struct Slot {
    FabricHello hello;
    unsigned char extra[8];
  };
  std::vector<Slot> got(n);
  std::vector<FabricOp> recvOps(n), sendOps(n);
  Status failure;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(ctx.timeoutSeconds);
  // Posting retries while the engine's queue is full (mixcclInProgress).
  auto postUntilAccepted = [&](auto post) {
    for (;;) {
      Status s = post();
      if (s.code() != mixcclInProgress || std::chrono::steady_clock::now() >= deadline) return s;
      engine->progress();
    }
  };
  for (size_t i = 0; i < n && failure.isOk(); ++i) {
    recvOps[i].busy = true;
    failure = postUntilAccepted(
        [&] { return engine->postRecv(peers[i], helloTag(peers[i]), 0, &got[i], sizeof(Slot), &recvOps[i]); });
    if (!failure.isOk()) recvOps[i].busy = false;
  }
  for (size_t i = 0; i < n && failure.isOk(); ++i) {
    sendOps[i].busy = true;
    failure = postUntilAccepted(
        [&] { return engine->postSend(peers[i], helloTag(ctx.rank), &mine, sizeof(mine), &sendOps[i]); });
    if (!failure.isOk()) sendOps[i].busy = false;
  }
  auto allDone = [&] {
    for (size_t i = 0; i < n; ++i) {
      if ((recvOps[i].busy && !recvOps[i].completed) || (sendOps[i].busy && !sendOps[i].completed)) return false;
    }
    return true;
  };
  while (failure.isOk() && !allDone()) {
    if (ctx.aborted != nullptr && ctx.aborted->load(std::memory_order_acquire)) {
      failure = errorStatus(mixcclSystemError, "%s transport: rank %d was aborted while saying hello to its peers",
                            engine->name(), ctx.rank);
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      std::string missing;
      for (size_t i = 0; i < n; ++i) {
        if (!recvOps[i].completed) missing += (missing.empty() ? "" : ", ") + std::to_string(peers[i]);
      }
      failure = errorStatus(mixcclSystemError, "%s transport: rank %d got no hello from rank(s) %s within %d s "
                            "(MIXCCL_TIMEOUT); are they running, and can this host reach theirs?",
                            engine->name(), ctx.rank, missing.empty() ? "-" : missing.c_str(), ctx.timeoutSeconds);
      break;
    }
    if (!engine->progress()) engine->waitForActivity(100 * 1000 * 1000);
    for (size_t i = 0; i < n && failure.isOk(); ++i) {
      if (recvOps[i].completed && !recvOps[i].status.isOk()) failure = recvOps[i].status;
      if (sendOps[i].completed && !sendOps[i].status.isOk()) failure = sendOps[i].status;
    }
  }
  if (!failure.isOk()) {
    // Nothing may still write into this function's buffers once it returns.
    for (size_t i = 0; i < n; ++i) {
      if (recvOps[i].busy && !recvOps[i].completed) engine->cancel(&recvOps[i]);
      if (sendOps[i].busy && !sendOps[i].completed) engine->cancel(&sendOps[i]);
    }
    const auto drainUntil = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (!allDone() && std::chrono::steady_clock::now() < drainUntil) {
      if (!engine->progress()) engine->waitForActivity(10 * 1000 * 1000);
    }
    return failure;
  }
  for (size_t i = 0; i < n; ++i) {
    const FabricHello& h = got[i].hello;
    const int peer = peers[i];
    if (recvOps[i].truncated || recvOps[i].length != sizeof(FabricHello) || h.magic != kFabricHelloMagic) {
      return errorStatus(mixcclSystemError, "%s transport: rank %d's endpoint answered with something that is "
                         "not a mixccl hello (another program, or another version of mixccl?)",
                         engine->name(), peer);
    }
    if (std::memcmp(h.secret, ctx.secret, sizeof(h.secret)) != 0 || h.commHash != ctx.commHash) {
      return errorStatus(mixcclSystemError, "%s transport: the process at rank %d's endpoint does not hold this "
                         "communicator's secret (a stranger, or a rank of another job); refusing it",
                         engine->name(), peer);
    }
    if (h.rank != peer) {
      return errorStatus(mixcclSystemError, "%s transport: the endpoint published for rank %d belongs to rank %d",
                         engine->name(), peer, h.rank);
    }
  }
  return Status::ok();
}

}  // namespace mixccl
