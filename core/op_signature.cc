#include "core/op_signature.h"

#include <vector>

#include "backends/devices/device.h"
#include "core/comm.h"

namespace mixccl {
namespace {

constexpr uint64_t kSignatureMagic = 0x4b434843434d5831ull;  // "1XMCCHCK"

bool usesRedop(int32_t c) {
  auto col = static_cast<Collective>(c);
  return col == Collective::AllReduce || col == Collective::Reduce || col == Collective::ReduceScatter;
}

bool usesRoot(int32_t c) {
  auto col = static_cast<Collective>(c);
  return col == Collective::Broadcast || col == Collective::Reduce || col == Collective::Gather ||
         col == Collective::Scatter;
}

const char* redopText(int32_t op) {
  switch (op) {
    case mixcclSum: return "sum";
    case mixcclProd: return "prod";
    case mixcclMax: return "max";
    case mixcclMin: return "min";
    case mixcclAvg: return "avg";
    default: return nullptr;
  }
}

// Fields a collective does not use (the root of an all-reduce) must not cause a mismatch.
bool sameCall(const OpSignature& a, const OpSignature& b) {
  if (a.magic != b.magic || a.seq != b.seq || a.collective != b.collective || a.count != b.count || a.type != b.type)
    return false;
  if (usesRedop(a.collective) && a.redop != b.redop) return false;
  if (usesRoot(a.collective) && a.root != b.root) return false;
  return true;
}

}  // namespace

OpSignature signatureOf(const Op& op, uint64_t seq) {
  OpSignature s{};
  s.magic = kSignatureMagic;
  s.seq = seq;
  s.count = op.count;
  s.collective = static_cast<int32_t>(op.collective);
  s.type = static_cast<int32_t>(op.type);
  s.redop = static_cast<int32_t>(op.redop);
  s.root = op.root;
  return s;
}

std::string describeSignature(const OpSignature& s) {
  if (s.magic != kSignatureMagic) return "(no valid signature)";
  auto col = static_cast<Collective>(s.collective);
  std::string text = strFormat("%s #%llu (count %llu, %s", collectiveName(col), static_cast<unsigned long long>(s.seq),
                               static_cast<unsigned long long>(s.count),
                               dataTypeName(static_cast<mixcclDataType_t>(s.type)));
  if (usesRedop(s.collective)) {
    const char* name = redopText(s.redop);
    text += name != nullptr ? strFormat(", %s", name) : strFormat(", custom op %d", s.redop);
  }
  if (usesRoot(s.collective)) text += strFormat(", root %d", s.root);
  return text + ")";
}

Status compareSignatures(const OpSignature* table, int nranks, int myRank) {
  for (int r = 1; r < nranks; ++r) {
    if (sameCall(table[0], table[r])) continue;
    return errorStatus(mixcclInvalidUsage,
                       "MIXCCL_CHECK: the ranks called different collectives: rank 0 called %s but rank %d called "
                       "%s (this is rank %d, which called %s); every rank must make the same collective calls "
                       "in the same order with the same count, type, operator and root",
                       describeSignature(table[0]).c_str(), r, describeSignature(table[r]).c_str(), myRank,
                       describeSignature(table[myRank]).c_str());
  }
  return Status::ok();
}

Status checkSignatures(mixcclComm* comm, const Op& op, uint64_t seq) {
  if (comm->nranks == 1 || !comm->bootstrap) return Status::ok();
  std::vector<OpSignature> table(static_cast<size_t>(comm->nranks));
  table[static_cast<size_t>(comm->rank)] = signatureOf(op, seq);
  MIXCCL_CHECK(comm->bootstrap->allGather(table.data(), sizeof(OpSignature))
                   .withContext(strFormat("MIXCCL_CHECK: exchanging the signature of %s: ",
                                          describeSignature(table[static_cast<size_t>(comm->rank)]).c_str())));
  return compareSignatures(table.data(), comm->nranks, comm->rank);
}

}  // namespace mixccl
