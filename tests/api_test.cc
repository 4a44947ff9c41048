// The public API in one process: version, error strings, the config initializer, and a 1-rank
// communicator on which every collective must behave as the identity (or the scalar product).
#include <gtest/gtest.h>

#include <cstring>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "mixccl.h"

namespace {

#define ASSERT_OK(call) ASSERT_EQ((call), mixcclSuccess) << #call << ": " << mixcclGetLastError(nullptr)

TEST(Api, VersionMatchesTheHeader) {
  int version = -1;
  ASSERT_OK(mixcclGetVersion(&version));
  EXPECT_EQ(version, MIXCCL_VERSION);
  EXPECT_EQ(MIXCCL_VERSION, MIXCCL_VERSION_CODE(MIXCCL_MAJOR, MIXCCL_MINOR, MIXCCL_PATCH));
  EXPECT_EQ(mixcclGetVersion(nullptr), mixcclInvalidArgument);
}

TEST(Api, ErrorStringsAreDistinctAndNonEmpty) {
  std::set<std::string> seen;
  for (int r = mixcclSuccess; r < mixcclNumResults; ++r) {
    const char* s = mixcclGetErrorString(static_cast<mixcclResult_t>(r));
    ASSERT_NE(s, nullptr) << "result " << r;
    EXPECT_GT(std::strlen(s), 0u) << "result " << r;
    EXPECT_TRUE(seen.insert(s).second) << "result " << r << " shares its string '" << s << "'";
  }
  // Unknown codes still get a string, never NULL.
  for (int r : {static_cast<int>(mixcclNumResults), 1234, -1}) {
    const char* s = mixcclGetErrorString(static_cast<mixcclResult_t>(r));
    ASSERT_NE(s, nullptr) << "result " << r;
    EXPECT_GT(std::strlen(s), 0u);
  }
}

TEST(Api, ConfigInitializerLeavesEverythingUndefined) {
  mixcclConfig_t config = MIXCCL_CONFIG_INITIALIZER;
  EXPECT_EQ(config.size, sizeof(mixcclConfig_t));
  EXPECT_EQ(config.magic, MIXCCL_CONFIG_MAGIC);
  EXPECT_EQ(config.version, static_cast<unsigned>(MIXCCL_VERSION));
  EXPECT_EQ(config.blocking, MIXCCL_CONFIG_UNDEF_INT);
  EXPECT_EQ(config.timeoutSeconds, MIXCCL_CONFIG_UNDEF_INT);
  EXPECT_EQ(config.deviceKind, nullptr);
  EXPECT_EQ(config.deviceOrdinal, MIXCCL_CONFIG_UNDEF_INT);
  EXPECT_EQ(config.commName, nullptr);
  EXPECT_EQ(config.splitShare, MIXCCL_CONFIG_UNDEF_INT);
}

TEST(Api, UniqueIdsDiffer) {
  mixcclUniqueId a, b;
  ASSERT_OK(mixcclGetUniqueId(&a));
  ASSERT_OK(mixcclGetUniqueId(&b));
  EXPECT_NE(std::memcmp(&a, &b, sizeof a), 0) << "two unique ids are identical: the secret is not random";
  EXPECT_EQ(mixcclGetUniqueId(nullptr), mixcclInvalidArgument);
}

// A 1-rank communicator for one test.
class OneRank : public ::testing::Test {
 protected:
  void SetUp() override {
    mixcclUniqueId id;
    ASSERT_OK(mixcclGetUniqueId(&id));
    ASSERT_OK(mixcclCommInitRank(&comm_, 1, id, 0));
    ASSERT_NE(comm_, nullptr);
  }
  void TearDown() override {
    if (comm_ != nullptr) {
      EXPECT_EQ(mixcclCommDestroy(comm_), mixcclSuccess) << mixcclGetLastError(nullptr);
    }
  }
  std::string lastError() const { return mixcclGetLastError(comm_); }

  mixcclComm_t comm_ = nullptr;
};

// "" when equal, else where and how the first difference looks (vectors print too long in gtest).
template <typename T>
std::string firstDifference(const std::vector<T>& got, const std::vector<T>& want) {
  if (got.size() != want.size()) return "sizes differ";
  size_t wrong = 0, first = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!(got[i] == want[i]) && wrong++ == 0) first = i;
  }
  if (wrong == 0) return "";
  return std::to_string(wrong) + " of " + std::to_string(got.size()) + " elements differ; first: element " +
         std::to_string(first) + " is " + std::to_string(got[first]) + ", expected " + std::to_string(want[first]);
}
#define EXPECT_SAME(got, want) EXPECT_EQ(firstDifference(got, want), "")

std::vector<float> ramp(size_t n, float start) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = start + static_cast<float>(i % 1000) - 500.0f;
  return v;
}

TEST_F(OneRank, CountRankAndDevice) {
  int count = -1, rank = -1, ordinal = -1;
  const char* kind = nullptr;
  ASSERT_OK(mixcclCommCount(comm_, &count));
  ASSERT_OK(mixcclCommUserRank(comm_, &rank));
  ASSERT_OK(mixcclCommDevice(comm_, &kind, &ordinal));
  EXPECT_EQ(count, 1);
  EXPECT_EQ(rank, 0);
  ASSERT_NE(kind, nullptr);
  EXPECT_STREQ(kind, "cpu");
  EXPECT_EQ(ordinal, 0);
  mixcclResult_t async = mixcclInternalError;
  ASSERT_OK(mixcclCommGetAsyncError(comm_, &async));
  EXPECT_EQ(async, mixcclSuccess);
}

TEST_F(OneRank, EveryReductionIsTheIdentity) {
  const size_t n = 4099;
  const std::vector<float> in = ramp(n, 0.25f);
  for (mixcclRedOp_t op : {mixcclSum, mixcclProd, mixcclMax, mixcclMin, mixcclAvg}) {
    std::vector<float> out(n, -7.0f);
    ASSERT_OK(mixcclAllReduce(in.data(), out.data(), n, mixcclFloat32, op, comm_, nullptr)) << "op " << op;
    EXPECT_SAME(out, in) << "AllReduce op " << op;
    std::vector<float> inPlace = in;
    ASSERT_OK(mixcclAllReduce(inPlace.data(), inPlace.data(), n, mixcclFloat32, op, comm_, nullptr));
    EXPECT_SAME(inPlace, in) << "in-place AllReduce op " << op;
    std::fill(out.begin(), out.end(), -7.0f);
    ASSERT_OK(mixcclReduce(in.data(), out.data(), n, mixcclFloat32, op, 0, comm_, nullptr));
    EXPECT_SAME(out, in) << "Reduce op " << op;
    std::fill(out.begin(), out.end(), -7.0f);
    ASSERT_OK(mixcclReduceScatter(in.data(), out.data(), n, mixcclFloat32, op, comm_, nullptr));
    EXPECT_SAME(out, in) << "ReduceScatter op " << op;
  }
  // Integer avg on one rank: the sum divided by one.
  std::vector<int32_t> ints(n), intOut(n, 0);
  std::iota(ints.begin(), ints.end(), -2000);
  ASSERT_OK(mixcclAllReduce(ints.data(), intOut.data(), n, mixcclInt32, mixcclAvg, comm_, nullptr));
  EXPECT_SAME(intOut, ints);
}

TEST_F(OneRank, DataMovementCollectivesCopy) {
  const size_t n = 1023;
  const std::vector<float> in = ramp(n, 3.5f);
  std::vector<float> out(n, -1.0f);
  ASSERT_OK(mixcclBroadcast(in.data(), out.data(), n, mixcclFloat32, 0, comm_, nullptr));
  EXPECT_SAME(out, in) << "Broadcast";
  std::fill(out.begin(), out.end(), -1.0f);
  ASSERT_OK(mixcclAllGather(in.data(), out.data(), n, mixcclFloat32, comm_, nullptr));
  EXPECT_SAME(out, in) << "AllGather";
  std::fill(out.begin(), out.end(), -1.0f);
  ASSERT_OK(mixcclAlltoAll(in.data(), out.data(), n, mixcclFloat32, comm_, nullptr));
  EXPECT_SAME(out, in) << "AlltoAll";
  std::fill(out.begin(), out.end(), -1.0f);
  ASSERT_OK(mixcclGather(in.data(), out.data(), n, mixcclFloat32, 0, comm_, nullptr));
  EXPECT_SAME(out, in) << "Gather";
  std::fill(out.begin(), out.end(), -1.0f);
  ASSERT_OK(mixcclScatter(in.data(), out.data(), n, mixcclFloat32, 0, comm_, nullptr));
  EXPECT_SAME(out, in) << "Scatter";
  std::fill(out.begin(), out.end(), -1.0f);
  ASSERT_OK(mixcclGroupStart());
  ASSERT_OK(mixcclSend(in.data(), n, mixcclFloat32, 0, comm_, nullptr));
  ASSERT_OK(mixcclRecv(out.data(), n, mixcclFloat32, 0, comm_, nullptr));
  ASSERT_OK(mixcclGroupEnd());
  EXPECT_SAME(out, in) << "Send/Recv to self";
  // In place: the data stays where it is.
  std::vector<float> buf = in;
  ASSERT_OK(mixcclBroadcast(buf.data(), buf.data(), n, mixcclFloat32, 0, comm_, nullptr));
  ASSERT_OK(mixcclAllGather(buf.data(), buf.data(), n, mixcclFloat32, comm_, nullptr));
  ASSERT_OK(mixcclAlltoAll(buf.data(), buf.data(), n, mixcclFloat32, comm_, nullptr));
  ASSERT_OK(mixcclGather(buf.data(), buf.data(), n, mixcclFloat32, 0, comm_, nullptr));
  ASSERT_OK(mixcclScatter(buf.data(), buf.data(), n, mixcclFloat32, 0, comm_, nullptr));
  EXPECT_SAME(buf, in) << "in-place data movement on one rank";
}

TEST_F(OneRank, PreMulSumMultipliesByTheHostScalar) {
  const size_t n = 513;
  const std::vector<float> in = ramp(n, 1.0f);
  float scalar = 3.0f;
  mixcclRedOp_t op = mixcclSum;
  ASSERT_OK(mixcclRedOpCreatePreMulSum(&op, &scalar, mixcclFloat32, mixcclScalarHostImmediate, comm_));
  EXPECT_GE(static_cast<int>(op), static_cast<int>(mixcclNumOps));
  scalar = 100.0f;  // host-immediate: already read
  std::vector<float> out(n, 0.0f);
  ASSERT_OK(mixcclAllReduce(in.data(), out.data(), n, mixcclFloat32, op, comm_, nullptr));
  for (size_t i = 0; i < n; ++i) ASSERT_EQ(out[i], 3.0f * in[i]) << "element " << i;
  ASSERT_OK(mixcclRedOpDestroy(op, comm_));
  EXPECT_EQ(mixcclRedOpDestroy(op, comm_), mixcclInvalidArgument) << "destroying an operator twice";

  // Integer pre-multiplied sum.
  int64_t iscalar = -2;
  ASSERT_OK(mixcclRedOpCreatePreMulSum(&op, &iscalar, mixcclInt64, mixcclScalarHostImmediate, comm_));
  std::vector<int64_t> iin(n), iout(n, 0);
  std::iota(iin.begin(), iin.end(), -100);
  ASSERT_OK(mixcclAllReduce(iin.data(), iout.data(), n, mixcclInt64, op, comm_, nullptr));
  for (size_t i = 0; i < n; ++i) ASSERT_EQ(iout[i], -2 * iin[i]) << "element " << i;
  ASSERT_OK(mixcclRedOpDestroy(op, comm_));
}

TEST_F(OneRank, PreMulSumWithADeviceScalarReadsItWhenTheCollectiveRuns) {
  // On a cpu communicator device memory is host memory: the scalar is read at the collective.
  const size_t n = 64;
  const std::vector<float> in = ramp(n, 1.0f);
  float scalar = 2.0f;
  mixcclRedOp_t op = mixcclSum;
  ASSERT_OK(mixcclRedOpCreatePreMulSum(&op, &scalar, mixcclFloat32, mixcclScalarDevice, comm_));
  scalar = 5.0f;
  std::vector<float> out(n, 0.0f);
  ASSERT_OK(mixcclAllReduce(in.data(), out.data(), n, mixcclFloat32, op, comm_, nullptr));
  for (size_t i = 0; i < n; ++i) ASSERT_EQ(out[i], 5.0f * in[i]) << "element " << i;
  ASSERT_OK(mixcclRedOpDestroy(op, comm_));
}

TEST_F(OneRank, PreMulSumValidation) {
  float scalar = 1.0f;
  mixcclRedOp_t op = mixcclSum;
  EXPECT_EQ(mixcclRedOpCreatePreMulSum(&op, &scalar, static_cast<mixcclDataType_t>(99), mixcclScalarHostImmediate,
                                       comm_),
            mixcclInvalidArgument);
  EXPECT_GT(lastError().size(), 0u);
  EXPECT_EQ(mixcclRedOpCreatePreMulSum(&op, nullptr, mixcclFloat32, mixcclScalarHostImmediate, comm_),
            mixcclInvalidArgument);
  EXPECT_EQ(mixcclRedOpCreatePreMulSum(nullptr, &scalar, mixcclFloat32, mixcclScalarHostImmediate, comm_),
            mixcclInvalidArgument);
  EXPECT_EQ(mixcclRedOpCreatePreMulSum(&op, &scalar, mixcclFloat32, static_cast<mixcclScalarResidence_t>(7), comm_),
            mixcclInvalidArgument);
  EXPECT_EQ(mixcclRedOpCreatePreMulSum(&op, &scalar, mixcclFloat32, mixcclScalarHostImmediate, nullptr),
            mixcclInvalidArgument);
  for (mixcclRedOp_t builtin : {mixcclSum, mixcclProd, mixcclMax, mixcclMin, mixcclAvg}) {
    EXPECT_EQ(mixcclRedOpDestroy(builtin, comm_), mixcclInvalidArgument) << "destroying builtin op " << builtin;
    EXPECT_GT(lastError().size(), 0u);
  }
  EXPECT_EQ(mixcclRedOpDestroy(static_cast<mixcclRedOp_t>(mixcclNumOps + 3), comm_), mixcclInvalidArgument);
  // The communicator is fine afterwards.
  float x = 2.0f, y = 0.0f;
  ASSERT_OK(mixcclAllReduce(&x, &y, 1, mixcclFloat32, mixcclSum, comm_, nullptr));
  EXPECT_EQ(y, 2.0f);
}

TEST_F(OneRank, FinalizeThenDestroy) {
  float x = 1.0f, y = 0.0f;
  ASSERT_OK(mixcclAllReduce(&x, &y, 1, mixcclFloat32, mixcclSum, comm_, nullptr));
  ASSERT_OK(mixcclCommFinalize(comm_));
  ASSERT_OK(mixcclCommDestroy(comm_));
  comm_ = nullptr;
}

TEST_F(OneRank, AbortFreesTheCommunicator) {
  float x = 1.0f, y = 0.0f;
  ASSERT_OK(mixcclAllReduce(&x, &y, 1, mixcclFloat32, mixcclSum, comm_, nullptr));
  ASSERT_OK(mixcclCommAbort(comm_));
  comm_ = nullptr;  // freed by abort
}

TEST(Api, InitRankConfigHonoursTheConfig) {
  mixcclUniqueId id;
  ASSERT_OK(mixcclGetUniqueId(&id));
  mixcclConfig_t config = MIXCCL_CONFIG_INITIALIZER;
  config.blocking = 1;
  config.timeoutSeconds = 30;
  config.deviceKind = "cpu";
  config.deviceOrdinal = 0;
  config.commName = "api_test";
  mixcclComm_t comm = nullptr;
  ASSERT_OK(mixcclCommInitRankConfig(&comm, 1, id, 0, &config));
  const char* kind = nullptr;
  int ordinal = -1;
  ASSERT_OK(mixcclCommDevice(comm, &kind, &ordinal));
  EXPECT_STREQ(kind, "cpu");
  EXPECT_EQ(ordinal, 0);
  double x = 1.5, y = 0;
  ASSERT_OK(mixcclAllReduce(&x, &y, 1, mixcclFloat64, mixcclMax, comm, nullptr));
  EXPECT_EQ(y, 1.5);
  ASSERT_OK(mixcclCommDestroy(comm));
}

TEST(Api, InitAllOfOneCommunicator) {
  mixcclComm_t comm = nullptr;
  ASSERT_OK(mixcclCommInitAll(&comm, 1, nullptr));
  int count = 0;
  ASSERT_OK(mixcclCommCount(comm, &count));
  EXPECT_EQ(count, 1);
  ASSERT_OK(mixcclCommDestroy(comm));
}

TEST(Api, ErrorsOfCallsWithoutACommunicatorAreExplained) {
  int n = 0;
  EXPECT_EQ(mixcclCommCount(nullptr, &n), mixcclInvalidArgument);
  const char* last = mixcclGetLastError(nullptr);
  ASSERT_NE(last, nullptr);
  EXPECT_GT(std::strlen(last), 0u);
  mixcclUniqueId id;
  ASSERT_OK(mixcclGetUniqueId(&id));
  mixcclComm_t comm = nullptr;
  EXPECT_EQ(mixcclCommInitRank(&comm, 1, id, 1), mixcclInvalidArgument);
  EXPECT_NE(std::string(mixcclGetLastError(nullptr)).find("rank"), std::string::npos) << mixcclGetLastError(nullptr);
}

}  // namespace
