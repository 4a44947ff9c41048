#include "core/comm.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <thread>

#include "core/env.h"
#include "core/log.h"
#include "core/peer_liveness.h"
#include "topology/host_identity.h"

namespace mixccl {
namespace {

// How a rank wants to reach peers on its own host; exchanged so that every rank decides every
// pair's transport the same way.
enum TransportPreference : int32_t { kPreferAuto = 0, kForceShm = 1, kForceSocket = 2 };

struct InitInfo {
  PeerInfo peer;
  int32_t preference = kPreferAuto;
};

Status readPreference(int32_t* pref) {
  *pref = kPreferAuto;
  if (auto t = env::get("TRANSPORT")) {
    if (*t == "shm") *pref = kForceShm;
    else if (*t == "socket") *pref = kForceSocket;
    else
      return errorStatus(mixcclInvalidArgument, "MIXCCL_TRANSPORT=%s is not one of: shm, socket", t->c_str());
  }
  if (*pref != kForceShm && env::getInt("SHM_DISABLE", 0, true) != 0) *pref = kForceSocket;
  return Status::ok();
}

std::string rankList(const std::vector<int>& ranks) {
  std::string s;
  for (int r : ranks) s += (s.empty() ? "" : ",") + std::to_string(r);
  return s.empty() ? "-" : s;
}

Status connectTransports(mixcclComm* comm, const std::vector<InitInfo>& infos) {
  int n = comm->nranks;
  // use[a][b]: 1 = shm, 2 = socket. The same rule on every rank gives symmetric peer sets.
  auto pairUsesShm = [&](int a, int b, Status* err) {
    const InitInfo& ia = infos[static_cast<size_t>(a)];
    const InitInfo& ib = infos[static_cast<size_t>(b)];
    bool sameHost = ia.peer.hostId == ib.peer.hostId;
    bool wantShm = ia.preference == kForceShm || ib.preference == kForceShm;
    bool wantSocket = ia.preference == kForceSocket || ib.preference == kForceSocket;
    if (wantShm && !sameHost && err && err->isOk()) {
      *err = errorStatus(mixcclInvalidUsage,
                         "MIXCCL_TRANSPORT=shm, but ranks %d (%s) and %d (%s) are on different hosts: shared "
                         "memory cannot connect them", a, ia.peer.hostName, b, ib.peer.hostName);
    }
    return sameHost && !wantSocket;
  };
  bool anyShm = false, anySocket = false;
  Status err;
  for (int a = 0; a < n; ++a)
    for (int b = a + 1; b < n; ++b) (pairUsesShm(a, b, &err) ? anyShm : anySocket) = true;
  MIXCCL_CHECK(err);

  std::vector<int> shmPeers, socketPeers;
  for (int p = 0; p < n; ++p) {
    if (p == comm->rank) continue;
    (pairUsesShm(comm->rank, p, nullptr) ? shmPeers : socketPeers).push_back(p);
  }
  TransportContext ctx;
  ctx.bootstrap = comm->bootstrap.get();
  ctx.rank = comm->rank;
  ctx.nranks = n;
  ctx.commHash = comm->commHash;
  std::memcpy(ctx.secret, comm->secret, 16);
  ctx.timeoutSeconds = comm->timeoutSeconds;
  ctx.bindAddress = comm->bootstrap->localHost();
  ctx.aborted = &comm->aborted;

  comm->links.assign(static_cast<size_t>(n), nullptr);
  comm->linkOwner.assign(static_cast<size_t>(n), nullptr);
  auto attach = [&](std::unique_ptr<Transport> t, const std::vector<int>& peers) {
    for (int p : peers) {
      comm->links[static_cast<size_t>(p)] = t->link(p);
      comm->linkOwner[static_cast<size_t>(p)] = t.get();
    }
    comm->transports.push_back(std::move(t));
  };
  // Every rank creates the same transports in the same order (creation is collective).
  if (anyShm) {
    std::unique_ptr<Transport> t;
    MIXCCL_CHECK(createShmTransport(ctx, shmPeers, &t).withContext("connecting shared memory: "));
    attach(std::move(t), shmPeers);
  }
  if (anySocket) {
    std::unique_ptr<Transport> t;
    MIXCCL_CHECK(createSocketTransport(ctx, socketPeers, &t).withContext("connecting sockets: "));
    attach(std::move(t), socketPeers);
  }
  for (int p = 0; p < n; ++p) {
    if (p != comm->rank && comm->links[static_cast<size_t>(p)] == nullptr)
      return errorStatus(mixcclInternalError, "no transport serves peer %d", p);
  }
  MIXCCL_INFO("%s rank %d/%d: shm peers [%s], socket peers [%s]", comm->name.c_str(), comm->rank, n,
              rankList(shmPeers).c_str(), rankList(socketPeers).c_str());
  return Status::ok();
}

int cpuThreadsFor(int localRanks) {
  int64_t forced = env::getInt("CPU_THREADS", 0);
  if (forced > 0) return static_cast<int>(forced);
  int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::max(1, cores / std::max(1, localRanks));
}

}  // namespace

Status initCommunicator(mixcclComm* comm, int nranks, const mixcclUniqueId& id, int rank,
                        const mixcclConfig_t* config) {
  UniqueIdContents uid;
  MIXCCL_CHECK(decodeUniqueId(id, &uid));
  comm->rank = rank;
  comm->nranks = nranks;
  comm->timeoutSeconds = env::timeoutSeconds();
  std::string kind = "cpu";
  int ordinal = 0;
  if (config != nullptr) {
    if (config->timeoutSeconds != MIXCCL_CONFIG_UNDEF_INT) comm->timeoutSeconds = config->timeoutSeconds;
    if (config->blocking != MIXCCL_CONFIG_UNDEF_INT) comm->blocking = config->blocking != 0;
    if (config->deviceKind != nullptr) kind = config->deviceKind;
    if (config->deviceOrdinal != MIXCCL_CONFIG_UNDEF_INT) ordinal = config->deviceOrdinal;
    if (config->commName != nullptr) comm->name = config->commName;
  }
  if (kind != "cpu") {
    return errorStatus(mixcclInvalidArgument,
                       "device kind '%s' is not available in this build of mixccl (available: cpu)", kind.c_str());
  }
  std::memcpy(comm->secret, uid.secret, 16);

  MIXCCL_CHECK(SocketBootstrap::create(uid, nranks, rank, comm->timeoutSeconds, &comm->aborted, &comm->bootstrap));
  uint64_t nonce = comm->bootstrap->commNonce();
  comm->commHash = hash64(&nonce, sizeof(nonce));
  if (comm->name.empty()) comm->name = strFormat("comm %016llx", static_cast<unsigned long long>(comm->commHash));

  std::vector<InitInfo> infos(static_cast<size_t>(nranks));
  InitInfo& mine = infos[static_cast<size_t>(rank)];
  mine.peer.hostId = hostIdentity();
  mine.peer.pid = getpid();
  std::snprintf(mine.peer.hostName, sizeof(mine.peer.hostName), "%s", hostName().c_str());
  MIXCCL_CHECK(readPreference(&mine.preference));
  MIXCCL_CHECK(comm->bootstrap->allGather(infos.data(), sizeof(InitInfo)).withContext("exchanging host info: "));
  for (int r = 0; r < nranks; ++r) {
    comm->peers.push_back(infos[static_cast<size_t>(r)].peer);
    if (infos[static_cast<size_t>(r)].peer.hostId == mine.peer.hostId) comm->localRanks.push_back(r);
  }
  comm->watchPid.assign(static_cast<size_t>(nranks), false);
  for (int r : comm->localRanks) {
    // Only a peer whose pid is visible here now can be watched (containers may share a host id).
    comm->watchPid[static_cast<size_t>(r)] = r != rank && processAlive(comm->peers[static_cast<size_t>(r)].pid);
  }
  comm->device = createCpuDevice(ordinal, cpuThreadsFor(static_cast<int>(comm->localRanks.size())));
  MIXCCL_INFO("%s rank %d/%d on %s pid %d, device %s:%d, %zu rank(s) on this host, timeout %d s",
              comm->name.c_str(), rank, nranks, mine.peer.hostName, mine.peer.pid, comm->device->kind(), ordinal,
              comm->localRanks.size(), comm->timeoutSeconds);
  MIXCCL_CHECK(connectTransports(comm, infos));
  // Nobody returns from init before every rank has connected everything.
  MIXCCL_CHECK(comm->bootstrap->barrier().withContext("final init barrier: "));
  return Status::ok();
}

void interruptCommunicator(mixcclComm* comm) {
  comm->aborted.store(true, std::memory_order_release);
  for (auto& t : comm->transports) t->interrupt();
}

void destroyCommunicator(mixcclComm* comm) {
  {
    // Operations in flight observe the abort flag within a poll slice; wait for them to leave.
    std::unique_lock<std::mutex> lock(comm->activeMutex);
    comm->activeCv.wait_for(lock, std::chrono::seconds(comm->timeoutSeconds + 5),
                            [comm] { return comm->activeOps == 0; });
    if (comm->activeOps != 0) {
      MIXCCL_WARN("%s rank %d: %d operation(s) still running at destroy after %d s; leaking the communicator",
                  comm->name.c_str(), comm->rank, comm->activeOps, comm->timeoutSeconds + 5);
      return;
    }
  }
  comm->transports.clear();
  comm->bootstrap.reset();
  for (auto& s : comm->scratch) {
    if (s.ptr != nullptr && comm->device) comm->device->release(s.ptr);
    s = {};
  }
  comm->magic = 0;
  delete comm;
}

Status commScratch(mixcclComm* comm, int which, size_t bytes, void** ptr) {
  auto& s = comm->scratch[which];
  if (s.bytes < bytes) {
    // Grow geometrically so that a sweep of sizes does not reallocate every time.
    size_t want = std::max(bytes, s.bytes * 2);
    if (s.ptr != nullptr) comm->device->release(s.ptr);
    s = {};
    MIXCCL_CHECK(comm->device->allocate(want, &s.ptr).withContext("scratch buffer: "));
    s.bytes = want;
  }
  *ptr = s.ptr;
  return Status::ok();
}

ActiveOp::ActiveOp(mixcclComm* comm) : comm_(comm) {
  std::lock_guard<std::mutex> lock(comm_->activeMutex);
  ++comm_->activeOps;
}

ActiveOp::~ActiveOp() {
  std::lock_guard<std::mutex> lock(comm_->activeMutex);
  if (--comm_->activeOps == 0) comm_->activeCv.notify_all();
}

}  // namespace mixccl
