#include "core/comm.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "backends/devices/device_factory.h"
#include "backends/transports/cuda_ipc/cuda_ipc_transport.h"
#include "core/comm_topology.h"
#include "core/config.h"
#include "core/env.h"
#include "core/host_cpus.h"
#include "core/log.h"
#include "core/op_history.h"
#include "core/shm_fastpath.h"
#include "core/tuner.h"
#include "core/peer_liveness.h"
#include "core/stream_proxy.h"
#include "topology/host_identity.h"
#include "topology/topology.h"

namespace mixccl {
namespace {

// How a rank wants to reach its peers; exchanged so that every rank decides every pair's transport
// the same way. `fabrics` says which fabric transports this rank could use between hosts in auto
// mode (built, and an RDMA device present, where their link class beats the socket's).
enum TransportPreference : int32_t { kPreferAuto = 0, kForceShm = 1, kForceSocket = 2, kForceUcx = 3, kForceOfi = 4 };
enum TransportKind : int { kShm = 0, kSocket = 1, kUcx = 2, kOfi = 3, kCudaIpc = 4, kTransportKinds = 5 };
constexpr const char* kTransportNames[kTransportKinds] = {"shm", "socket", "ucx", "ofi", "cuda_ipc"};
constexpr bool kBuiltWith[kTransportKinds] = {
    true, true,
#ifdef MIXCCL_HAVE_UCX
    true,
#else
    false,
#endif
#ifdef MIXCCL_HAVE_OFI
    true,
#else
    false,
#endif
    true,  // cuda_ipc: built always, used only between IPC-capable cuda devices (they come as a module)
};

struct InitInfo {
  PeerInfo peer;
  int32_t preference = kPreferAuto;
  int32_t fabrics = 0;  // bit k: transport kind k is usable between hosts in auto mode
  int32_t deviceFailed = 0;  // 1: this rank could not open its device (every rank then fails init)
  int32_t deviceIpc = 0;     // 1: its device shares memory with other processes and MIXCCL_CUDA_IPC is not 0
  CpuMask cpus;              // the CPUs this rank may run on
};

Status readPreference(int32_t* pref) {
  *pref = kPreferAuto;
  if (auto t = env::get("TRANSPORT")) {
    if (*t == "shm") *pref = kForceShm;
    else if (*t == "socket") *pref = kForceSocket;
    else if (*t == "ucx") *pref = kForceUcx;
    else if (*t == "ofi") *pref = kForceOfi;
    else if (*t == "auto") *pref = kPreferAuto;
    else
      return errorStatus(mixcclInvalidArgument, "MIXCCL_TRANSPORT=%s is not one of: auto, shm, socket, ucx, ofi",
                         t->c_str());
    if ((*pref == kForceUcx && !kBuiltWith[kUcx]) || (*pref == kForceOfi && !kBuiltWith[kOfi])) {
      return errorStatus(mixcclInvalidUsage, "MIXCCL_TRANSPORT=%s, but this build of mixccl has no %s transport (%s "
                         "was not found when it was built; see docs/transports.md)", t->c_str(), t->c_str(),
                         *pref == kForceUcx ? "UCX (libucx-dev)" : "libfabric (libfabric-dev)");
    }
  }
  if (*pref != kForceShm && *pref != kForceUcx && *pref != kForceOfi && env::getInt("SHM_DISABLE", 0, true) != 0)
    *pref = kForceSocket;
  return Status::ok();
}

// Which fabric transports this rank would use between hosts when nothing is forced: the cost
// model's link classes rate ucx/ofi above the socket only on RDMA networks, so they are candidates
// only where an RDMA device exists; among candidates the class with the best bandwidth wins.
int32_t autoFabrics() {
  bool rdma = false;
  if (DIR* d = opendir("/sys/class/infiniband")) {
    while (dirent* e = readdir(d)) rdma = rdma || e->d_name[0] != '.';
    closedir(d);
  }
  int32_t mask = 0;
  for (int k : {kUcx, kOfi}) {
    if (rdma && kBuiltWith[k] && defaultLinkClass(kTransportNames[k]).betaGBps >
                                     defaultLinkClass("socket").betaGBps) mask |= 1 << k;
  }
  return mask;
}

std::string rankList(const std::vector<int>& ranks) {
  std::string s;
  for (int r : ranks) s += (s.empty() ? "" : ",") + std::to_string(r);
  return s.empty() ? "-" : s;
}

Status connectTransports(mixcclComm* comm, const std::vector<InitInfo>& infos) {
  int n = comm->nranks;
  // The same rule on every rank gives symmetric peer sets. A forced fabric (ucx, ofi) or socket
  // serves every pair, on one host too; shm serves only pairs on one host.
  auto pairTransport = [&](int a, int b, Status* err) -> int {
    const InitInfo& ia = infos[static_cast<size_t>(a)];
    const InitInfo& ib = infos[static_cast<size_t>(b)];
    bool sameHost = ia.peer.hostId == ib.peer.hostId;
    auto fails = [&](Status s) {
      if (err && err->isOk()) *err = s;
    };
    // cuda ranks on one host exchange device-to-device (backends/transports/cuda_ipc); any other
    // pair on one host, cuda with cpu or emu included, is staged through host memory by shm.
    auto ipcFacts = [&](const InitInfo& i) {
      CudaIpcRankFacts f;
      f.sameHostAsOther = sameHost;
      f.deviceKind = i.peer.deviceKind;
      f.deviceSupportsIpc = i.deviceIpc != 0;
      f.autoTransport = i.preference == kPreferAuto;
      f.ipcEnabled = i.deviceIpc != 0;
      return f;
    };
    if (cudaIpcServesPair(ipcFacts(ia), ipcFacts(ib))) return kCudaIpc;
    for (int32_t fabric : {kForceUcx, kForceOfi}) {
      int32_t other = fabric == kForceUcx ? kForceOfi : kForceUcx;
      if (ia.preference != fabric && ib.preference != fabric) continue;
      if (ia.preference == other || ib.preference == other) {
        fails(errorStatus(mixcclInvalidUsage, "ranks %d and %d force different transports (MIXCCL_TRANSPORT=ucx on "
                          "one, ofi on the other); set the same value on every rank", a, b));
      }
      return fabric == kForceUcx ? kUcx : kOfi;
    }
    bool wantShm = ia.preference == kForceShm || ib.preference == kForceShm;
    bool wantSocket = ia.preference == kForceSocket || ib.preference == kForceSocket;
    if (wantShm && !sameHost) {
      fails(errorStatus(mixcclInvalidUsage,
                        "MIXCCL_TRANSPORT=shm, but ranks %d (%s) and %d (%s) are on different hosts: shared "
                        "memory cannot connect them", a, ia.peer.hostName, b, ib.peer.hostName));
    }
    if (sameHost && !wantSocket) return kShm;
    if (!wantSocket) {
      int best = kSocket;
      for (int k : {kUcx, kOfi}) {
        if ((ia.fabrics & ib.fabrics & (1 << k)) != 0 &&
            defaultLinkClass(kTransportNames[k]).betaGBps > defaultLinkClass(kTransportNames[best]).betaGBps)
          best = k;
      }
      return best;
    }
    return kSocket;
  };
  bool any[kTransportKinds] = {};
  Status err;
  for (int a = 0; a < n; ++a)
    for (int b = a + 1; b < n; ++b) any[pairTransport(a, b, &err)] = true;
  MIXCCL_CHECK(err);

  std::vector<int> peersOf[kTransportKinds];
  for (int p = 0; p < n; ++p) {
    if (p == comm->rank) continue;
    peersOf[pairTransport(comm->rank, p, nullptr)].push_back(p);
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
  ctx.device = comm->device.get();
  ctx.ranksOutnumberCpus = comm->ranksOutnumberCpus();

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
  using Create = Status (*)(const TransportContext&, const std::vector<int>&, std::unique_ptr<Transport>*);
  const Create creators[kTransportKinds] = {createShmTransport, createSocketTransport,
#ifdef MIXCCL_HAVE_UCX
                                            createUcxTransport,
#else
                                            nullptr,
#endif
#ifdef MIXCCL_HAVE_OFI
                                            createOfiTransport,
#else
                                            nullptr,
#endif
                                            createCudaIpcTransport,
  };
  for (int k = 0; k < kTransportKinds; ++k) {
    if (!any[k]) continue;
    if (creators[k] == nullptr) {
      return errorStatus(mixcclInvalidUsage, "another rank asks for the %s transport, which this build of mixccl "
                         "lacks; build every rank with the same libraries", kTransportNames[k]);
    }
    std::unique_ptr<Transport> t;
    MIXCCL_CHECK(creators[k](ctx, peersOf[k], &t).withContext(strFormat("connecting %s: ", kTransportNames[k])));
    attach(std::move(t), peersOf[k]);
  }
  for (int p = 0; p < n; ++p) {
    if (p != comm->rank && comm->links[static_cast<size_t>(p)] == nullptr)
      return errorStatus(mixcclInternalError, "no transport serves peer %d", p);
  }
  MIXCCL_INFO("%s rank %d/%d: shm peers [%s], socket peers [%s], ucx peers [%s], ofi peers [%s], cuda_ipc peers [%s]",
              comm->name.c_str(), comm->rank, n, rankList(peersOf[kShm]).c_str(), rankList(peersOf[kSocket]).c_str(),
              rankList(peersOf[kUcx]).c_str(), rankList(peersOf[kOfi]).c_str(), rankList(peersOf[kCudaIpc]).c_str());
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
  // Device: config.deviceKind/deviceOrdinal, else MIXCCL_DEVICE=kind[:ordinal], else cpu:0.
  DeviceSelection selection;
  if (auto d = env::get("DEVICE")) MIXCCL_CHECK(parseDeviceSpec(*d, &selection).withContext("MIXCCL_DEVICE: "));
  std::string kind = selection.kind;
  int ordinal = selection.ordinal;
  if (config != nullptr) {
    if (config->timeoutSeconds != MIXCCL_CONFIG_UNDEF_INT) comm->timeoutSeconds = config->timeoutSeconds;
    if (config->blocking != MIXCCL_CONFIG_UNDEF_INT) comm->blocking = config->blocking != 0;
    if (config->deviceKind != nullptr) kind = config->deviceKind;
    if (config->deviceOrdinal != MIXCCL_CONFIG_UNDEF_INT) ordinal = config->deviceOrdinal;
    if (config->commName != nullptr) comm->name = config->commName;
    if (configAlgorithms(config) != nullptr) comm->algorithms = configAlgorithms(config);
  }
  if (config != nullptr && config->deviceKind != nullptr && config->deviceOrdinal == MIXCCL_CONFIG_UNDEF_INT &&
      kind != selection.kind) {
    ordinal = 0;  // the environment's ordinal belongs to the environment's kind
  }
  std::memcpy(comm->secret, uid.secret, 16);

  MIXCCL_CHECK(SocketBootstrap::create(uid, nranks, rank, comm->timeoutSeconds, &comm->aborted, &comm->bootstrap));
  uint64_t nonce = comm->bootstrap->commNonce();
  comm->commHash = hash64(&nonce, sizeof(nonce));
  if (comm->name.empty()) comm->name = strFormat("comm %016llx", static_cast<unsigned long long>(comm->commHash));
  comm->checkSignatures = env::getInt("CHECK", 0) != 0;
  comm->history = std::make_shared<OpHistory>(
      comm->name, rank, nranks, static_cast<size_t>(std::max<int64_t>(1, env::getInt("DIAG_OPS", OpHistory::kDefaultDepth))));
  registerHistory(comm->history);

  std::vector<InitInfo> infos(static_cast<size_t>(nranks));
  InitInfo& mine = infos[static_cast<size_t>(rank)];
  mine.peer.hostId = hostIdentity();
  mine.peer.pid = getpid();
  mine.cpus = currentCpuMask();
  std::snprintf(mine.peer.hostName, sizeof(mine.peer.hostName), "%s", hostName().c_str());
  MIXCCL_CHECK(readPreference(&mine.preference));
  // Non-cpu devices open before the exchange, so that a rank whose device fails tells the others
  // (they would otherwise wait for it until the timeout). The cpu backend opens after it: its thread
  // count depends on how many ranks share this host.
  Status deviceStatus;
  if (kind != "cpu") {
    deviceStatus = createDevice(kind, ordinal, 1, env::get("DEVICE_PLUGIN").value_or(""), &comm->device);
    mine.deviceFailed = deviceStatus.isOk() ? 0 : 1;
    mine.deviceIpc = deviceStatus.isOk() && comm->device->supportsIpc() && env::getInt("CUDA_IPC", 1) != 0 ? 1 : 0;
  }
  std::snprintf(mine.peer.deviceKind, sizeof(mine.peer.deviceKind), "%s", kind.c_str());
  mine.peer.deviceOrdinal = ordinal;
  mine.fabrics = mine.preference == kPreferAuto ? autoFabrics() : 0;
  MIXCCL_CHECK(comm->bootstrap->allGather(infos.data(), sizeof(InitInfo)).withContext("exchanging host info: "));
  for (int r = 0; r < nranks; ++r) {
    comm->peers.push_back(infos[static_cast<size_t>(r)].peer);
    if (infos[static_cast<size_t>(r)].peer.hostId == mine.peer.hostId) comm->localRanks.push_back(r);
  }
  {
    std::vector<CpuMask> masks;
    for (int r : comm->localRanks) masks.push_back(infos[static_cast<size_t>(r)].cpus);
    comm->hostCpus = cpusInUnion(masks);
  }
  comm->watchPid.assign(static_cast<size_t>(nranks), false);
  for (int r : comm->localRanks) {
    // Only a peer whose pid is visible here now can be watched (containers may share a host id).
    comm->watchPid[static_cast<size_t>(r)] = r != rank && processAlive(comm->peers[static_cast<size_t>(r)].pid);
  }
  MIXCCL_CHECK(deviceStatus.withContext(strFormat("rank %d opening device %s:%d: ", rank, kind.c_str(), ordinal)));
  for (int r = 0; r < nranks; ++r) {
    const InitInfo& other = infos[static_cast<size_t>(r)];
    if (other.deviceFailed != 0) {
      return errorStatus(mixcclInvalidUsage, "rank %d could not open its device %.31s:%d (its own error says why); no "
                         "rank can join this communicator", r, other.peer.deviceKind, other.peer.deviceOrdinal);
    }
  }
  if (kind == "cpu") {
    MIXCCL_CHECK(createDevice(kind, ordinal, cpuThreadsFor(static_cast<int>(comm->localRanks.size())), "",
                              &comm->device));
  }
  MIXCCL_INFO("%s rank %d/%d on %s pid %d, device %s:%d, %zu rank(s) on this host sharing %d CPU(s), timeout %d s",
              comm->name.c_str(), rank, nranks, mine.peer.hostName, mine.peer.pid, comm->device->kind(), ordinal,
              comm->localRanks.size(), comm->hostCpus, comm->timeoutSeconds);
  MIXCCL_CHECK(connectTransports(comm, infos));
  // Topology, link calibration and the tuner (a few ms; MIXCCL_CALIBRATE=0 or MIXCCL_TOPO_FILE skip the measuring).
  MIXCCL_CHECK(buildCommTopology(comm));
  {
    std::unique_ptr<ShmFastPath> fast;
    MIXCCL_CHECK(ShmFastPath::create(comm, &fast));
    if (fast) {
      comm->tuner->enableOneShotFastPath(fast->slotBytes());
      comm->fastPath = std::move(fast);
    }
  }
  // Nobody returns from init before every rank has connected everything.
  MIXCCL_CHECK(comm->bootstrap->barrier().withContext("final init barrier: "));
  return Status::ok();
}

void interruptCommunicator(mixcclComm* comm) {
  comm->aborted.store(true, std::memory_order_release);
  for (auto& t : comm->transports) t->interrupt();
  if (comm->fastPath) comm->fastPath->interrupt();
}

void destroyCommunicator(mixcclComm* comm) {
  {
    // Operations in flight observe the abort flag within a poll slice; wait for them to leave.
    if (!waitForActiveOps(comm, comm->timeoutSeconds + 5)) {
      MIXCCL_WARN("%s rank %d: %d operation(s) still running at destroy after %d s; leaking the communicator",
                  comm->name.c_str(), comm->rank, comm->activeOps.load(), comm->timeoutSeconds + 5);
      return;
    }
  }
  comm->proxy.reset();  // its queue is empty (its batches count as operations in flight): joins the thread
  if (comm->history) unregisterHistory(comm->history.get());
  comm->transports.clear();
  comm->fastPath.reset();
  comm->bootstrap.reset();
  comm->stagingBlocks.reset();
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
  comm_->activeOps.fetch_add(1, std::memory_order_acq_rel);  // no lock: this runs on every call
}

ActiveOp::~ActiveOp() {
  // Nobody waits (every call but those racing a destroy): the decrement is this call's last touch of
  // the communicator, with no lock (two lock round trips were a tenth of a 2-rank 8 B all-reduce). A
  // waiter registering meanwhile re-checks the count within a millisecond (waitForActiveOps).
  if (comm_->activeWaiters.load(std::memory_order_seq_cst) == 0) {
    comm_->activeOps.fetch_sub(1, std::memory_order_seq_cst);
    return;
  }
  // Someone waits: reach zero under the lock, so that the waiter cannot free the communicator before
  // this notify has released it.
  std::lock_guard<std::mutex> lock(comm_->activeMutex);
  if (comm_->activeOps.fetch_sub(1, std::memory_order_acq_rel) == 1) comm_->activeCv.notify_all();
}

bool waitForActiveOps(mixcclComm* comm, int seconds) {
  std::unique_lock<std::mutex> lock(comm->activeMutex);
  comm->activeWaiters.fetch_add(1, std::memory_order_seq_cst);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (comm->activeOps.load(std::memory_order_seq_cst) != 0 && std::chrono::steady_clock::now() < deadline) {
    comm->activeCv.wait_for(lock, std::chrono::milliseconds(1));
  }
  comm->activeWaiters.fetch_sub(1, std::memory_order_seq_cst);
  return comm->activeOps.load(std::memory_order_seq_cst) == 0;
}

}  // namespace mixccl
