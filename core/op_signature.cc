#include "core/op_signature.h"

#include <vector>

#include "algorithms/algorithm.h"
#include "backends/devices/device.h"
#include "core/comm.h"
#include "core/engine.h"

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

namespace {

constexpr uint64_t kP2PMagic = 0x5032504b43484b31ull;  // "1KHCKP2P"

// What one rank posted to one peer in a group (step 1).
struct PairHeader {
  uint64_t magic;
  uint64_t collectivesBefore;  // comm->opCount: the groups of both sides follow the same collectives
  uint64_t sends;
  uint64_t recvs;
};

// One send or receive (step 2): its element count, type and place in the caller's group.
struct PairEntry {
  uint64_t count;
  int32_t type;
  int32_t position;
};

std::string describeEntry(const PairEntry& e) {
  return strFormat("count %llu, %s, call %d of its group", static_cast<unsigned long long>(e.count),
                   dataTypeName(static_cast<mixcclDataType_t>(e.type)), e.position + 1);
}

// Runs one round of host-memory messages: to each peer in `peers`, send sendBufs[i] and receive
// into recvBufs[i] (sizes in bytes). The engine moves them; host buffers are valid on every device.
Status exchange(mixcclComm* comm, const std::vector<int>& peers, const std::vector<std::pair<void*, size_t>>& sends,
                const std::vector<std::pair<void*, size_t>>& recvs, const char* what) {
  std::vector<P2POp> plan;
  ExecArgs exec;
  exec.type = mixcclUint8;
  exec.what = what;
  exec.buffers = {nullptr, nullptr, nullptr};
  for (size_t i = 0; i < peers.size(); ++i) {
    plan.push_back({true, peers[i], sends[i].second});
    exec.buffers.push_back(sends[i].first);
    plan.push_back({false, peers[i], recvs[i].second});
    exec.buffers.push_back(recvs[i].first);
  }
  Schedule schedule = buildP2PSchedule(plan);
  exec.schedule = &schedule;
  return runSchedule(comm, exec);
}

}  // namespace

Status checkPointToPointSignatures(mixcclComm* comm, const std::vector<const Op*>& p2p) {
  // Peers other than this rank, in the order first named (sends to itself are matched, and
  // checked, by the engine).
  std::vector<int> peers;
  std::vector<std::vector<PairEntry>> mine;  // per peer: its sends, then its receives
  std::vector<PairHeader> myHeaders;
  for (size_t i = 0; i < p2p.size(); ++i) {
    const Op& op = *p2p[i];
    if (op.peer == comm->rank) continue;
    size_t k = 0;
    while (k < peers.size() && peers[k] != op.peer) ++k;
    if (k == peers.size()) {
      peers.push_back(op.peer);
      mine.emplace_back();
      myHeaders.push_back({kP2PMagic, comm->opCount, 0, 0});
    }
    (op.isSend ? myHeaders[k].sends : myHeaders[k].recvs) += 1;
  }
  if (peers.empty()) return Status::ok();
  for (size_t k = 0; k < peers.size(); ++k) {
    for (bool sends : {true, false}) {
      for (size_t i = 0; i < p2p.size(); ++i) {
        const Op& op = *p2p[i];
        if (op.peer != peers[k] || op.isSend != sends) continue;
        mine[k].push_back({op.count, static_cast<int32_t>(op.type), static_cast<int32_t>(i)});
      }
    }
  }

  // Step 1: how many of each.
  std::vector<PairHeader> theirHeaders(peers.size());
  std::vector<std::pair<void*, size_t>> out, in;
  for (size_t k = 0; k < peers.size(); ++k) {
    out.push_back({&myHeaders[k], sizeof(PairHeader)});
    in.push_back({&theirHeaders[k], sizeof(PairHeader)});
  }
  MIXCCL_CHECK(exchange(comm, peers, out, in, "MIXCCL_CHECK send/recv counts"));

  std::string problem;
  std::vector<int> agreed;
  std::vector<std::vector<PairEntry>> theirs;
  out.clear();
  in.clear();
  for (size_t k = 0; k < peers.size(); ++k) {
    const PairHeader& m = myHeaders[k];
    const PairHeader& t = theirHeaders[k];
    const int p = peers[k];
    if (t.magic != kP2PMagic || t.collectivesBefore != m.collectivesBefore) {
      if (problem.empty()) {
        problem = strFormat("rank %d's send/recv group with rank %d is not matched by a group on rank %d: rank %d is "
                            "after %llu collectives, rank %d after %llu (or it sent something else)",
                            comm->rank, p, p, comm->rank, static_cast<unsigned long long>(m.collectivesBefore), p,
                            static_cast<unsigned long long>(t.collectivesBefore));
      }
      continue;
    }
    if (m.sends != t.recvs || m.recvs != t.sends) {
      if (problem.empty()) {
        problem = strFormat("rank %d posts %llu send(s) to and %llu receive(s) from rank %d, but rank %d posts %llu "
                            "send(s) to and %llu receive(s) from rank %d",
                            comm->rank, static_cast<unsigned long long>(m.sends),
                            static_cast<unsigned long long>(m.recvs), p, p, static_cast<unsigned long long>(t.sends),
                            static_cast<unsigned long long>(t.recvs), comm->rank);
      }
      continue;
    }
    agreed.push_back(p);
    theirs.emplace_back(mine[k].size());
    out.push_back({mine[k].data(), mine[k].size() * sizeof(PairEntry)});
    in.push_back({theirs.back().data(), theirs.back().size() * sizeof(PairEntry)});
  }

  // Step 2, with the peers whose numbers agree (both sides of each pair know whether they do).
  if (!agreed.empty()) MIXCCL_CHECK(exchange(comm, agreed, out, in, "MIXCCL_CHECK send/recv signatures"));
  for (size_t a = 0; a < agreed.size() && problem.empty(); ++a) {
    const int p = agreed[a];
    size_t k = 0;
    while (peers[k] != p) ++k;
    const size_t nSends = myHeaders[k].sends, nRecvs = myHeaders[k].recvs;
    const std::vector<PairEntry>& m = mine[k];
    const std::vector<PairEntry>& t = theirs[a];
    // Mine: sends [0, nSends), receives after. Theirs: sends [0, nRecvs), receives after.
    for (size_t j = 0; j < nSends && problem.empty(); ++j) {
      const PairEntry& s = m[j];
      const PairEntry& r = t[nRecvs + j];
      if (s.count == r.count && s.type == r.type) continue;
      problem = strFormat("rank %d's send #%zu to rank %d (%s) does not match rank %d's receive #%zu from rank %d (%s)",
                          comm->rank, j + 1, p, describeEntry(s).c_str(), p, j + 1, comm->rank, describeEntry(r).c_str());
    }
    for (size_t j = 0; j < nRecvs && problem.empty(); ++j) {
      const PairEntry& r = m[nSends + j];
      const PairEntry& s = t[j];
      if (s.count == r.count && s.type == r.type) continue;
      problem = strFormat("rank %d's send #%zu to rank %d (%s) does not match rank %d's receive #%zu from rank %d (%s)",
                          p, j + 1, comm->rank, describeEntry(s).c_str(), comm->rank, j + 1, p, describeEntry(r).c_str());
    }
  }
  if (problem.empty()) return Status::ok();
  return errorStatus(mixcclInvalidUsage,
                     "MIXCCL_CHECK: %s; each send must be matched, in order, by a receive on its peer with the same "
                     "count and data type (this is rank %d)",
                     problem.c_str(), comm->rank);
}

}  // namespace mixccl
