#include "core/async_init.h"

#include <string>

#include "core/env.h"
#include "core/config.h"
#include "core/log.h"

namespace mixccl {

bool wantsNonBlocking(const mixcclConfig_t* config) {
  if (config != nullptr && config->blocking != MIXCCL_CONFIG_UNDEF_INT) return config->blocking == 0;
  return env::getInt("COMM_BLOCKING", 1, true) == 0;
}

Status buildCommunicator(mixcclComm* comm, int nranks, const mixcclUniqueId& id, int rank,
                         const mixcclConfig_t* config, bool* inProgress) {
  *inProgress = false;
  if (!wantsNonBlocking(config)) return initCommunicator(comm, nranks, id, rank, config);

  // The caller's config (and the name it points to) need not outlive this call: keep copies.
  mixcclConfig_t copy = copyConfig(config);
  std::string name = copy.commName != nullptr ? copy.commName : "";
  std::string kind = copy.deviceKind != nullptr ? copy.deviceKind : "";
  std::string algorithms = configAlgorithms(&copy) != nullptr ? configAlgorithms(&copy) : "";
  comm->blocking = false;
  comm->asyncError.store(mixcclInProgress, std::memory_order_release);
  comm->initPending.store(true, std::memory_order_release);
  comm->initThread = std::thread([comm, nranks, id, rank, copy, name, kind, algorithms]() mutable {
    copy.commName = name.empty() ? nullptr : name.c_str();
    copy.deviceKind = kind.empty() ? nullptr : kind.c_str();
    copy.algorithms = algorithms.empty() ? nullptr : algorithms.c_str();
    Status st = initCommunicator(comm, nranks, id, rank, &copy);
    if (!st.isOk()) {
      std::string msg = strFormat("non-blocking init of rank %d of %d failed: %s", rank, nranks, st.message().c_str());
      // After mixcclCommAbort the failure is what the caller asked for: no warning.
      if (comm->aborted.load(std::memory_order_acquire)) MIXCCL_INFO("%s", msg.c_str());
      else MIXCCL_WARN("%s", msg.c_str());
      std::lock_guard<std::mutex> lock(comm->errorMutex);
      comm->lastError = msg;
      comm->fatalError = msg;
      comm->hasFatalError.store(true, std::memory_order_release);
    } else {
      MIXCCL_INFO("%s rank %d/%d: non-blocking init done", comm->name.c_str(), rank, nranks);
    }
    // asyncError first: whoever sees initPending false must also see the outcome.
    comm->asyncError.store(st.code(), std::memory_order_release);
    comm->initPending.store(false, std::memory_order_release);
  });
  *inProgress = true;
  return Status::ok();
}

void joinCommunicatorBuild(mixcclComm* comm) {
  if (comm->initThread.joinable()) comm->initThread.join();
}

}  // namespace mixccl
