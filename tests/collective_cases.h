// One collective call with its buffers, inputs and checks, for the multi-process tests.
//
// A case is built (buffers allocated, inputs written, sentinels placed), issued (the API call), and
// verified (every output element, unchanged inputs, untouched sentinels, guard zones around every
// buffer). Splitting issue from verify lets a test queue several cases in one group.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mixccl.h"
#include "tests/reference.h"

namespace mixccl_test {

// The communicator a rank tests on, and the seed of the next case (the same on every rank, since
// every rank runs the same sequence of cases).
struct RankContext {
  mixcclComm_t comm = nullptr;
  int rank = 0;
  int nranks = 1;
  uint64_t nextSeed = 1;
};

enum class Collective { AllReduce, Broadcast, Reduce, AllGather, ReduceScatter, AlltoAll, Gather, Scatter, SendRecv };
const char* collectiveName(Collective c);
bool isReducing(Collective c);
bool isRooted(Collective c);
const std::vector<Collective>& allCollectives();

// Bytes with a guard zone on each side, so writes past either end are caught.
class GuardedBuffer {
 public:
  GuardedBuffer() = default;
  GuardedBuffer(size_t bytes, uint8_t fill);
  unsigned char* data() { return storage_ ? storage_.get() + kGuardBytes : nullptr; }
  size_t bytes() const { return bytes_; }
  size_t checkGuards(const std::string& label) const;

 private:
  static constexpr size_t kGuardBytes = 64;
  size_t bytes_ = 0;
  // Left uninitialised by the allocation and written once by the constructor (a std::vector wrote
  // every byte twice; memset was 14 % of the 8-rank matrix's profile at 1M+3 elements).
  std::unique_ptr<unsigned char[]> storage_;
};

constexpr uint8_t kSentinelByte = 0x5A;

// A reduction operator usable on the communicator: builtin, or a pre-multiplied sum created with
// this rank's scalar (host-immediate; the scalar is overwritten right after creation to check the
// library copied it) and destroyed with the case.
class RedOpHolder {
 public:
  RedOpHolder(mixcclComm_t comm, int rank, mixcclDataType_t type, Reduction reduction);
  ~RedOpHolder();
  RedOpHolder(const RedOpHolder&) = delete;
  RedOpHolder& operator=(const RedOpHolder&) = delete;
  mixcclRedOp_t op() const { return op_; }

 private:
  mixcclComm_t comm_;
  mixcclRedOp_t op_ = mixcclSum;
  bool created_ = false;
};

class CollectiveCase {
 public:
  virtual ~CollectiveCase() = default;
  // The API call(s); inside a group they only queue.
  virtual mixcclResult_t issue() = 0;
  // Number of problems found (each printed to stderr with the label).
  virtual size_t verify() = 0;
  const std::string& label() const { return label_; }

 protected:
  std::string label_;
};

struct CaseSpec {
  Collective collective = Collective::AllReduce;
  mixcclDataType_t type = mixcclFloat32;
  Reduction reduction = Reduction::Sum;  // ignored by collectives that do not reduce
  size_t count = 0;                      // per-rank count as the API takes it
  bool inPlace = false;
  int root = 0;  // rooted collectives; for SendRecv, the ring shift distance (1: to the next rank)
};
std::string describeSpec(const CaseSpec& spec, int nranks);

// Builds a case on ctx with the next seed.
std::unique_ptr<CollectiveCase> makeCase(RankContext& ctx, const CaseSpec& spec);

// Builds, issues and verifies one case. A non-success result ends the rank (the ranks could no
// longer stay in step); wrong data is recorded and the rank goes on. Returns true if all correct.
bool runCase(RankContext& ctx, const CaseSpec& spec);

}  // namespace mixccl_test
