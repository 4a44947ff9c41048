#include "tests/collective_cases.h"

#include <cstring>
#include <stdexcept>

#include "tests/mp_harness.h"

namespace mixccl_test {

const char* collectiveName(Collective c) {
  switch (c) {
    case Collective::AllReduce: return "AllReduce";
    case Collective::Broadcast: return "Broadcast";
    case Collective::Reduce: return "Reduce";
    case Collective::AllGather: return "AllGather";
    case Collective::ReduceScatter: return "ReduceScatter";
    case Collective::AlltoAll: return "AlltoAll";
    case Collective::Gather: return "Gather";
    case Collective::Scatter: return "Scatter";
    case Collective::SendRecv: return "SendRecv";
  }
  return "?";
}

bool isReducing(Collective c) {
  return c == Collective::AllReduce || c == Collective::Reduce || c == Collective::ReduceScatter;
}

bool isRooted(Collective c) {
  return c == Collective::Broadcast || c == Collective::Reduce || c == Collective::Gather || c == Collective::Scatter;
}

const std::vector<Collective>& allCollectives() {
  static const std::vector<Collective> all = {Collective::AllReduce, Collective::Broadcast,     Collective::Reduce,
                                              Collective::AllGather, Collective::ReduceScatter, Collective::AlltoAll,
                                              Collective::Gather,    Collective::Scatter,       Collective::SendRecv};
  return all;
}

GuardedBuffer::GuardedBuffer(size_t bytes, uint8_t fill)
    : bytes_(bytes), storage_(std::make_unique_for_overwrite<unsigned char[]>(bytes + 2 * kGuardBytes)) {
  std::memset(storage_.get(), 0xA5, kGuardBytes);
  std::memset(storage_.get() + kGuardBytes, fill, bytes);
  std::memset(storage_.get() + kGuardBytes + bytes, 0xA5, kGuardBytes);
}

size_t GuardedBuffer::checkGuards(const std::string& label) const {
  if (!storage_) return 0;
  return checkSentinel(storage_.get(), kGuardBytes, 0xA5, label + " (guard zone before the buffer)") +
         checkSentinel(storage_.get() + kGuardBytes + bytes_, kGuardBytes, 0xA5,
                       label + " (guard zone after the buffer)");
}

RedOpHolder::RedOpHolder(mixcclComm_t comm, int rank, mixcclDataType_t type, Reduction reduction) : comm_(comm) {
  if (reduction != Reduction::PreMulSum) {
    op_ = builtinOp(reduction);
    return;
  }
  unsigned char scalar[8] = {};
  preMulScalar(type, rank, scalar);
  MP_CHECK_OK(mixcclRedOpCreatePreMulSum(&op_, scalar, type, mixcclScalarHostImmediate, comm), comm);
  created_ = true;
  // Host-immediate: the library must have read the scalar already.
  std::memset(scalar, 0x7F, sizeof scalar);
  MP_CHECK(static_cast<int>(op_) >= static_cast<int>(mixcclNumOps),
           "a pre-multiplied sum operator must be numbered from mixcclNumOps up, got %d", static_cast<int>(op_));
}

RedOpHolder::~RedOpHolder() {
  if (created_) MP_CHECK_OK(mixcclRedOpDestroy(op_, comm_), comm_);
}

std::string describeSpec(const CaseSpec& s, int nranks) {
  std::string out = formatString("%s %s", collectiveName(s.collective), typeName(s.type));
  if (isReducing(s.collective)) out += formatString(" %s", reductionName(s.reduction));
  out += formatString(" count=%zu %s", s.count, s.inPlace ? "in-place" : "out-of-place");
  if (isRooted(s.collective)) out += formatString(" root=%d", s.root);
  if (s.collective == Collective::SendRecv) out += formatString(" shift=%d", s.root);
  out += formatString(" (%d ranks)", nranks);
  return out;
}

namespace {

// What every case shares: where it runs, what data, and its buffers.
class CaseBase : public CollectiveCase {
 protected:
  CaseBase(RankContext& ctx, const CaseSpec& spec)
      : spec_(spec), comm_(ctx.comm), rank_(ctx.rank), nranks_(ctx.nranks), seed_(ctx.nextSeed++) {
    label_ = formatString("comm rank %d: ", rank_) + describeSpec(spec, nranks_);
    dataKind_ = isReducing(spec.collective) ? spec.reduction : Reduction::None;
  }
  size_t bytes(size_t elements) const { return elements * typeSize(spec_.type); }
  unsigned char* at(GuardedBuffer& b, size_t elementOffset) { return b.data() + bytes(elementOffset); }
  // Writes this rank's inputs (logical indices firstIndex..) into dst.
  void fill(void* dst, size_t firstIndex, size_t count) {
    fillInput(spec_.type, dataKind_, seed_, rank_, nranks_, firstIndex, count, dst);
  }
  size_t inputsOf(int rank, size_t firstIndex, size_t count, const void* got, const std::string& what) {
    return checkInputs(spec_.type, dataKind_, seed_, rank, nranks_, firstIndex, count, got, label_ + ": " + what);
  }
  size_t reductionAt(size_t firstIndex, size_t count, const void* got, const std::string& what) {
    return checkReduction(spec_.type, dataKind_, seed_, nranks_, firstIndex, count, got, label_ + ": " + what);
  }
  size_t untouched(const void* got, size_t elements, const std::string& what) {
    return checkSentinel(got, bytes(elements), kSentinelByte, label_ + ": " + what);
  }

  CaseSpec spec_;
  mixcclComm_t comm_;
  int rank_;
  int nranks_;
  uint64_t seed_;
  Reduction dataKind_;
};

class AllReduceCase : public CaseBase {
 public:
  AllReduceCase(RankContext& ctx, const CaseSpec& s)
      : CaseBase(ctx, s), op_(ctx.comm, ctx.rank, s.type, s.reduction), send_(bytes(s.count), 0) {
    fill(send_.data(), 0, s.count);
    if (!s.inPlace) recv_ = GuardedBuffer(bytes(s.count), kSentinelByte);
  }
  mixcclResult_t issue() override {
    return mixcclAllReduce(send_.data(), out(), spec_.count, spec_.type, op_.op(), comm_, nullptr);
  }
  size_t verify() override {
    size_t bad = reductionAt(0, spec_.count, out(), "result");
    if (!spec_.inPlace) bad += inputsOf(rank_, 0, spec_.count, send_.data(), "send buffer changed");
    return bad + send_.checkGuards(label_) + recv_.checkGuards(label_);
  }

 private:
  unsigned char* out() { return spec_.inPlace ? send_.data() : recv_.data(); }
  RedOpHolder op_;
  GuardedBuffer send_, recv_;
};

class BroadcastCase : public CaseBase {
 public:
  BroadcastCase(RankContext& ctx, const CaseSpec& s) : CaseBase(ctx, s) {
    const bool root = rank_ == s.root;
    // Non-root send buffers are sentinels: "sendbuff is read only on root", so never written.
    send_ = GuardedBuffer(bytes(s.count), kSentinelByte);
    if (root) fill(send_.data(), 0, s.count);
    if (!s.inPlace) recv_ = GuardedBuffer(bytes(s.count), kSentinelByte);
  }
  mixcclResult_t issue() override {
    return mixcclBroadcast(send_.data(), out(), spec_.count, spec_.type, spec_.root, comm_, nullptr);
  }
  size_t verify() override {
    size_t bad = inputsOf(spec_.root, 0, spec_.count, out(), "result (root's data)");
    if (!spec_.inPlace) {
      bad += rank_ == spec_.root ? inputsOf(rank_, 0, spec_.count, send_.data(), "root's send buffer changed")
                                 : untouched(send_.data(), spec_.count, "non-root send buffer written");
    }
    return bad + send_.checkGuards(label_) + recv_.checkGuards(label_);
  }

 private:
  unsigned char* out() { return spec_.inPlace ? send_.data() : recv_.data(); }
  GuardedBuffer send_, recv_;
};

class ReduceCase : public CaseBase {
 public:
  ReduceCase(RankContext& ctx, const CaseSpec& s)
      : CaseBase(ctx, s), op_(ctx.comm, ctx.rank, s.type, s.reduction), send_(bytes(s.count), 0) {
    fill(send_.data(), 0, s.count);
    // "recvbuff is written only on root (it may be NULL elsewhere)": every other out-of-place case
    // passes NULL on non-roots, the rest a sentinel buffer that must stay untouched.
    nullRecv_ = rank_ != s.root && !s.inPlace && seed_ % 2 == 1;
    if (!s.inPlace && !nullRecv_) recv_ = GuardedBuffer(bytes(s.count), kSentinelByte);
  }
  mixcclResult_t issue() override {
    return mixcclReduce(send_.data(), out(), spec_.count, spec_.type, op_.op(), spec_.root, comm_, nullptr);
  }
  size_t verify() override {
    size_t bad = 0;
    if (rank_ == spec_.root) {
      bad += reductionAt(0, spec_.count, out(), "result on root");
      if (!spec_.inPlace) bad += inputsOf(rank_, 0, spec_.count, send_.data(), "send buffer changed");
    } else {
      // In place on a non-root, recvbuff == sendbuff must keep the input: it is not written there.
      bad += inputsOf(rank_, 0, spec_.count, send_.data(), "non-root send buffer changed");
      if (!spec_.inPlace && !nullRecv_) bad += untouched(recv_.data(), spec_.count, "non-root recvbuff written");
    }
    return bad + send_.checkGuards(label_) + recv_.checkGuards(label_);
  }

 private:
  unsigned char* out() {
    if (spec_.inPlace) return send_.data();
    return nullRecv_ ? nullptr : recv_.data();
  }
  RedOpHolder op_;
  GuardedBuffer send_, recv_;
  bool nullRecv_ = false;
};

class AllGatherCase : public CaseBase {
 public:
  AllGatherCase(RankContext& ctx, const CaseSpec& s)
      : CaseBase(ctx, s), recv_(bytes(s.count * static_cast<size_t>(ctx.nranks)), kSentinelByte) {
    if (s.inPlace) {
      fill(in(), 0, s.count);  // sendbuff == recvbuff + rank*sendcount
    } else {
      send_ = GuardedBuffer(bytes(s.count), 0);
      fill(send_.data(), 0, s.count);
    }
  }
  mixcclResult_t issue() override {
    return mixcclAllGather(in(), recv_.data(), spec_.count, spec_.type, comm_, nullptr);
  }
  size_t verify() override {
    size_t bad = 0;
    for (int q = 0; q < nranks_; ++q) {
      bad += inputsOf(q, 0, spec_.count, at(recv_, static_cast<size_t>(q) * spec_.count),
                      formatString("block of rank %d", q));
    }
    if (!spec_.inPlace) bad += inputsOf(rank_, 0, spec_.count, send_.data(), "send buffer changed");
    return bad + send_.checkGuards(label_) + recv_.checkGuards(label_);
  }

 private:
  unsigned char* in() {
    return spec_.inPlace ? at(recv_, static_cast<size_t>(rank_) * spec_.count) : send_.data();
  }
  GuardedBuffer send_, recv_;
};

class ReduceScatterCase : public CaseBase {
 public:
  ReduceScatterCase(RankContext& ctx, const CaseSpec& s)
      : CaseBase(ctx, s),
        op_(ctx.comm, ctx.rank, s.type, s.reduction),
        send_(bytes(s.count * static_cast<size_t>(ctx.nranks)), 0) {
    fill(send_.data(), 0, s.count * static_cast<size_t>(nranks_));
    if (!s.inPlace) recv_ = GuardedBuffer(bytes(s.count), kSentinelByte);
  }
  mixcclResult_t issue() override {
    return mixcclReduceScatter(send_.data(), out(), spec_.count, spec_.type, op_.op(), comm_, nullptr);
  }
  size_t verify() override {
    const size_t first = static_cast<size_t>(rank_) * spec_.count;
    // In place only this rank's block is defined afterwards; the other blocks may be scratch.
    size_t bad = reductionAt(first, spec_.count, out(), "result");
    if (!spec_.inPlace) {
      bad += inputsOf(rank_, 0, spec_.count * static_cast<size_t>(nranks_), send_.data(), "send buffer changed");
    }
    return bad + send_.checkGuards(label_) + recv_.checkGuards(label_);
  }

 private:
  unsigned char* out() {
    return spec_.inPlace ? at(send_, static_cast<size_t>(rank_) * spec_.count) : recv_.data();
  }
  RedOpHolder op_;
  GuardedBuffer send_, recv_;
};

class AlltoAllCase : public CaseBase {
 public:
  AlltoAllCase(RankContext& ctx, const CaseSpec& s)
      : CaseBase(ctx, s), send_(bytes(s.count * static_cast<size_t>(ctx.nranks)), 0) {
    fill(send_.data(), 0, s.count * static_cast<size_t>(nranks_));
    if (!s.inPlace) recv_ = GuardedBuffer(bytes(s.count * static_cast<size_t>(nranks_)), kSentinelByte);
  }
  mixcclResult_t issue() override {
    return mixcclAlltoAll(send_.data(), out(), spec_.count, spec_.type, comm_, nullptr);
  }
  size_t verify() override {
    size_t bad = 0;
    // Block j comes from rank j, which sent its block number `rank_`.
    for (int j = 0; j < nranks_; ++j) {
      bad += inputsOf(j, static_cast<size_t>(rank_) * spec_.count, spec_.count,
                      out() + bytes(static_cast<size_t>(j) * spec_.count), formatString("block from rank %d", j));
    }
    if (!spec_.inPlace) {
      bad += inputsOf(rank_, 0, spec_.count * static_cast<size_t>(nranks_), send_.data(), "send buffer changed");
    }
    return bad + send_.checkGuards(label_) + recv_.checkGuards(label_);
  }

 private:
  unsigned char* out() { return spec_.inPlace ? send_.data() : recv_.data(); }
  GuardedBuffer send_, recv_;
};

class GatherCase : public CaseBase {
 public:
  GatherCase(RankContext& ctx, const CaseSpec& s) : CaseBase(ctx, s) {
    const bool root = rank_ == s.root;
    if (root) recv_ = GuardedBuffer(bytes(s.count * static_cast<size_t>(nranks_)), kSentinelByte);
    // In place applies on the root only (sendbuff == recvbuff + root*count).
    inPlaceHere_ = root && s.inPlace;
    if (inPlaceHere_) {
      fill(in(), 0, s.count);
    } else {
      send_ = GuardedBuffer(bytes(s.count), 0);
      fill(send_.data(), 0, s.count);
    }
    // Non-roots: recvbuff is only meaningful on the root; alternate NULL and an untouched sentinel.
    if (!root && seed_ % 2 == 0) recv_ = GuardedBuffer(bytes(s.count * static_cast<size_t>(nranks_)), kSentinelByte);
  }
  mixcclResult_t issue() override {
    return mixcclGather(in(), recv_.data(), spec_.count, spec_.type, spec_.root, comm_, nullptr);
  }
  size_t verify() override {
    size_t bad = 0;
    const size_t total = spec_.count * static_cast<size_t>(nranks_);
    if (rank_ == spec_.root) {
      for (int q = 0; q < nranks_; ++q) {
        bad += inputsOf(q, 0, spec_.count, at(recv_, static_cast<size_t>(q) * spec_.count),
                        formatString("block of rank %d on root", q));
      }
    } else if (recv_.data() != nullptr) {
      bad += untouched(recv_.data(), total, "non-root recvbuff written");
    }
    if (!inPlaceHere_) bad += inputsOf(rank_, 0, spec_.count, send_.data(), "send buffer changed");
    return bad + send_.checkGuards(label_) + recv_.checkGuards(label_);
  }

 private:
  unsigned char* in() {
    return inPlaceHere_ ? at(recv_, static_cast<size_t>(rank_) * spec_.count) : send_.data();
  }
  GuardedBuffer send_, recv_;
  bool inPlaceHere_ = false;
};

class ScatterCase : public CaseBase {
 public:
  ScatterCase(RankContext& ctx, const CaseSpec& s) : CaseBase(ctx, s) {
    const bool root = rank_ == s.root;
    const size_t total = s.count * static_cast<size_t>(nranks_);
    if (root) {
      send_ = GuardedBuffer(bytes(total), 0);
      fill(send_.data(), 0, total);
    } else if (seed_ % 2 == 0) {
      // Non-roots: sendbuff is only read on the root; alternate NULL and an untouched sentinel.
      send_ = GuardedBuffer(bytes(total), kSentinelByte);
    }
    inPlaceHere_ = root && s.inPlace;  // recvbuff == sendbuff + root*count
    if (!inPlaceHere_) recv_ = GuardedBuffer(bytes(s.count), kSentinelByte);
  }
  mixcclResult_t issue() override {
    return mixcclScatter(send_.data(), out(), spec_.count, spec_.type, spec_.root, comm_, nullptr);
  }
  size_t verify() override {
    const size_t total = spec_.count * static_cast<size_t>(nranks_);
    size_t bad = inputsOf(spec_.root, static_cast<size_t>(rank_) * spec_.count, spec_.count, out(),
                          "block received from root");
    if (rank_ == spec_.root) {
      if (!inPlaceHere_) bad += inputsOf(rank_, 0, total, send_.data(), "root's send buffer changed");
    } else if (send_.data() != nullptr) {
      bad += untouched(send_.data(), total, "non-root sendbuff written");
    }
    return bad + send_.checkGuards(label_) + recv_.checkGuards(label_);
  }

 private:
  unsigned char* out() {
    return inPlaceHere_ ? at(send_, static_cast<size_t>(rank_) * spec_.count) : recv_.data();
  }
  GuardedBuffer send_, recv_;
  bool inPlaceHere_ = false;
};

// Every rank sends to rank + shift and receives from rank - shift, both queued in one group (so a
// shift of 0 sends to self).
class RingSendRecvCase : public CaseBase {
 public:
  RingSendRecvCase(RankContext& ctx, const CaseSpec& s)
      : CaseBase(ctx, s), send_(bytes(s.count), 0), recv_(bytes(s.count), kSentinelByte) {
    const int shift = ((s.root % nranks_) + nranks_) % nranks_;
    to_ = (rank_ + shift) % nranks_;
    from_ = (rank_ - shift + nranks_) % nranks_;
    fill(send_.data(), 0, s.count);
  }
  mixcclResult_t issue() override {
    mixcclResult_t r = mixcclGroupStart();
    if (r != mixcclSuccess) return r;
    const mixcclResult_t s = mixcclSend(send_.data(), spec_.count, spec_.type, to_, comm_, nullptr);
    const mixcclResult_t v = mixcclRecv(recv_.data(), spec_.count, spec_.type, from_, comm_, nullptr);
    r = mixcclGroupEnd();
    if (s != mixcclSuccess) return s;
    if (v != mixcclSuccess) return v;
    return r;
  }
  size_t verify() override {
    size_t bad = inputsOf(from_, 0, spec_.count, recv_.data(), formatString("message from rank %d", from_));
    bad += inputsOf(rank_, 0, spec_.count, send_.data(), "send buffer changed");
    return bad + send_.checkGuards(label_) + recv_.checkGuards(label_);
  }

 private:
  GuardedBuffer send_, recv_;
  int to_ = 0, from_ = 0;
};

}  // namespace

std::unique_ptr<CollectiveCase> makeCase(RankContext& ctx, const CaseSpec& spec) {
  switch (spec.collective) {
    case Collective::AllReduce: return std::make_unique<AllReduceCase>(ctx, spec);
    case Collective::Broadcast: return std::make_unique<BroadcastCase>(ctx, spec);
    case Collective::Reduce: return std::make_unique<ReduceCase>(ctx, spec);
    case Collective::AllGather: return std::make_unique<AllGatherCase>(ctx, spec);
    case Collective::ReduceScatter: return std::make_unique<ReduceScatterCase>(ctx, spec);
    case Collective::AlltoAll: return std::make_unique<AlltoAllCase>(ctx, spec);
    case Collective::Gather: return std::make_unique<GatherCase>(ctx, spec);
    case Collective::Scatter: return std::make_unique<ScatterCase>(ctx, spec);
    case Collective::SendRecv: return std::make_unique<RingSendRecvCase>(ctx, spec);
  }
  throw std::logic_error("makeCase: unknown collective");
}

bool runCase(RankContext& ctx, const CaseSpec& spec) {
  auto c = makeCase(ctx, spec);
  const mixcclResult_t result = c->issue();
  if (result != mixcclSuccess) {
    failRank(__FILE__, __LINE__, describeResult(c->label().c_str(), result, ctx.comm));
  }
  const size_t bad = c->verify();
  MP_EXPECT(bad == 0, "%s: %zu problems (details above)", c->label().c_str(), bad);
  return bad == 0;
}

}  // namespace mixccl_test
