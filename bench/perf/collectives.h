// The collectives mixccl-perf measures: how big their buffers are for a given size, how the in-place
// variant lays them out, the bus-bandwidth factor, and the mixccl call that runs one.
#pragma once

#include <cstddef>
#include <string>

#include "mixccl.h"

namespace mixcclperf {

enum class Collective { AllReduce, AllGather, ReduceScatter, Broadcast, Reduce, AlltoAll, Gather, Scatter, SendRecv };

struct CollectiveInfo {
  Collective kind;
  const char* name;  // as typed on the command line
  bool hasRedOp;
  bool hasRoot;
  // Whether the size is shared out in per-rank blocks (the larger buffer holds nranks blocks).
  bool blocked;
};

const CollectiveInfo& collectiveInfo(Collective c);
bool isKnownCollective(const std::string& name);
Collective collectiveFromName(const std::string& name);  // name must be known
std::string collectiveNamesForHelp();

// nccl-tests' correction from algorithm to bus bandwidth (doc/PERFORMANCE.md of nccl-tests).
double busBandwidthFactor(Collective c, int nranks);

// Buffer sizes, in elements, of one call at one size.
struct Shape {
  size_t count = 0;           // the count argument of the call
  size_t sendCount = 0;       // elements of this rank's send buffer
  size_t recvCount = 0;       // elements of this rank's receive buffer
  size_t totalCount = 0;      // elements of the larger buffer: the "count" column; size = totalCount * bytes
  // In-place: one buffer of max(sendCount, recvCount) elements; send and receive start at these offsets.
  size_t inPlaceSendOffset = 0;
  size_t inPlaceRecvOffset = 0;
};

// The shape for `bytes` (the requested size of the larger buffer). Sizes are rounded down to whole
// elements (and whole per-rank blocks), with at least one element per rank.
Shape shapeFor(Collective c, size_t bytes, size_t elementBytes, int nranks, int rank);

// Runs one call of c. On failure returns the result and sets *failedCall to the API function's name.
mixcclResult_t runCollective(Collective c, const void* sendbuff, void* recvbuff, const Shape& shape,
                             mixcclDataType_t type, mixcclRedOp_t op, int root, mixcclComm_t comm,
                             const char** failedCall);

}  // namespace mixcclperf
