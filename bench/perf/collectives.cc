#include "bench/perf/collectives.h"

#include <algorithm>
#include <stdexcept>

namespace mixcclperf {

namespace {

const CollectiveInfo kCollectives[] = {
    {Collective::AllReduce, "all_reduce", true, false, false},
    {Collective::AllGather, "all_gather", false, false, true},
    {Collective::ReduceScatter, "reduce_scatter", true, false, true},
    {Collective::Broadcast, "broadcast", false, true, false},
    {Collective::Reduce, "reduce", true, true, false},
    {Collective::AlltoAll, "alltoall", false, false, true},
    {Collective::Gather, "gather", false, true, true},
    {Collective::Scatter, "scatter", false, true, true},
    {Collective::SendRecv, "sendrecv", false, false, false},
};

}  // namespace

const CollectiveInfo& collectiveInfo(Collective c) {
  for (const auto& info : kCollectives)
    if (info.kind == c) return info;
  throw std::invalid_argument("mixccl-perf: unknown collective");
}

bool isKnownCollective(const std::string& name) {
  return std::any_of(std::begin(kCollectives), std::end(kCollectives),
                     [&](const CollectiveInfo& i) { return name == i.name; });
}

Collective collectiveFromName(const std::string& name) {
  for (const auto& info : kCollectives)
    if (name == info.name) return info.kind;
  throw std::invalid_argument("mixccl-perf: unknown collective '" + name + "'");
}

std::string collectiveNamesForHelp() {
  std::string names;
  for (const auto& info : kCollectives) names += (names.empty() ? "" : ", ") + std::string(info.name);
  return names;
}

double busBandwidthFactor(Collective c, int nranks) {
  const double n = nranks;
  switch (c) {
    case Collective::AllReduce: return 2 * (n - 1) / n;
    case Collective::AllGather:
    case Collective::ReduceScatter:
    case Collective::AlltoAll:
    case Collective::Gather:
    case Collective::Scatter: return (n - 1) / n;
    case Collective::Broadcast:
    case Collective::Reduce:
    case Collective::SendRecv: return 1;
  }
  return 1;
}

Shape shapeFor(Collective c, size_t bytes, size_t elementBytes, int nranks, int rank) {
  Shape s;
  const size_t n = static_cast<size_t>(nranks);
  const size_t r = static_cast<size_t>(rank);
  if (!collectiveInfo(c).blocked) {
    s.count = s.sendCount = s.recvCount = s.totalCount = std::max<size_t>(1, bytes / elementBytes);
    return s;
  }
  const size_t block = std::max<size_t>(1, bytes / elementBytes / n);
  s.count = block;
  s.totalCount = block * n;
  switch (c) {
    case Collective::AllGather:
    case Collective::Gather:
      s.sendCount = block;
      s.recvCount = s.totalCount;
      s.inPlaceSendOffset = r * block;
      break;
    case Collective::ReduceScatter:
    case Collective::Scatter:
      s.sendCount = s.totalCount;
      s.recvCount = block;
      s.inPlaceRecvOffset = r * block;
      break;
    default:  // alltoall: every rank sends and receives nranks blocks
      s.sendCount = s.recvCount = s.totalCount;
      break;
  }
  return s;
}

mixcclResult_t runCollective(Collective c, const void* sendbuff, void* recvbuff, const Shape& shape,
                             mixcclDataType_t type, mixcclRedOp_t op, int root, mixcclComm_t comm,
                             const char** failedCall) {
  mixcclResult_t r = mixcclSuccess;
  switch (c) {
    case Collective::AllReduce:
      *failedCall = "mixcclAllReduce";
      return mixcclAllReduce(sendbuff, recvbuff, shape.count, type, op, comm, nullptr);
    case Collective::AllGather:
      *failedCall = "mixcclAllGather";
      return mixcclAllGather(sendbuff, recvbuff, shape.count, type, comm, nullptr);
    case Collective::ReduceScatter:
      *failedCall = "mixcclReduceScatter";
      return mixcclReduceScatter(sendbuff, recvbuff, shape.count, type, op, comm, nullptr);
    case Collective::Broadcast:
      *failedCall = "mixcclBroadcast";
      return mixcclBroadcast(sendbuff, recvbuff, shape.count, type, root, comm, nullptr);
    case Collective::Reduce:
      *failedCall = "mixcclReduce";
      return mixcclReduce(sendbuff, recvbuff, shape.count, type, op, root, comm, nullptr);
    case Collective::AlltoAll:
      *failedCall = "mixcclAlltoAll";
      return mixcclAlltoAll(sendbuff, recvbuff, shape.count, type, comm, nullptr);
    case Collective::Gather:
      *failedCall = "mixcclGather";
      return mixcclGather(sendbuff, recvbuff, shape.count, type, root, comm, nullptr);
    case Collective::Scatter:
      *failedCall = "mixcclScatter";
      return mixcclScatter(sendbuff, recvbuff, shape.count, type, root, comm, nullptr);
    case Collective::SendRecv: {
      // Each rank sends to the next and receives from the previous: a ring shift inside one group.
      int rank = 0, nranks = 1;
      if ((r = mixcclCommUserRank(comm, &rank)) != mixcclSuccess) return (*failedCall = "mixcclCommUserRank", r);
      if ((r = mixcclCommCount(comm, &nranks)) != mixcclSuccess) return (*failedCall = "mixcclCommCount", r);
      if ((r = mixcclGroupStart()) != mixcclSuccess) return (*failedCall = "mixcclGroupStart", r);
      mixcclResult_t sendResult = mixcclSend(sendbuff, shape.count, type, (rank + 1) % nranks, comm, nullptr);
      mixcclResult_t recvResult = sendResult == mixcclSuccess
          ? mixcclRecv(recvbuff, shape.count, type, (rank + nranks - 1) % nranks, comm, nullptr)
          : mixcclSuccess;
      r = mixcclGroupEnd();  // always close the group, even when queuing failed
      if (sendResult != mixcclSuccess) return (*failedCall = "mixcclSend", sendResult);
      if (recvResult != mixcclSuccess) return (*failedCall = "mixcclRecv", recvResult);
      *failedCall = "mixcclGroupEnd";
      return r;
    }
  }
  return r;
}

}  // namespace mixcclperf
