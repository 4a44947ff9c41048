// MIXCCL_CHECK=1: before each collective the ranks compare what they were asked to do, so that a
// rank calling a different collective, count, type, operator or root gets mixcclInvalidUsage with
// a message that shows both sides, instead of a hang or a silently wrong result.
//
// The signatures travel over the bootstrap ring (an all-gather of 40 bytes per rank): slow, but
// only paid when checking is on. Every rank sees the same table, so every rank finds the same
// mismatch and all of them return the same error, in step. With MIXCCL_CHECK unset the cost is the
// one test of comm->checkSignatures.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/op.h"
#include "core/status.h"

struct mixcclComm;

namespace mixccl {

#pragma pack(push, 1)
struct OpSignature {
  uint64_t magic;
  uint64_t seq;
  uint64_t count;
  int32_t collective;
  int32_t type;
  int32_t redop;
  int32_t root;
};
#pragma pack(pop)

OpSignature signatureOf(const Op& op, uint64_t seq);
// "AllReduce #7 (count 1024, float32, sum)".
std::string describeSignature(const OpSignature& s);
// Compares every rank's signature table entry; the first disagreement (with the lowest rank that
// differs from rank 0's) becomes an InvalidUsage that names both ranks and both calls.
Status compareSignatures(const OpSignature* table, int nranks, int myRank);

// Exchanges this rank's signature with every other rank and compares them.
Status checkSignatures(mixcclComm* comm, const Op& op, uint64_t seq);

// The same for a group of sends and receives (MIXCCL_CHECK=1). Only the ranks named in the group
// take part, so the check runs over the group's own links, before the data, in two steps per peer:
// first how many sends and receives each side posted to the other, then (where those agree) the
// count and data type of each, the k-th send from a to b being compared with the k-th receive on b
// from a. Both sides see both lists, so both return the same mixcclInvalidUsage, naming both calls.
// A peer that posts nothing at all to this rank cannot answer: that wait ends at MIXCCL_TIMEOUT,
// naming the peer (docs/errors.md).
Status checkPointToPointSignatures(mixcclComm* comm, const std::vector<const Op*>& p2p);

}  // namespace mixccl
