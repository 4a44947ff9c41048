// Communicator lifecycle beyond init/split: shrink (a new communicator without some ranks), revoke
// (stop everything, keep the handle), and init from several unique ids.
#include <algorithm>
#include <cstring>
#include <vector>

#include "core/api_util.h"
#include "core/config.h"
#include "core/async_init.h"
#include "core/log.h"
#include "core/op.h"
#include "core/unique_id.h"

using namespace mixccl;

namespace {

Status checkExcludeList(const mixcclComm* comm, const int* excludeRanks, int excludeCount, std::vector<bool>* excluded) {
  int n = comm->nranks;
  if (excludeCount < 0 || excludeCount >= n) {
    return errorStatus(mixcclInvalidArgument, "mixcclCommShrink: excludeCount is %d; it must be 0..%d (at least one "
                       "rank must stay)", excludeCount, n - 1);
  }
  if (excludeCount > 0 && excludeRanks == nullptr) {
    return errorStatus(mixcclInvalidArgument, "mixcclCommShrink: excludeRanks is NULL but excludeCount is %d",
                       excludeCount);
  }
  excluded->assign(static_cast<size_t>(n), false);
  for (int i = 0; i < excludeCount; ++i) {
    int r = excludeRanks[i];
    if (r < 0 || r >= n) {
      return errorStatus(mixcclInvalidArgument, "mixcclCommShrink: excludeRanks[%d] is %d, out of range for %d ranks",
                         i, r, n);
    }
    if ((*excluded)[static_cast<size_t>(r)]) {
      return errorStatus(mixcclInvalidArgument, "mixcclCommShrink: rank %d is listed twice in excludeRanks", r);
    }
    (*excluded)[static_cast<size_t>(r)] = true;
  }
  if ((*excluded)[static_cast<size_t>(comm->rank)]) {
    return errorStatus(mixcclInvalidUsage, "mixcclCommShrink: rank %d is in excludeRanks; only the ranks that stay "
                       "call mixcclCommShrink", comm->rank);
  }
  return Status::ok();
}

// The new communicator's first rank makes a unique id and sends it to every other rank that stays,
// over the parent's own links (the excluded ranks are never contacted, so they may be gone).
Status shareNewId(mixcclComm* comm, const std::vector<int>& stay, mixcclUniqueId* id) {
  std::vector<Op> ops;
  if (stay[0] == comm->rank) {
    if (mixcclGetUniqueId(id) != mixcclSuccess) {
      return errorStatus(mixcclSystemError, "could not create the new communicator's id: %s", threadLastError());
    }
    for (size_t i = 1; i < stay.size(); ++i) {
      Op op;
      op.collective = Collective::SendRecv;
      op.type = mixcclUint8;
      op.count = sizeof(*id);
      op.sendbuf = id;
      op.peer = stay[i];
      op.isSend = true;
      ops.push_back(op);
    }
  } else {
    Op op;
    op.collective = Collective::SendRecv;
    op.type = mixcclUint8;
    op.count = sizeof(*id);
    op.recvbuf = id;
    op.peer = stay[0];
    op.isSend = false;
    ops.push_back(op);
  }
  if (ops.empty()) return Status::ok();
  return runOps(comm, ops);
}

}  // namespace

MIXCCL_API mixcclResult_t mixcclCommShrink(mixcclComm_t comm, const int* excludeRanks, int excludeCount,
                                           mixcclComm_t* newcomm, mixcclConfig_t* config, int flags) {
  Status st = checkComm(comm, "mixcclCommShrink");
  if (!st.isOk()) return report(nullptr, st);
  if (newcomm == nullptr) return report(comm, errorStatus(mixcclInvalidArgument, "mixcclCommShrink: newcomm is NULL"));
  *newcomm = nullptr;
  if (flags != MIXCCL_SHRINK_DEFAULT && flags != MIXCCL_SHRINK_ABORT) {
    return report(comm, errorStatus(mixcclInvalidArgument, "mixcclCommShrink: flags is %d; it must be "
                                    "MIXCCL_SHRINK_DEFAULT (0) or MIXCCL_SHRINK_ABORT (1)", flags));
  }
  if (config != nullptr && (config->magic != MIXCCL_CONFIG_MAGIC || config->size < offsetof(mixcclConfig_t, deviceOrdinal))) {
    return report(comm, errorStatus(mixcclInvalidArgument,
                                    "mixcclCommShrink: config was not initialized with MIXCCL_CONFIG_INITIALIZER"));
  }
  std::vector<bool> excluded;
  st = checkExcludeList(comm, excludeRanks, excludeCount, &excluded);
  if (!st.isOk()) return report(comm, st);
  {
    std::lock_guard<std::mutex> lock(comm->errorMutex);
    if (!comm->fatalError.empty()) {
      // The new id travels over the parent's links, which a communication failure has closed.
      st = errorStatus(mixcclInvalidUsage, "mixcclCommShrink: %s cannot be shrunk after a communication failure "
                       "(mixccl sends the new communicator's id over the parent's links); build a new communicator "
                       "from a fresh unique id instead. The failure was: %s", comm->name.c_str(),
                       comm->fatalError.c_str());
    }
  }
  if (!st.isOk()) return report(comm, st);

  std::vector<int> stay;
  for (int r = 0; r < comm->nranks; ++r) {
    if (!excluded[static_cast<size_t>(r)]) stay.push_back(r);
  }
  int newRank = static_cast<int>(std::find(stay.begin(), stay.end(), comm->rank) - stay.begin());
  mixcclUniqueId id;
  std::memset(&id, 0, sizeof(id));
  st = shareNewId(comm, stay, &id);
  if (!st.isOk()) return report(comm, st.withContext("mixcclCommShrink: "));

  mixcclConfig_t inherited = copyConfig(config);
  if (inherited.deviceKind == nullptr) inherited.deviceKind = comm->device->kind();
  if (inherited.deviceOrdinal == MIXCCL_CONFIG_UNDEF_INT) inherited.deviceOrdinal = comm->device->ordinal();
  if (inherited.timeoutSeconds == MIXCCL_CONFIG_UNDEF_INT) inherited.timeoutSeconds = comm->timeoutSeconds;
  if (inherited.blocking == MIXCCL_CONFIG_UNDEF_INT) inherited.blocking = comm->blocking ? 1 : 0;
  auto* child = new mixcclComm;
  bool inProgress = false;
  st = buildCommunicator(child, static_cast<int>(stay.size()), id, newRank, &inherited, &inProgress);
  if (!st.isOk()) {
    interruptCommunicator(child);
    destroyCommunicator(child);
    return report(comm, st.withContext(strFormat("mixcclCommShrink (rank %d -> %d of %zu): ", comm->rank, newRank,
                                                 stay.size())));
  }
  MIXCCL_INFO("%s rank %d: shrunk to rank %d of %zu (%d excluded)", comm->name.c_str(), comm->rank, newRank, stay.size(),
              excludeCount);
  *newcomm = child;
  return inProgress ? mixcclInProgress : mixcclSuccess;
}

MIXCCL_API mixcclResult_t mixcclCommRevoke(mixcclComm_t comm, int flags) {
  Status st = checkComm(comm, "mixcclCommRevoke");
  if (!st.isOk()) return report(nullptr, st);
  if (flags != 0) {
    return report(comm, errorStatus(mixcclInvalidArgument, "mixcclCommRevoke: flags is %d; it must be 0", flags));
  }
  MIXCCL_INFO("%s rank %d: revoked; operations in flight end with an error, new ones are refused", comm->name.c_str(),
              comm->rank);
  interruptCommunicator(comm);
  return mixcclSuccess;
}

MIXCCL_API mixcclResult_t mixcclCommInitRankScalable(mixcclComm_t* comm, int nranks, int rank, int nIds,
                                                     mixcclUniqueId* commIds, mixcclConfig_t* config) {
  if (comm != nullptr) *comm = nullptr;
  if (nIds < 1) {
    return report(nullptr, errorStatus(mixcclInvalidArgument, "mixcclCommInitRankScalable: nIds is %d; it must be >= 1",
                                       nIds));
  }
  if (commIds == nullptr) {
    return report(nullptr, errorStatus(mixcclInvalidArgument, "mixcclCommInitRankScalable: commIds is NULL"));
  }
  if (nranks >= 1 && nIds > nranks) {
    return report(nullptr, errorStatus(mixcclInvalidArgument, "mixcclCommInitRankScalable: %d ids for %d ranks; at "
                                       "most one id per rank", nIds, nranks));
  }
  for (int i = 0; i < nIds; ++i) {
    UniqueIdContents decoded;
    Status st = decodeUniqueId(commIds[i], &decoded);
    if (!st.isOk()) return report(nullptr, st.withContext(strFormat("mixcclCommInitRankScalable: commIds[%d]: ", i)));
  }
  if (nIds > 1) {
    MIXCCL_INFO("mixcclCommInitRankScalable: %d ids given; the rendezvous of commIds[0] serves all %d ranks", nIds,
                nranks);
  }
  return mixcclCommInitRankConfig(comm, nranks, commIds[0], rank, config);
}
