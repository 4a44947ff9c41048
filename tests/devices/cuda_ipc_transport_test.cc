// The cuda_ipc transport without a GPU: forked ranks, a real bootstrap over socketpairs, and a
// Device test double whose memory really is shared between the processes (shm_ipc_device.h). What
// is checked here is the transport's own logic: the handle exchange, ring slots and flow control,
// message order, the event protocol, error paths, and which pairs the communicator gives it.
// The CUDA calls behind the Device interface (cudaIpc*) run only on a GPU (scripts/gpu-check.sh).
#include <gtest/gtest.h>

#include <cstdlib>
#include <numeric>
#include <vector>

#include "backends/transports/cuda_ipc/cuda_ipc_transport.h"
#include "tests/devices/shm_ipc_device.h"
#include "tests/transport_test_harness.h"

namespace mixccl::test {
namespace {

uint64_t freshHash() {
  return (static_cast<uint64_t>(getpid()) << 32) ^ static_cast<uint64_t>(Clock::now().time_since_epoch().count());
}

TransportContext contextFor(MeshBootstrap& boot, uint64_t hash, Device* dev) {
  TransportContext ctx;
  ctx.bootstrap = &boot;
  ctx.rank = boot.rank();
  ctx.nranks = boot.nranks();
  ctx.commHash = hash;
  ctx.timeoutSeconds = 30;
  ctx.bindAddress = "127.0.0.1";
  ctx.device = dev;
  return ctx;
}

std::vector<int> othersOf(int rank, int n) {
  std::vector<int> v;
  for (int p = 0; p < n; ++p)
    if (p != rank) v.push_back(p);
  return v;
}

int32_t pattern(int src, int dst, int msg, size_t i) {
  return static_cast<int32_t>(src * 1000003 + dst * 7919 + msg * 104729 + static_cast<int>(i));
}

// Every rank sends `msgs` messages of `counts[m]` int32 to every peer and receives as many; odd
// messages are received through a reduction (dst = acc + received) like a reduce-scatter step.
int exchange(int rank, MeshBootstrap& boot, uint64_t hash, const std::vector<size_t>& counts) {
  int n = boot.nranks();
  ShmIpcDevice dev;
  std::unique_ptr<Transport> t;
  Status st = createCudaIpcTransport(contextFor(boot, hash, &dev), othersOf(rank, n), &t);
  RANK_CHECK(st.isOk(), 2, "create: %s", st.message().c_str());
  RANK_CHECK(std::string(t->name()) == "cuda_ipc", 3, "name %s", t->name());
  RANK_CHECK(t->link(rank) == nullptr, 4, "a link to itself");
  RANK_CHECK(dev.ownedCount() == 1, 5, "one buffer for every peer's ring, got %zu", dev.ownedCount());
  RANK_CHECK(dev.importedCount() == static_cast<size_t>(n - 1), 6, "imported %zu", dev.importedCount());

  std::vector<std::vector<int32_t>> out, in, acc;
  std::vector<std::unique_ptr<Transfer>> xs;
  size_t chunks = 0;
  for (int p : othersOf(rank, n)) {
    for (size_t m = 0; m < counts.size(); ++m) {
      out.emplace_back(counts[m]);
      for (size_t i = 0; i < counts[m]; ++i) out.back()[i] = pattern(rank, p, static_cast<int>(m), i);
      MessageSource s;
      s.bytes = counts[m] * 4;
      chunks += (s.bytes + 4095) / 4096;
      const int32_t* src = out.back().data();
      s.read = [&dev, src](void* dst, size_t off, size_t len) {
        return dev.copy(dst, reinterpret_cast<const char*>(src) + off, len);
      };
      xs.push_back(t->link(p)->send(std::move(s)));
    }
  }
  in.reserve(counts.size() * n);
  acc.reserve(counts.size() * n);
  for (int p : othersOf(rank, n)) {
    for (size_t m = 0; m < counts.size(); ++m) {
      in.emplace_back(counts[m], -1);
      acc.emplace_back(counts[m]);
      std::iota(acc.back().begin(), acc.back().end(), 0);
      MessageSink k;
      k.bytes = counts[m] * 4;
      k.granule = 4;
      char* dst = reinterpret_cast<char*>(in.back().data());
      const char* a = reinterpret_cast<const char*>(acc.back().data());
      if (m % 2 == 0) {
        k.consume = [&dev, dst](const void* src, size_t off, size_t len) { return dev.copy(dst + off, src, len); };
      } else {
        k.consume = [&dev, dst, a](const void* src, size_t off, size_t len) {
          return dev.reduce(dst + off, a + off, src, len / 4, mixcclInt32, ReduceOp::Sum);
        };
      }
      xs.push_back(t->link(p)->recv(std::move(k)));
    }
  }
  st = drive(t.get(), xs, 30);
  RANK_CHECK(st.isOk(), 7, "drive: %s", st.message().c_str());
  size_t at = 0;
  for (int p : othersOf(rank, n)) {
    for (size_t m = 0; m < counts.size(); ++m, ++at) {
      for (size_t i = 0; i < counts[m]; ++i) {
        int32_t want = pattern(p, rank, static_cast<int>(m), i) + (m % 2 == 1 ? static_cast<int32_t>(i) : 0);
        RANK_CHECK(in[at][i] == want, 8, "from %d msg %zu element %zu: %d, want %d", p, m, i, in[at][i], want);
      }
    }
  }
  // The protocol: one event record per chunk sent, one wait per chunk received (same chunking).
  RANK_CHECK(static_cast<size_t>(dev.records) == chunks, 9, "records %d, chunks sent %zu", dev.records, chunks);
  RANK_CHECK(static_cast<size_t>(dev.waits) == chunks, 10, "waits %d, chunks received %zu", dev.waits, chunks);
  RANK_CHECK(dev.importedEvents == n - 1, 11, "imported events %d", dev.importedEvents);
  t.reset();
  RANK_CHECK(dev.importedCount() == 0 && dev.ownedCount() == 0, 12, "left mapped: %zu imported, %zu owned",
             dev.importedCount(), dev.ownedCount());
  RANK_CHECK(dev.destroyedEvents == n, 13, "destroyed events %d", dev.destroyedEvents);
  return 0;
}

class CudaIpcTransport : public ::testing::Test {
 protected:
  void SetUp() override {
    // Small rings so that every message wraps them several times (flow control, slot reuse).
    setenv("MIXCCL_CUDA_IPC_CHUNK", "4096", 1);
    setenv("MIXCCL_CUDA_IPC_SLOTS", "2", 1);
  }
  void TearDown() override {
    unsetenv("MIXCCL_CUDA_IPC_CHUNK");
    unsetenv("MIXCCL_CUDA_IPC_SLOTS");
  }
};

TEST_F(CudaIpcTransport, TwoRanksManyChunksInOrder) {
  uint64_t h = freshHash();
  std::vector<size_t> counts = {1, 1024, 3333, 7, 10000};  // 1 chunk .. 10 chunks of 4 KiB
  auto codes = runRanks(2, [&](int r, MeshBootstrap& b) { return exchange(r, b, h, counts); }, 60);
  EXPECT_EQ(codes, std::vector<int>({0, 0}));
}

TEST_F(CudaIpcTransport, FourRanksAllPairs) {
  uint64_t h = freshHash();
  std::vector<size_t> counts = {5000, 1, 2048};
  auto codes = runRanks(4, [&](int r, MeshBootstrap& b) { return exchange(r, b, h, counts); }, 60);
  EXPECT_EQ(codes, std::vector<int>({0, 0, 0, 0}));
}

TEST_F(CudaIpcTransport, SizeMismatchIsAnErrorNamingThePeer) {
  uint64_t h = freshHash();
  auto codes = runRanks(2, [&](int rank, MeshBootstrap& boot) {
    ShmIpcDevice dev;
    std::unique_ptr<Transport> t;
    Status st = createCudaIpcTransport(contextFor(boot, h, &dev), {1 - rank}, &t);
    RANK_CHECK(st.isOk(), 2, "%s", st.message().c_str());
    std::vector<char> buf(4096 * 3, 1);
    std::vector<std::unique_ptr<Transfer>> xs;
    if (rank == 0) {
      MessageSource s;
      s.bytes = buf.size();
      s.read = [&](void* dst, size_t off, size_t len) { return dev.copy(dst, buf.data() + off, len); };
      xs.push_back(t->link(1)->send(std::move(s)));
      st = drive(t.get(), xs, 0.5);  // the receiver refuses: the ring fills and this times out
      return 0;
    }
    MessageSink k;
    k.bytes = 4096;
    k.consume = [&](const void* src, size_t off, size_t len) { return dev.copy(buf.data() + off, src, len); };
    xs.push_back(t->link(0)->recv(std::move(k)));
    st = drive(t.get(), xs, 10);
    RANK_CHECK(!st.isOk(), 3, "a 12 KiB message was accepted as 4 KiB");
    RANK_CHECK(st.message().find("rank 0 sent a message of 12288 bytes") != std::string::npos &&
                   st.message().find("expects 4096") != std::string::npos,
               4, "message: %s", st.message().c_str());
    return 0;
  }, 60);
  EXPECT_EQ(codes, std::vector<int>({0, 0}));
}

TEST_F(CudaIpcTransport, DisagreeingRingSettingsFailEveryRank) {
  uint64_t h = freshHash();
  auto codes = runRanks(3, [&](int rank, MeshBootstrap& boot) {
    if (rank == 2) setenv("MIXCCL_CUDA_IPC_SLOTS", "3", 1);
    ShmIpcDevice dev;
    std::unique_ptr<Transport> t;
    Status st = createCudaIpcTransport(contextFor(boot, h, &dev), othersOf(rank, 3), &t);
    RANK_CHECK(!st.isOk(), 2, "rings of 2 and 3 slots were accepted");
    RANK_CHECK(st.message().find("MIXCCL_CUDA_IPC_SLOTS") != std::string::npos ||
                   st.message().find("could not map") != std::string::npos,
               3, "message: %s", st.message().c_str());
    return 0;
  }, 60);
  EXPECT_EQ(codes, std::vector<int>({0, 0, 0}));
}

TEST_F(CudaIpcTransport, BadSettingOrNoIpcFailsEveryRankWithoutHanging) {
  uint64_t h = freshHash();
  auto codes = runRanks(2, [&](int rank, MeshBootstrap& boot) {
    if (rank == 0) setenv("MIXCCL_CUDA_IPC_SLOTS", "99", 1);
    ShmIpcDevice dev;
    std::unique_ptr<Transport> t;
    Status st = createCudaIpcTransport(contextFor(boot, h, &dev), {1 - rank}, &t);
    RANK_CHECK(!st.isOk(), 2, "accepted");
    if (rank == 0) RANK_CHECK(st.message().find("MIXCCL_CUDA_IPC_SLOTS=99 is out of range") != std::string::npos, 3, "%s", st.message().c_str());
    if (rank == 1) RANK_CHECK(st.message().find("rank 0 could not set up") != std::string::npos, 4, "%s", st.message().c_str());
    return 0;
  }, 60);
  EXPECT_EQ(codes, std::vector<int>({0, 0}));
  h = freshHash();
  codes = runRanks(2, [&](int rank, MeshBootstrap& boot) {
    ShmIpcDevice dev(/*ipc=*/rank == 0);
    std::unique_ptr<Transport> t;
    Status st = createCudaIpcTransport(contextFor(boot, h, &dev), {1 - rank}, &t);
    RANK_CHECK(!st.isOk(), 2, "accepted a device without IPC");
    if (rank == 1) RANK_CHECK(st.message().find("cannot share memory") != std::string::npos, 3, "%s", st.message().c_str());
    return 0;
  }, 60);
  EXPECT_EQ(codes, std::vector<int>({0, 0}));
}

TEST(CudaIpcSelection, OnlyIpcCapableCudaPairsOnOneHost) {
  CudaIpcRankFacts cuda;
  cuda.sameHostAsOther = true;
  cuda.deviceKind = "cuda";
  cuda.deviceSupportsIpc = true;
  EXPECT_TRUE(cudaIpcServesPair(cuda, cuda));
  CudaIpcRankFacts other = cuda;
  for (const char* k : {"cpu", "emu", "hip"}) {
    other.deviceKind = k;
    EXPECT_FALSE(cudaIpcServesPair(cuda, other)) << k << ": cuda with another kind stays staged through the host";
  }
  other = cuda;
  other.sameHostAsOther = false;
  CudaIpcRankFacts remote = cuda;
  remote.sameHostAsOther = false;
  EXPECT_FALSE(cudaIpcServesPair(remote, other)) << "different hosts";
  other = cuda;
  other.deviceSupportsIpc = false;
  EXPECT_FALSE(cudaIpcServesPair(cuda, other));
  other = cuda;
  other.autoTransport = false;  // MIXCCL_TRANSPORT=shm/socket/ucx/ofi on either rank wins
  EXPECT_FALSE(cudaIpcServesPair(other, cuda));
  other = cuda;
  other.ipcEnabled = false;  // MIXCCL_CUDA_IPC=0
  EXPECT_FALSE(cudaIpcServesPair(cuda, other));
}

TEST(CudaIpcSelection, GeometryFromTheEnvironment) {
  CudaIpcGeometry g;
  ASSERT_TRUE(readCudaIpcGeometry(&g).isOk());
  EXPECT_EQ(g.slotBytes, 4u << 20);
  EXPECT_EQ(g.slots, 4u);
  setenv("MIXCCL_CUDA_IPC_CHUNK", "100000", 1);
  ASSERT_TRUE(readCudaIpcGeometry(&g).isOk());
  EXPECT_EQ(g.slotBytes % 64, 0u);
  setenv("MIXCCL_CUDA_IPC_CHUNK", "100", 1);
  Status st = readCudaIpcGeometry(&g);
  EXPECT_NE(st.message().find("MIXCCL_CUDA_IPC_CHUNK=100 is out of range"), std::string::npos) << st.message();
  unsetenv("MIXCCL_CUDA_IPC_CHUNK");
}

}  // namespace
}  // namespace mixccl::test
