#include "core/group.h"

#include <thread>
#include <utility>
#include <vector>

#include "core/comm.h"

namespace mixccl {
namespace {

struct GroupState {
  int depth = 0;
  // Per communicator, in the order each was first used, its operations in the order posted.
  std::vector<std::pair<mixcclComm*, std::vector<Op>>> queued;
};

thread_local GroupState tlsGroup;

}  // namespace

bool inGroup() { return tlsGroup.depth > 0; }

void enqueueInGroup(mixcclComm* comm, const Op& op) {
  for (auto& [c, ops] : tlsGroup.queued) {
    if (c == comm) {
      ops.push_back(op);
      return;
    }
  }
  tlsGroup.queued.push_back({comm, {op}});
}

Status groupStart() {
  ++tlsGroup.depth;
  return Status::ok();
}

Status groupTakeQueued(std::vector<std::pair<mixcclComm*, std::vector<Op>>>* queued) {
  queued->clear();
  if (tlsGroup.depth == 0) {
    return errorStatus(mixcclInvalidUsage, "mixcclGroupSimulateEnd called without a matching mixcclGroupStart");
  }
  if (--tlsGroup.depth > 0) return Status::ok();
  *queued = std::move(tlsGroup.queued);
  tlsGroup.queued.clear();
  return Status::ok();
}

Status groupEnd() {
  if (tlsGroup.depth == 0) {
    return errorStatus(mixcclInvalidUsage, "mixcclGroupEnd called without a matching mixcclGroupStart");
  }
  if (--tlsGroup.depth > 0) return Status::ok();
  auto queued = std::move(tlsGroup.queued);
  tlsGroup.queued.clear();
  if (queued.empty()) return Status::ok();
  if (queued.size() == 1) return runOps(queued[0].first, queued[0].second);

  // Several communicators (e.g. all ranks of mixcclCommInitAll driven from one thread): each must
  // progress independently or they would wait on each other, so each gets a thread of its own.
  std::vector<Status> results(queued.size());
  std::vector<std::thread> threads;
  for (size_t i = 1; i < queued.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = runOps(queued[i].first, queued[i].second); });
  }
  results[0] = runOps(queued[0].first, queued[0].second);
  for (auto& t : threads) t.join();
  for (auto& r : results) {
    if (!r.isOk()) return r;
  }
  return Status::ok();
}

}  // namespace mixccl
