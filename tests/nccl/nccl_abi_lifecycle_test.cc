// Communicator lifecycle, errors and the rest of the NCCL 2.28 API through mixccl's libnccl.so.2,
// compiled against the system's nccl.h.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <nccl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/nccl/nccl_harness.h"

using nccl_test::runRanks;

// NCCL's device API is declared in nccl_device.h, which needs nvcc; these are its host entry points.
extern "C" ncclResult_t ncclDevCommCreate(ncclComm_t, const void* requirements, void* devComm);
extern "C" int ncclLLA2ACalcSlots(int maxElts, int maxEltSize);

namespace {

bool contains(const char* text, const char* part) { return text != nullptr && std::strstr(text, part) != nullptr; }

using Clock = std::chrono::steady_clock;
double secondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Polls a non-blocking communicator until it is no longer in progress (at most 30 s).
ncclResult_t waitReady(ncclComm_t comm) {
  ncclResult_t state = ncclInProgress;
  auto start = Clock::now();
  while (secondsSince(start) < 30) {
    ncclResult_t rc = ncclCommGetAsyncError(comm, &state);
    if (rc != ncclSuccess) return rc;
    if (state != ncclInProgress) return state;
    usleep(1000);
  }
  return ncclInProgress;
}

float sumOf(const std::vector<int>& ranks) {
  float s = 0;
  for (int r : ranks) s += static_cast<float>(r + 1);
  return s;
}

}  // namespace

// The test binary must really run on mixccl's library, not NVIDIA's.
TEST(NcclAbiLifecycle, LoadsMixcclLibraryAndReportsNcclVersion) {
  int version = 0;
  ASSERT_EQ(ncclGetVersion(&version), ncclSuccess);
  EXPECT_EQ(version, 22809);
  EXPECT_EQ(version, NCCL_VERSION_CODE) << "the system header is another NCCL release than the ABI we implement";
  Dl_info info{};
  ASSERT_NE(dladdr(reinterpret_cast<void*>(&ncclGetVersion), &info), 0);
  char resolved[PATH_MAX], expected[PATH_MAX];
  ASSERT_NE(realpath(info.dli_fname, resolved), nullptr);
  ASSERT_NE(realpath(MIXCCL_NCCL_LIBRARY, expected), nullptr);
  EXPECT_STREQ(resolved, expected) << "ncclGetVersion comes from " << info.dli_fname;
  // A sentence only mixccl writes.
  EXPECT_EQ(ncclAllReduce(nullptr, nullptr, 1, ncclFloat, ncclSum, nullptr, nullptr), ncclInvalidArgument);
  EXPECT_TRUE(contains(ncclGetLastError(nullptr), "mixcclAllReduce: comm is NULL")) << ncclGetLastError(nullptr);
}

TEST(NcclAbiLifecycle, ErrorsComeWithSentences) {
  EXPECT_STRNE(ncclGetErrorString(ncclInProgress), "");
  EXPECT_EQ(ncclGetVersion(nullptr), ncclInvalidArgument);
  EXPECT_TRUE(contains(ncclGetLastError(nullptr), "version is NULL"));

  ncclComm_t comm = nullptr;
  ASSERT_EQ(ncclCommInitAll(&comm, 1, nullptr), ncclSuccess) << ncclGetLastError(nullptr);
  float x = 1;
  EXPECT_EQ(ncclAllReduce(&x, &x, 1, static_cast<ncclDataType_t>(99), ncclSum, comm, nullptr), ncclInvalidArgument);
  EXPECT_TRUE(contains(ncclGetLastError(comm), "datatype 99")) << ncclGetLastError(comm);
  EXPECT_EQ(ncclBroadcast(&x, &x, 1, ncclFloat, 5, comm, nullptr), ncclInvalidArgument);
  EXPECT_TRUE(contains(ncclGetLastError(comm), "root 5")) << ncclGetLastError(comm);
  EXPECT_EQ(ncclGroupEnd(), ncclInvalidUsage);
  EXPECT_TRUE(contains(ncclGetLastError(nullptr), "without a matching")) << ncclGetLastError(nullptr);

  // Bad configs.
  ncclUniqueId id{};
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.magic = 0x1234;
  ncclComm_t other = nullptr;
  EXPECT_EQ(ncclCommInitRankConfig(&other, 1, id, 0, &config), ncclInvalidArgument);
  EXPECT_TRUE(contains(ncclGetLastError(nullptr), "NCCL_CONFIG_INITIALIZER")) << ncclGetLastError(nullptr);
  config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 7;
  EXPECT_EQ(ncclCommSplit(comm, 0, 0, &other, &config), ncclInvalidArgument);
  EXPECT_TRUE(contains(ncclGetLastError(comm), "blocking is 7")) << ncclGetLastError(comm);

  // What this build cannot do says so.
  int dev = -1;
  EXPECT_EQ(ncclCommCuDevice(comm, &dev), ncclInvalidUsage);
  EXPECT_TRUE(contains(ncclGetLastError(comm), "cpu device")) << ncclGetLastError(comm);
  EXPECT_EQ(ncclDevCommCreate(comm, nullptr, nullptr), ncclInvalidUsage);
  EXPECT_TRUE(contains(ncclGetLastError(comm), "device API")) << ncclGetLastError(comm);
  EXPECT_EQ(ncclLLA2ACalcSlots(128, 8), -1);
  ncclSimInfo_t badSim = NCCL_SIM_INFO_INITIALIZER;
  badSim.magic = 0;
  ASSERT_EQ(ncclGroupStart(), ncclSuccess);
  EXPECT_EQ(ncclGroupSimulateEnd(&badSim), ncclInvalidArgument);
  EXPECT_TRUE(contains(ncclGetLastError(nullptr), "NCCL_SIM_INFO_INITIALIZER")) << ncclGetLastError(nullptr);
  EXPECT_EQ(ncclGroupEnd(), ncclInvalidUsage) << "the failed simulation must still have ended the group";
  EXPECT_EQ(ncclCommDestroy(comm), ncclSuccess);
}

TEST(NcclAbiLifecycle, RegistrationWindowsAndMemory) {
  ncclComm_t comm = nullptr;
  ASSERT_EQ(ncclCommInitAll(&comm, 1, nullptr), ncclSuccess) << ncclGetLastError(nullptr);
  std::vector<char> buf(1 << 16);
  void* handle = nullptr;
  ASSERT_EQ(ncclCommRegister(comm, buf.data(), buf.size(), &handle), ncclSuccess) << ncclGetLastError(comm);
  EXPECT_NE(handle, nullptr);
  EXPECT_EQ(ncclCommDeregister(comm, handle), ncclSuccess);
  EXPECT_EQ(ncclCommDeregister(comm, handle), ncclInvalidArgument) << "a handle deregistered twice";
  EXPECT_TRUE(contains(ncclGetLastError(comm), "not a live registration")) << ncclGetLastError(comm);
  EXPECT_EQ(ncclCommRegister(comm, nullptr, 16, &handle), ncclInvalidArgument);

  void* mem = nullptr;
  ASSERT_EQ(ncclMemAlloc(&mem, 1 << 20), ncclSuccess) << ncclGetLastError(nullptr);
  ASSERT_NE(mem, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(mem) % 64, 0u);
  std::memset(mem, 0x5a, 1 << 20);
  ncclWindow_t win = nullptr;
  ASSERT_EQ(ncclCommWindowRegister(comm, mem, 1 << 20, &win, NCCL_WIN_COLL_SYMMETRIC), ncclSuccess)
      << ncclGetLastError(comm);
  EXPECT_NE(win, nullptr);
  // The registered memory works as a collective buffer.
  auto* f = static_cast<float*>(mem);
  f[0] = 4.f;
  ASSERT_EQ(ncclAllReduce(f, f, 1, ncclFloat, ncclSum, comm, nullptr), ncclSuccess);
  EXPECT_EQ(f[0], 4.f);
  EXPECT_EQ(ncclCommWindowDeregister(comm, win), ncclSuccess);
  EXPECT_EQ(ncclCommWindowDeregister(comm, win), ncclInvalidArgument);
  EXPECT_EQ(ncclMemFree(mem), ncclSuccess);
  int notOurs = 0;
  EXPECT_EQ(ncclMemFree(&notOurs), ncclInvalidArgument);
  EXPECT_TRUE(contains(ncclGetLastError(nullptr), "not returned by")) << ncclGetLastError(nullptr);
  EXPECT_EQ(ncclCommDestroy(comm), ncclSuccess);
}

TEST(NcclAbiLifecycle, NonBlockingInitReportsProgressThenSuccess) {
  std::string problems = runRanks(4, [](int rank, int n, const ncclUniqueId& id) {
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    config.commName = "nonblocking-test";
    config.maxCTAs = 16;  // meaningless here: accepted
    ncclComm_t comm = nullptr;
    // Ranks 1..3 arrive late, so rank 0's init cannot have finished when it returns.
    if (rank != 0) usleep(300000);
    ncclResult_t rc = ncclCommInitRankConfig(&comm, n, id, rank, &config);
    NT_CHECK(rc == ncclInProgress || rc == ncclSuccess, "init returned %d: %s", rc, ncclGetLastError(nullptr));
    NT_CHECK(comm != nullptr, "no handle from a non-blocking init");
    if (rank == 0) {
      NT_CHECK(rc == ncclInProgress, "rank 0 returned %d before the others arrived", rc);
      ncclResult_t state = ncclSuccess;
      NT_OK(ncclCommGetAsyncError(comm, &state), comm);
      NT_CHECK(state == ncclInProgress, "async state %d while peers are missing", state);
      int count = 0;
      NT_CHECK(ncclCommCount(comm, &count) == ncclInvalidUsage, "a query on a communicator still being built");
      NT_CHECK(contains(ncclGetLastError(nullptr), "still being built"), "%s", ncclGetLastError(nullptr));
    }
    NT_CHECK(waitReady(comm) == ncclSuccess, "init ended with %s", ncclGetLastError(comm));
    float v = static_cast<float>(rank);
    rc = ncclAllReduce(&v, &v, 1, ncclFloat, ncclSum, comm, nullptr);
    NT_CHECK(rc == ncclSuccess || rc == ncclInProgress, "allreduce returned %d", rc);
    NT_CHECK(waitReady(comm) == ncclSuccess, "allreduce ended with %s", ncclGetLastError(comm));
    NT_CHECK(v == 6.f, "allreduce on a non-blocking communicator gave %g", v);

    // A non-blocking split child inherits non-blocking.
    ncclComm_t half = nullptr;
    rc = ncclCommSplit(comm, rank % 2, rank, &half, nullptr);
    NT_CHECK(rc == ncclInProgress || rc == ncclSuccess, "split returned %d: %s", rc, ncclGetLastError(comm));
    NT_CHECK(waitReady(half) == ncclSuccess, "split child: %s", ncclGetLastError(half));
    int count = 0;
    NT_OK(ncclCommCount(half, &count), half);
    NT_CHECK(count == 2, "split child has %d ranks", count);
    NT_OK(ncclCommDestroy(half), nullptr);
    NT_OK(ncclCommDestroy(comm), nullptr);
  });
  EXPECT_EQ(problems, "");
}

TEST(NcclAbiLifecycle, AbortEndsANonBlockingInitThatCannotFinish) {
  ncclUniqueId id;
  ASSERT_EQ(ncclGetUniqueId(&id), ncclSuccess);
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  ncclComm_t comm = nullptr;
  ASSERT_EQ(ncclCommInitRankConfig(&comm, 2, id, 0, &config), ncclInProgress);  // rank 1 never comes
  usleep(200000);
  ncclResult_t state = ncclSuccess;
  ASSERT_EQ(ncclCommGetAsyncError(comm, &state), ncclSuccess);
  EXPECT_EQ(state, ncclInProgress);
  auto start = Clock::now();
  EXPECT_EQ(ncclCommAbort(comm), ncclSuccess);
  EXPECT_LT(secondsSince(start), 10.0) << "abort waited for the init to time out";
}

TEST(NcclAbiLifecycle, SplitWithNoColorGivesNull) {
  std::string problems = runRanks(4, [](int rank, int n, const ncclUniqueId& id) {
    ncclComm_t comm = nullptr;
    NT_OK(ncclCommInitRank(&comm, n, id, rank), nullptr);
    // Ranks 0 and 2 (keys reversed), rank 3 alone, rank 1 in none.
    int color = rank == 1 ? NCCL_SPLIT_NOCOLOR : rank == 3 ? 1 : 0;
    ncclComm_t sub = reinterpret_cast<ncclComm_t>(0x1);
    NT_OK(ncclCommSplit(comm, color, -rank, &sub, nullptr), comm);
    if (rank == 1) {
      NT_CHECK(sub == nullptr, "NCCL_SPLIT_NOCOLOR gave a communicator");
    } else {
      NT_CHECK(sub != nullptr, "no communicator from split");
      int count = 0, me = -1;
      NT_OK(ncclCommCount(sub, &count), sub);
      NT_OK(ncclCommUserRank(sub, &me), sub);
      int wantCount = rank == 3 ? 1 : 2, wantRank = rank == 2 ? 0 : 0 + (rank == 0 ? 1 : 0);
      NT_CHECK(count == wantCount && me == wantRank, "rank %d: split gave rank %d of %d", rank, me, count);
      float v = static_cast<float>(rank + 1);
      NT_OK(ncclAllReduce(&v, &v, 1, ncclFloat, ncclSum, sub, nullptr), sub);
      NT_CHECK(v == (rank == 3 ? 4.f : 4.f), "split allreduce gave %g", v);  // 1+3 for {0,2}; 4 alone for 3
      NT_OK(ncclCommDestroy(sub), nullptr);
    }
    NT_OK(ncclCommDestroy(comm), nullptr);
  });
  EXPECT_EQ(problems, "");
}

TEST(NcclAbiLifecycle, ShrinkExcludesRanksThatAreGone) {
  std::string problems = runRanks(4, [](int rank, int n, const ncclUniqueId& id) {
    ncclComm_t comm = nullptr;
    NT_OK(ncclCommInitRank(&comm, n, id, rank), nullptr);
    float warm = 1;
    NT_OK(ncclAllReduce(&warm, &warm, 1, ncclFloat, ncclSum, comm, nullptr), comm);
    NT_CHECK(warm == 4.f, "allreduce before shrink gave %g", warm);
    if (rank == 2) _exit(0);  // gone without a word: shrink must not need it

    int exclude[] = {2};
    ncclComm_t bad = nullptr;
    int self[] = {rank};
    NT_CHECK(ncclCommShrink(comm, self, 1, &bad, nullptr, NCCL_SHRINK_DEFAULT) == ncclInvalidUsage,
             "a rank that excludes itself");
    NT_CHECK(contains(ncclGetLastError(comm), "only the ranks that stay"), "%s", ncclGetLastError(comm));
    ncclComm_t small = nullptr;
    NT_OK(ncclCommShrink(comm, exclude, 1, &small, nullptr, NCCL_SHRINK_DEFAULT), comm);
    int count = 0, me = -1;
    NT_OK(ncclCommCount(small, &count), small);
    NT_OK(ncclCommUserRank(small, &me), small);
    NT_CHECK(count == 3 && me == (rank < 2 ? rank : rank - 1), "rank %d became %d of %d", rank, me, count);
    float v = static_cast<float>(rank + 1);
    NT_OK(ncclAllReduce(&v, &v, 1, ncclFloat, ncclSum, small, nullptr), small);
    NT_CHECK(v == sumOf({0, 1, 3}), "allreduce on the shrunk communicator gave %g", v);
    NT_OK(ncclCommDestroy(small), nullptr);
    NT_OK(ncclCommAbort(comm), nullptr);
  });
  EXPECT_EQ(problems, "");
}

TEST(NcclAbiLifecycle, AbortFromAnotherThreadUnblocksACollective) {
  std::string problems = runRanks(2, [](int rank, int n, const ncclUniqueId& id) {
    ncclComm_t comm = nullptr;
    NT_OK(ncclCommInitRank(&comm, n, id, rank), nullptr);
    if (rank == 1) {
      usleep(3000000);  // never joins the collective; leaves after rank 0 has given up
      ncclCommAbort(comm);
      return;
    }
    std::atomic<bool> aborted{false};
    std::thread aborter([&] {
      usleep(500000);
      aborted = true;
      ncclCommAbort(comm);
    });
    std::vector<float> buf(1 << 16, 1.f);
    auto start = Clock::now();
    ncclResult_t rc = ncclAllReduce(buf.data(), buf.data(), buf.size(), ncclFloat, ncclSum, comm, nullptr);
    double waited = secondsSince(start);
    aborter.join();
    NT_CHECK(aborted.load(), "the collective returned before the abort");
    NT_CHECK(rc != ncclSuccess, "a collective whose peer never came returned success");
    NT_CHECK(waited < 5.0, "the collective returned %.1f s after it started, abort came at 0.5 s", waited);
    std::printf("abort from another thread: collective returned %d after %.2f s\n", rc, waited);
  });
  EXPECT_EQ(problems, "");
}

TEST(NcclAbiLifecycle, RevokeStopsAndRefusesThenDestroyFrees) {
  std::string problems = runRanks(2, [](int rank, int n, const ncclUniqueId& id) {
    ncclComm_t comm = nullptr;
    NT_OK(ncclCommInitRank(&comm, n, id, rank), nullptr);
    NT_CHECK(ncclCommRevoke(comm, 5) == ncclInvalidArgument, "revoke with unknown flags");
    NT_OK(ncclCommRevoke(comm, NCCL_REVOKE_DEFAULT), comm);
    float v = 1;
    NT_CHECK(ncclAllReduce(&v, &v, 1, ncclFloat, ncclSum, comm, nullptr) == ncclInvalidUsage, "collective after revoke");
    NT_CHECK(contains(ncclGetLastError(nullptr), "aborted"), "%s", ncclGetLastError(nullptr));
    NT_OK(ncclCommDestroy(comm), nullptr);
  });
  EXPECT_EQ(problems, "");
}

TEST(NcclAbiLifecycle, InitRankScalableWithOneId) {
  std::string problems = runRanks(3, [](int rank, int n, const ncclUniqueId& id) {
    ncclUniqueId ids[1] = {id};
    ncclComm_t comm = nullptr;
    NT_OK(ncclCommInitRankScalable(&comm, n, rank, 1, ids, nullptr), nullptr);
    int v = rank;
    NT_OK(ncclAllReduce(&v, &v, 1, ncclInt32, ncclMax, comm, nullptr), comm);
    NT_CHECK(v == 2, "max gave %d", v);
    NT_CHECK(ncclCommInitRankScalable(&comm, n, rank, 0, ids, nullptr) == ncclInvalidArgument, "nId 0");
    NT_OK(ncclCommDestroy(comm), nullptr);
  });
  EXPECT_EQ(problems, "");
}

// Run by its own ctest entry with NCCL_DEBUG=INFO, NCCL_DEBUG_FILE, NCCL_SHM_DISABLE=1, an NCCL_ALGO
// that names no algorithm, and an NCCL_* variable that means nothing to mixccl.
TEST(NcclEnvironment, NcclVariablesAreHonoured) {
  const char* file = std::getenv("NCCL_DEBUG_FILE");
  if (file == nullptr || std::getenv("MIXCCL_NCCL_ENV_TEST") == nullptr) GTEST_SKIP() << "run by nccl_env_test";
  ncclComm_t comms[2] = {};
  ASSERT_EQ(ncclCommInitAll(comms, 2, nullptr), ncclSuccess) << ncclGetLastError(nullptr);
  float v[2] = {1, 2};
  ASSERT_EQ(ncclGroupStart(), ncclSuccess);
  EXPECT_EQ(ncclAllReduce(&v[0], &v[0], 1, ncclFloat, ncclSum, comms[0], nullptr), ncclSuccess);
  EXPECT_EQ(ncclAllReduce(&v[1], &v[1], 1, ncclFloat, ncclSum, comms[1], nullptr), ncclSuccess);
  // NCCL_ALGO=allreduce:nosuch: the allreduce is refused, naming the variable's request.
  EXPECT_EQ(ncclGroupEnd(), ncclInvalidArgument);
  EXPECT_TRUE(contains(ncclGetLastError(nullptr), "'nosuch'")) << ncclGetLastError(nullptr);
  EXPECT_EQ(ncclCommDestroy(comms[0]), ncclSuccess);
  EXPECT_EQ(ncclCommDestroy(comms[1]), ncclSuccess);

  std::string expanded = file;
  size_t p = expanded.find("%p");
  if (p != std::string::npos) expanded.replace(p, 2, std::to_string(getpid()));
  std::ifstream in(expanded);
  ASSERT_TRUE(in.good()) << "NCCL_DEBUG_FILE " << expanded << " was not written";
  std::stringstream ss;
  ss << in.rdbuf();
  std::string log = ss.str();
  EXPECT_NE(log.find("implementing the NCCL 2.28.9 ABI"), std::string::npos) << log;  // NCCL_DEBUG >= VERSION
  EXPECT_NE(log.find("shm peers [-], socket peers [1]"), std::string::npos) << log;   // NCCL_SHM_DISABLE=1
  std::string unknown = "NCCL_MIXCCL_TEST_UNKNOWN=42 is set; it has no meaning";
  size_t first = log.find(unknown);
  EXPECT_NE(first, std::string::npos) << log;
  EXPECT_EQ(log.find(unknown, first + 1), std::string::npos) << "logged more than once";
  EXPECT_NE(log.find("'BOGUS' is not an NCCL subsystem"), std::string::npos) << log;  // NCCL_DEBUG_SUBSYS checked
  std::remove(expanded.c_str());
}
