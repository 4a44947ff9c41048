// C entry points for communicators: ids, init, split, teardown, queries, custom operators, groups.
#include <algorithm>
#include <cstddef>
#include <cstring>
#include <thread>
#include <vector>

#include "backends/devices/device.h"
#include "core/api_util.h"
#include "core/config.h"
#include "core/async_init.h"
#include "core/bootstrap.h"
#include "core/env.h"
#include "core/group.h"
#include "core/log.h"
#include "core/unique_id.h"

using namespace mixccl;

namespace {

Status checkConfig(const mixcclConfig_t* config) {
  if (config == nullptr) return Status::ok();
  if (config->magic != MIXCCL_CONFIG_MAGIC || config->size < offsetof(mixcclConfig_t, deviceOrdinal) + sizeof(int)) {
    return errorStatus(mixcclInvalidArgument,
                       "config was not initialized with MIXCCL_CONFIG_INITIALIZER (magic or size is wrong)");
  }
  if (config->blocking != MIXCCL_CONFIG_UNDEF_INT && config->blocking != 0 && config->blocking != 1) {
    return errorStatus(mixcclInvalidArgument, "config.blocking is %d; it must be 0 or 1", config->blocking);
  }
  if (config->timeoutSeconds != MIXCCL_CONFIG_UNDEF_INT && config->timeoutSeconds <= 0) {
    return errorStatus(mixcclInvalidArgument, "config.timeoutSeconds is %d; it must be positive", config->timeoutSeconds);
  }
  if (config->deviceOrdinal != MIXCCL_CONFIG_UNDEF_INT && config->deviceOrdinal < 0) {
    return errorStatus(mixcclInvalidArgument, "config.deviceOrdinal is %d; it must be >= 0", config->deviceOrdinal);
  }
  return Status::ok();
}

Status makeUniqueId(mixcclUniqueId* out) {
  UniqueIdContents uid;
  bool fromEnv = false;
  MIXCCL_CHECK(uniqueIdFromEnvironment(&fromEnv, &uid));
  if (!fromEnv) {
    net::Address bind, listening;
    std::string ifname;
    MIXCCL_CHECK(net::chooseBindAddress(&bind, &ifname));
    MIXCCL_CHECK(randomBytes(uid.secret, sizeof(uid.secret)));
    MIXCCL_CHECK(startBootstrapRoot(bind, uid.secret, env::timeoutSeconds(), &listening));
    uid.root = toWire(listening);
    MIXCCL_INFO("unique id: rendezvous on %s (interface %s)", listening.toString().c_str(), ifname.c_str());
  }
  std::memset(out->internal, 0, sizeof(out->internal));
  std::memcpy(out->internal, &uid, sizeof(uid));
  return Status::ok();
}

mixcclResult_t initRank(mixcclComm_t* out, int nranks, const mixcclUniqueId& id, int rank,
                        const mixcclConfig_t* config) {
  if (out == nullptr) return report(nullptr, errorStatus(mixcclInvalidArgument, "mixcclCommInitRank: comm is NULL"));
  *out = nullptr;
  if (nranks < 1) {
    return report(nullptr, errorStatus(mixcclInvalidArgument, "mixcclCommInitRank: nranks is %d; it must be >= 1", nranks));
  }
  if (rank < 0 || rank >= nranks) {
    return report(nullptr, errorStatus(mixcclInvalidArgument,
                                       "mixcclCommInitRank: rank %d is out of range for %d ranks (0..%d)", rank, nranks,
                                       nranks - 1));
  }
  Status st = checkConfig(config);
  if (!st.isOk()) return report(nullptr, st.withContext("mixcclCommInitRankConfig: "));
  auto* comm = new mixcclComm;
  bool inProgress = false;
  st = buildCommunicator(comm, nranks, id, rank, config, &inProgress);
  if (inProgress) {
    *out = comm;  // non-blocking: the caller polls mixcclCommGetAsyncError
    return mixcclInProgress;
  }
  if (!st.isOk()) {
    mixcclResult_t code = report(nullptr, st.withContext(strFormat("init of rank %d of %d failed: ", rank, nranks)));
    interruptCommunicator(comm);
    destroyCommunicator(comm);
    return code;
  }
  *out = comm;
  return mixcclSuccess;
}

struct SplitEntry {
  int32_t color;
  int32_t key;
  int32_t rank;
};

Status splitComm(mixcclComm* comm, int color, int key, mixcclComm_t* newcomm, const mixcclConfig_t* config,
                 bool* inProgress) {
  ActiveOp active(comm);
  int n = comm->nranks;
  std::vector<SplitEntry> entries(static_cast<size_t>(n));
  entries[static_cast<size_t>(comm->rank)] = {color, key, comm->rank};
  MIXCCL_CHECK(comm->bootstrap->allGather(entries.data(), sizeof(SplitEntry)).withContext("split: "));
  std::vector<SplitEntry> members;
  for (const auto& e : entries) {
    if (e.color == color && color != MIXCCL_SPLIT_NOCOLOR) members.push_back(e);
  }
  std::sort(members.begin(), members.end(), [](const SplitEntry& a, const SplitEntry& b) {
    return a.key != b.key ? a.key < b.key : a.rank < b.rank;
  });
  // The first member of each new communicator hosts its rendezvous and hands out the id.
  bool leader = !members.empty() && members[0].rank == comm->rank;
  std::vector<mixcclUniqueId> ids(static_cast<size_t>(n));
  std::memset(ids.data(), 0, ids.size() * sizeof(mixcclUniqueId));
  Status idStatus;
  if (leader) idStatus = makeUniqueId(&ids[static_cast<size_t>(comm->rank)]);
  // Still take part in the exchange on failure, so that the other ranks are not left waiting.
  MIXCCL_CHECK(comm->bootstrap->allGather(ids.data(), sizeof(mixcclUniqueId)).withContext("split: "));
  MIXCCL_CHECK(idStatus);
  if (color == MIXCCL_SPLIT_NOCOLOR) {
    *newcomm = nullptr;
    return Status::ok();
  }
  int newRank = 0;
  while (members[static_cast<size_t>(newRank)].rank != comm->rank) ++newRank;
  mixcclConfig_t inherited = copyConfig(config);
  if (inherited.deviceKind == nullptr) inherited.deviceKind = comm->device->kind();
  if (inherited.deviceOrdinal == MIXCCL_CONFIG_UNDEF_INT) inherited.deviceOrdinal = comm->device->ordinal();
  if (inherited.timeoutSeconds == MIXCCL_CONFIG_UNDEF_INT) inherited.timeoutSeconds = comm->timeoutSeconds;
  if (inherited.blocking == MIXCCL_CONFIG_UNDEF_INT) inherited.blocking = comm->blocking ? 1 : 0;
  if (config == nullptr || configAlgorithms(config) == nullptr) {
    inherited.algorithms = comm->algorithms.empty() ? nullptr : comm->algorithms.c_str();
  }
  auto* child = new mixcclComm;
  Status st = buildCommunicator(child, static_cast<int>(members.size()), ids[static_cast<size_t>(members[0].rank)],
                                newRank, &inherited, inProgress);
  if (!st.isOk()) {
    interruptCommunicator(child);
    destroyCommunicator(child);
    return st.withContext(strFormat("split (color %d): ", color));
  }
  *newcomm = child;
  return Status::ok();
}

}  // namespace

MIXCCL_API mixcclResult_t mixcclGetUniqueId(mixcclUniqueId* uniqueId) {
  if (uniqueId == nullptr) return report(nullptr, errorStatus(mixcclInvalidArgument, "mixcclGetUniqueId: uniqueId is NULL"));
  return report(nullptr, makeUniqueId(uniqueId).withContext("mixcclGetUniqueId: "));
}

MIXCCL_API mixcclResult_t mixcclCommInitRank(mixcclComm_t* comm, int nranks, mixcclUniqueId commId, int rank) {
  return initRank(comm, nranks, commId, rank, nullptr);
}

MIXCCL_API mixcclResult_t mixcclCommInitRankConfig(mixcclComm_t* comm, int nranks, mixcclUniqueId commId, int rank,
                                                   mixcclConfig_t* config) {
  return initRank(comm, nranks, commId, rank, config);
}

MIXCCL_API mixcclResult_t mixcclCommInitAll(mixcclComm_t* comms, int ndev, const int* devlist) {
  if (comms == nullptr) return report(nullptr, errorStatus(mixcclInvalidArgument, "mixcclCommInitAll: comms is NULL"));
  if (ndev < 1) return report(nullptr, errorStatus(mixcclInvalidArgument, "mixcclCommInitAll: ndev is %d; it must be >= 1", ndev));
  if (devlist != nullptr) {
    for (int i = 0; i < ndev; ++i) {
      if (devlist[i] < 0) {
        return report(nullptr, errorStatus(mixcclInvalidArgument, "mixcclCommInitAll: devlist[%d] is %d", i, devlist[i]));
      }
    }
  }
  mixcclUniqueId id;
  mixcclResult_t rc = mixcclGetUniqueId(&id);
  if (rc != mixcclSuccess) return rc;
  std::vector<mixcclResult_t> results(static_cast<size_t>(ndev), mixcclSuccess);
  std::vector<std::string> errors(static_cast<size_t>(ndev));
  std::vector<std::thread> threads;
  for (int i = 0; i < ndev; ++i) {
    threads.emplace_back([&, i] {
      mixcclConfig_t config = MIXCCL_CONFIG_INITIALIZER;
      config.deviceOrdinal = devlist != nullptr ? devlist[i] : i;
      results[static_cast<size_t>(i)] = mixcclCommInitRankConfig(&comms[i], ndev, id, i, &config);
      if (results[static_cast<size_t>(i)] != mixcclSuccess) errors[static_cast<size_t>(i)] = threadLastError();
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < ndev; ++i) {
    if (results[static_cast<size_t>(i)] == mixcclSuccess) continue;
    for (int j = 0; j < ndev; ++j) {
      if (comms[j] != nullptr) mixcclCommAbort(comms[j]);
      comms[j] = nullptr;
    }
    setThreadLastError(errors[static_cast<size_t>(i)]);
    return results[static_cast<size_t>(i)];
  }
  return mixcclSuccess;
}

MIXCCL_API mixcclResult_t mixcclCommSplit(mixcclComm_t comm, int color, int key, mixcclComm_t* newcomm,
                                          mixcclConfig_t* config) {
  Status st = checkComm(comm, "mixcclCommSplit");
  if (st.isOk() && newcomm == nullptr) st = errorStatus(mixcclInvalidArgument, "mixcclCommSplit: newcomm is NULL");
  if (st.isOk() && color < 0 && color != MIXCCL_SPLIT_NOCOLOR) {
    st = errorStatus(mixcclInvalidArgument, "mixcclCommSplit: color is %d; it must be >= 0 or MIXCCL_SPLIT_NOCOLOR",
                     color);
  }
  if (st.isOk()) st = checkConfig(config).withContext("mixcclCommSplit: ");
  bool inProgress = false;
  if (st.isOk()) st = splitComm(comm, color, key, newcomm, config, &inProgress);
  if (st.isOk() && inProgress) return mixcclInProgress;
  return report(comm, st);
}

MIXCCL_API mixcclResult_t mixcclCommFinalize(mixcclComm_t comm) {
  Status st = checkComm(comm, "mixcclCommFinalize");
  if (!st.isOk()) return report(nullptr, st);
  // Calls are host-synchronous: finalizing means waiting for other threads' calls to leave.
  if (!waitForActiveOps(comm, comm->timeoutSeconds)) {
    return report(comm, errorStatus(mixcclSystemError, "mixcclCommFinalize: operations still running after %d s",
                                    comm->timeoutSeconds));
  }
  return mixcclSuccess;
}

MIXCCL_API mixcclResult_t mixcclCommDestroy(mixcclComm_t comm) {
  if (comm == nullptr) return mixcclSuccess;
  if (comm->magic != mixcclComm::kMagic) {
    return report(nullptr, errorStatus(mixcclInvalidArgument, "mixcclCommDestroy: comm is not a live communicator"));
  }
  joinCommunicatorBuild(comm);
  destroyCommunicator(comm);
  return mixcclSuccess;
}

MIXCCL_API mixcclResult_t mixcclCommAbort(mixcclComm_t comm) {
  if (comm == nullptr) return mixcclSuccess;
  if (comm->magic != mixcclComm::kMagic) {
    return report(nullptr, errorStatus(mixcclInvalidArgument, "mixcclCommAbort: comm is not a live communicator"));
  }
  // A non-blocking build still running sees the flag within a poll slice and ends.
  comm->aborted.store(true, std::memory_order_release);
  joinCommunicatorBuild(comm);
  interruptCommunicator(comm);
  destroyCommunicator(comm);
  return mixcclSuccess;
}

MIXCCL_API mixcclResult_t mixcclCommGetAsyncError(mixcclComm_t comm, mixcclResult_t* asyncError) {
  if (comm == nullptr || comm->magic != mixcclComm::kMagic) {
    return report(nullptr, errorStatus(mixcclInvalidArgument, "mixcclCommGetAsyncError: comm is not a live communicator"));
  }
  if (asyncError == nullptr) {
    return report(comm, errorStatus(mixcclInvalidArgument, "mixcclCommGetAsyncError: asyncError is NULL"));
  }
  *asyncError = static_cast<mixcclResult_t>(comm->asyncError.load());
  return mixcclSuccess;
}

MIXCCL_API mixcclResult_t mixcclCommCount(const mixcclComm_t comm, int* count) {
  Status st = checkComm(comm, "mixcclCommCount");
  if (!st.isOk()) return report(nullptr, st);
  if (count == nullptr) return report(comm, errorStatus(mixcclInvalidArgument, "mixcclCommCount: count is NULL"));
  *count = comm->nranks;
  return mixcclSuccess;
}

MIXCCL_API mixcclResult_t mixcclCommUserRank(const mixcclComm_t comm, int* rank) {
  Status st = checkComm(comm, "mixcclCommUserRank");
  if (!st.isOk()) return report(nullptr, st);
  if (rank == nullptr) return report(comm, errorStatus(mixcclInvalidArgument, "mixcclCommUserRank: rank is NULL"));
  *rank = comm->rank;
  return mixcclSuccess;
}

MIXCCL_API mixcclResult_t mixcclCommDevice(const mixcclComm_t comm, const char** kind, int* ordinal) {
  Status st = checkComm(comm, "mixcclCommDevice");
  if (!st.isOk()) return report(nullptr, st);
  if (kind == nullptr || ordinal == nullptr) {
    return report(comm, errorStatus(mixcclInvalidArgument, "mixcclCommDevice: kind and ordinal must not be NULL"));
  }
  *kind = comm->device->kind();
  *ordinal = comm->device->ordinal();
  return mixcclSuccess;
}

MIXCCL_API mixcclResult_t mixcclRedOpCreatePreMulSum(mixcclRedOp_t* op, void* scalar, mixcclDataType_t datatype,
                                                     mixcclScalarResidence_t residence, mixcclComm_t comm) {
  Status st = checkComm(comm, "mixcclRedOpCreatePreMulSum");
  if (st.isOk() && op == nullptr) st = errorStatus(mixcclInvalidArgument, "mixcclRedOpCreatePreMulSum: op is NULL");
  if (st.isOk() && scalar == nullptr) st = errorStatus(mixcclInvalidArgument, "mixcclRedOpCreatePreMulSum: scalar is NULL");
  if (st.isOk() && (rawEnumValue(datatype) < 0 || rawEnumValue(datatype) >= mixcclNumTypes)) {
    st = errorStatus(mixcclInvalidArgument, "mixcclRedOpCreatePreMulSum: datatype %d is not a mixcclDataType_t",
                     rawEnumValue(datatype));
  }
  if (st.isOk() && rawEnumValue(residence) != mixcclScalarDevice && rawEnumValue(residence) != mixcclScalarHostImmediate) {
    st = errorStatus(mixcclInvalidArgument, "mixcclRedOpCreatePreMulSum: residence %d is not a mixcclScalarResidence_t",
                     rawEnumValue(residence));
  }
  if (!st.isOk()) return report(comm != nullptr && comm->magic == mixcclComm::kMagic ? comm : nullptr, st);
  PreMulSumOp entry;
  entry.type = datatype;
  if (residence == mixcclScalarHostImmediate) {
    const auto* p = static_cast<const unsigned char*>(scalar);
    entry.scalar.assign(p, p + dataTypeSize(datatype));
  } else {
    entry.deviceScalar = scalar;
  }
  std::lock_guard<std::mutex> lock(comm->redOpMutex);
  if (comm->nextRedOp == mixcclMaxRedOp) {
    return report(comm, errorStatus(mixcclInvalidUsage, "mixcclRedOpCreatePreMulSum: no operator numbers left"));
  }
  int id = comm->nextRedOp++;
  comm->redOps[id] = std::move(entry);
  *op = static_cast<mixcclRedOp_t>(id);
  return mixcclSuccess;
}

MIXCCL_API mixcclResult_t mixcclRedOpDestroy(mixcclRedOp_t op, mixcclComm_t comm) {
  Status st = checkComm(comm, "mixcclRedOpDestroy");
  if (!st.isOk()) return report(nullptr, st);
  int raw = rawEnumValue(op);
  if (raw < mixcclNumOps) {
    return report(comm, errorStatus(mixcclInvalidArgument, "mixcclRedOpDestroy: operator %d is built in and cannot be "
                                    "destroyed", raw));
  }
  std::lock_guard<std::mutex> lock(comm->redOpMutex);
  if (comm->redOps.erase(raw) == 0) {
    return report(comm, errorStatus(mixcclInvalidArgument, "mixcclRedOpDestroy: operator %d was not created on this "
                                    "communicator (or was destroyed already)", raw));
  }
  return mixcclSuccess;
}

MIXCCL_API mixcclResult_t mixcclGroupStart(void) { return report(nullptr, groupStart()); }
MIXCCL_API mixcclResult_t mixcclGroupEnd(void) { return report(nullptr, groupEnd()); }
