#include "algorithms/simulator.h"

#include <cstdint>

#include "algorithms/algorithm.h"
#include "algorithms/rendezvous_run.h"
#include "algorithms/symbolic_memory.h"

namespace mixccl {

namespace {

// "AllReduce (ring), 5 ranks, count 7, chunk 3, root 2, in place"
std::string describeOperation(const CollectiveArgs& a, const std::string& algorithm) {
  std::string text = std::string(collectiveName(a.collective)) + (algorithm.empty() ? "" : " (" + algorithm + ")") +
                     ", " + std::to_string(a.nranks) + " ranks, count " + std::to_string(a.count);
  if (a.chunkCount) text += ", chunk " + std::to_string(a.chunkCount);
  if (a.collective == Collective::Broadcast || a.collective == Collective::Reduce ||
      a.collective == Collective::Gather || a.collective == Collective::Scatter)
    text += ", root " + std::to_string(a.root);
  return text + (a.inPlace ? ", in place" : ", out of place");
}

// Symbolic cells index elements with 32 bits and name ranks with a 64-bit set.
std::string checkLimits(int nranks, size_t elements) {
  if (nranks < 1 || nranks > 64) return "the simulator handles 1 to 64 ranks, not " + std::to_string(nranks);
  if (elements >= (size_t{1} << 32)) return "the simulator handles buffers below 2^32 elements";
  return "";
}

}  // namespace

std::string simulateSchedules(const CollectiveArgs& proto, const std::vector<Schedule>& schedules) {
  const std::string algorithm = schedules.empty() ? "" : schedules[0].algorithm;
  const std::string context = describeOperation(proto, algorithm) + ": ";
  const size_t n = static_cast<size_t>(proto.nranks);
  if (std::string problem = checkLimits(proto.nranks, proto.count * n); !problem.empty()) return context + problem;
  if (schedules.size() != n)
    return context + std::to_string(schedules.size()) + " schedules given for " + std::to_string(n) + " ranks";
  if (proto.root < 0 || proto.root >= proto.nranks) return context + "root is not a rank";
  if (proto.collective == Collective::SendRecv) return context + "use simulateP2P for point-to-point groups";

  std::vector<sim::RankMemory> memory;
  memory.reserve(n);
  for (size_t r = 0; r < n; ++r) {
    CollectiveArgs args = proto;
    args.rank = static_cast<int>(r);
    memory.push_back(sim::collectiveMemory(args, schedules[r].scratchCount));
  }
  sim::RendezvousRun run(schedules, memory, sim::isReduction(proto.collective));
  if (std::string problem = run.run(); !problem.empty()) return context + problem;
  for (size_t r = 0; r < n; ++r) {
    CollectiveArgs args = proto;
    args.rank = static_cast<int>(r);
    if (std::string problem = sim::checkCollectiveResult(args, memory[r]); !problem.empty()) return context + problem;
  }
  return "";
}

std::string simulate(const CollectiveArgs& proto, ScheduleBuilder build) {
  std::vector<Schedule> schedules;
  if (proto.nranks >= 1 && proto.nranks <= 64) {
    for (int r = 0; r < proto.nranks; ++r) {
      CollectiveArgs args = proto;
      args.rank = r;
      schedules.push_back(build(args));
    }
  }
  return simulateSchedules(proto, schedules);
}

std::string simulateP2PSchedules(const std::vector<std::vector<P2POp>>& ops, const std::vector<Schedule>& schedules) {
  const int n = static_cast<int>(ops.size());
  const std::string context = "point-to-point group over " + std::to_string(n) + " ranks: ";
  size_t largest = 0;
  for (const auto& rankOps : ops)
    for (const P2POp& op : rankOps) largest = std::max(largest, std::max(op.count, rankOps.size()));
  if (std::string problem = checkLimits(n, largest); !problem.empty()) return context + problem;
  if (schedules.size() != ops.size())
    return context + std::to_string(schedules.size()) + " schedules given for " + std::to_string(n) + " ranks";
  for (int r = 0; r < n; ++r)
    for (const P2POp& op : ops[static_cast<size_t>(r)])
      if (op.peer < 0 || op.peer >= n)
        return context + "rank " + std::to_string(r) + " names peer " + std::to_string(op.peer) + ", which is not a rank";

  std::vector<sim::RankMemory> memory;
  memory.reserve(ops.size());
  for (int r = 0; r < n; ++r)
    memory.push_back(sim::p2pMemory(r, ops[static_cast<size_t>(r)], schedules[static_cast<size_t>(r)].scratchCount));
  sim::RendezvousRun run(schedules, memory, false);
  if (std::string problem = run.run(); !problem.empty()) return context + problem;
  for (int r = 0; r < n; ++r)
    if (std::string problem = sim::checkP2PResult(r, ops, memory[static_cast<size_t>(r)]); !problem.empty())
      return context + problem;
  return "";
}

std::string simulateP2P(const std::vector<std::vector<P2POp>>& ops) {
  std::vector<Schedule> schedules;
  for (const auto& rankOps : ops) schedules.push_back(buildP2PSchedule(rankOps));
  return simulateP2PSchedules(ops, schedules);
}

}  // namespace mixccl
