// mixcclGroupSimulateEnd: what the queued operations of a group would cost, from the communicator's
// cost model (topology/cost_model.h through the tuner), without running them.
#include <algorithm>
#include <utility>
#include <vector>

#include "backends/devices/device.h"
#include "core/api_util.h"
#include "core/group.h"
#include "core/tuner.h"

using namespace mixccl;

namespace {

// Point-to-point operations are not planned by the tuner: each costs one message over the link
// class that joins the two ranks (alpha + bytes / beta); the sends and receives of one rank run
// together, so the rank's time is its slowest message plus its share of moving all of them.
double pointToPointUs(mixcclComm* comm, const std::vector<const Op*>& ops) {
  const Topology& topo = comm->tuner->topology();
  double slowestAlpha = 0, transferUs = 0;
  for (const Op* op : ops) {
    if (op->peer == comm->rank) continue;
    const LinkClass& link = topo.link(comm->rank, op->peer);
    double bytes = static_cast<double>(op->count * dataTypeSize(op->type));
    slowestAlpha = std::max(slowestAlpha, link.alphaUs);
    if (link.betaGBps > 0) transferUs += bytes / (link.betaGBps * 1e3);  // GB/s = 1e3 bytes per us
  }
  return slowestAlpha + transferUs;
}

Status estimate(mixcclComm* comm, const std::vector<Op>& ops, double* us) {
  MIXCCL_CHECK(checkComm(comm, "mixcclGroupSimulateEnd"));
  if (!comm->tuner) return errorStatus(mixcclInternalError, "mixcclGroupSimulateEnd: %s has no cost model",
                                       comm->name.c_str());
  std::vector<const Op*> p2p;
  for (const Op& op : ops) {
    if (op.collective == Collective::SendRecv) {
      p2p.push_back(&op);
      continue;
    }
    AlgorithmChoice choice;
    MIXCCL_CHECK(chooseAlgorithm(comm, op.collective, op.count, op.type, &choice)
                     .withContext("mixcclGroupSimulateEnd: "));
    *us += choice.predictedUs;
  }
  if (!p2p.empty()) *us += pointToPointUs(comm, p2p);
  return Status::ok();
}

}  // namespace

MIXCCL_API mixcclResult_t mixcclGroupSimulateEnd(double* estimatedUs) {
  std::vector<std::pair<mixcclComm*, std::vector<Op>>> queued;
  Status st = groupTakeQueued(&queued);
  if (st.isOk() && estimatedUs == nullptr) {
    st = errorStatus(mixcclInvalidArgument, "mixcclGroupSimulateEnd: estimatedUs is NULL");
  }
  if (!st.isOk()) return report(nullptr, st);
  // Communicators of one group progress side by side (mixcclGroupEnd gives each a thread): the group
  // takes as long as its slowest communicator.
  double total = 0;
  for (auto& [comm, ops] : queued) {
    double us = 0;
    st = estimate(comm, ops, &us);
    if (!st.isOk()) return report(comm, st);
    total = std::max(total, us);
  }
  *estimatedUs = total;
  return mixcclSuccess;
}
