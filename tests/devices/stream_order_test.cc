// Stream-ordered collectives on a device with streams, proven on emu (the same core path serves
// cuda and hip): the call returns before its inputs are even ready, the collective reads them only
// after the user's stream has produced them, and work queued after the call sees the result.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "backends/devices/plugin/plugin_loader.h"
#include "core/comm.h"
#include "mixccl_device_plugin.h"
#include "tests/mp_harness.h"
#include "tests/reference.h"

namespace mixccl_test {
namespace {

// A 2-rank communicator: rank 0 on the cpu, rank 1 on an emu slowed to 0.05 GB/s, so that device
// work queued on a stream is certainly still running when the calls that queued it return.
mixcclComm_t initCpuAndSlowEmu(int rank, int nranks, const mixcclUniqueId& id) {
  const bool emu = rank == 1;
  if (emu) setenv("MIXCCL_EMU_GBPS", "0.05", 1);
  mixcclConfig_t config = MIXCCL_CONFIG_INITIALIZER;
  config.deviceKind = emu ? "emu" : "cpu";
  mixcclComm_t comm = nullptr;
  MP_CHECK_OK(mixcclCommInitRankConfig(&comm, nranks, id, rank, &config), comm);
  return comm;
}

TEST(StreamOrder, EmuCollectivesFollowTheUsersStream) {
  constexpr size_t kCount = 1 << 20;  // int32: 4 MiB, about 80 ms per copy at 0.05 GB/s
  const uint64_t seed = 7;
  RunSummary summary = runRanks(2, [&](int rank, int nranks, const mixcclUniqueId& id) {
    const bool emu = rank == 1;  // its input copy is still running when the calls return
    mixcclComm_t comm = initCpuAndSlowEmu(rank, nranks, id);
    mixccl::Device* dev = comm->device.get();
    const size_t bytes = kCount * sizeof(int32_t);
    std::vector<unsigned char> in(bytes), out(bytes), out2(bytes);
    fillInput(mixcclInt32, Reduction::Sum, seed, rank, nranks, 0, kCount, in.data());
    void *send = nullptr, *recv = nullptr, *recv2 = nullptr;
    MP_CHECK(dev->allocate(bytes, &send).isOk() && dev->allocate(bytes, &recv).isOk() &&
                 dev->allocate(bytes, &recv2).isOk(), "allocate");
    if (!emu) {
      MP_CHECK(dev->copy(send, in.data(), bytes).isOk(), "upload");
      MP_CHECK_OK(mixcclAllReduce(send, recv, kCount, mixcclInt32, mixcclSum, comm, nullptr), comm);
      MP_CHECK_OK(mixcclBroadcast(recv, recv2, kCount, mixcclInt32, 0, comm, nullptr), comm);
      MP_CHECK(dev->copy(out2.data(), recv2, bytes).isOk(), "download");
    } else {
      const mixccl::LoadedPlugin* plugin = nullptr;
      MP_CHECK(mixccl::loadDevicePlugin("emu", "", &plugin).isOk(), "load emu");
      const mixccl_device_plugin_v1* t = plugin->table;
      mixcclPluginStream_t s = nullptr;
      mixcclPluginEvent_t after = nullptr;
      MP_CHECK(t->streamCreate(0, &s) == MIXCCL_PLUGIN_OK && t->eventCreate(0, &after) == MIXCCL_PLUGIN_OK, "stream");
      // The user's stream: input upload, the two collectives, the result download.
      MP_CHECK(t->memcpyAsync(send, in.data(), bytes, MIXCCL_PLUGIN_HOST_TO_DEVICE, s) == MIXCCL_PLUGIN_OK, "upload");
      MP_CHECK_OK(mixcclAllReduce(send, recv, kCount, mixcclInt32, mixcclSum, comm, s), comm);
      MP_CHECK_OK(mixcclBroadcast(recv, recv2, kCount, mixcclInt32, 0, comm, s), comm);
      MP_CHECK(t->eventRecord(after, s) == MIXCCL_PLUGIN_OK, "record");
      int done = 1;
      MP_CHECK(t->eventQuery(after, &done) == MIXCCL_PLUGIN_OK, "query");
      MP_EXPECT(done == 0, "the calls must return before the stream has run the collectives");
      MP_CHECK(t->memcpyAsync(out.data(), recv, bytes, MIXCCL_PLUGIN_DEVICE_TO_HOST, s) == MIXCCL_PLUGIN_OK, "dl");
      MP_CHECK(t->memcpyAsync(out2.data(), recv2, bytes, MIXCCL_PLUGIN_DEVICE_TO_HOST, s) == MIXCCL_PLUGIN_OK, "dl");
      MP_CHECK(t->streamSynchronize(s) == MIXCCL_PLUGIN_OK, "sync: %s", t->lastError());
      MP_EXPECT(checkReduction(mixcclInt32, Reduction::Sum, seed, nranks, 0, kCount, out.data(), "all-reduce") == 0,
                "all-reduce result");
      (void)t->eventDestroy(after);
      (void)t->streamDestroy(s);
    }
    MP_EXPECT(checkReduction(mixcclInt32, Reduction::Sum, seed, nranks, 0, kCount, out2.data(), "broadcast") == 0,
              "broadcast of the all-reduce result");
    mixcclResult_t async = mixcclInProgress;
    MP_CHECK_OK(mixcclCommGetAsyncError(comm, &async), comm);
    MP_EXPECT(async == mixcclSuccess, "async error %d", static_cast<int>(async));
    dev->release(send);
    dev->release(recv);
    dev->release(recv2);
    MP_CHECK_OK(mixcclCommDestroy(comm), comm);
  });
  EXPECT_TRUE(summary.ok()) << summary.describe();
}

// A call without a stream runs on the caller's thread (plugins: NULL means "no stream"), but after
// the communicator's earlier stream-ordered calls, which the proxy thread may still be running: the
// two must not use the links and scratch space at the same time.
TEST(StreamOrder, ACallWithoutAStreamWaitsForEarlierStreamOrderedCalls) {
  constexpr size_t kCount = 1 << 19;  // int32: 2 MiB, about 40 ms per copy at 0.05 GB/s
  const uint64_t seedStream = 11, seedNow = 12;
  RunSummary summary = runRanks(2, [&](int rank, int nranks, const mixcclUniqueId& id) {
    const bool emu = rank == 1;  // its proxy is still busy at the second call
    mixcclComm_t comm = initCpuAndSlowEmu(rank, nranks, id);
    mixccl::Device* dev = comm->device.get();
    const size_t bytes = kCount * sizeof(int32_t);
    std::vector<unsigned char> inA(bytes), inB(bytes), outA(bytes), outB(bytes);
    fillInput(mixcclInt32, Reduction::Sum, seedStream, rank, nranks, 0, kCount, inA.data());
    fillInput(mixcclInt32, Reduction::Sum, seedNow, rank, nranks, 0, kCount, inB.data());
    void *a = nullptr, *b = nullptr;
    MP_CHECK(dev->allocate(bytes, &a).isOk() && dev->allocate(bytes, &b).isOk(), "allocate");
    MP_CHECK(dev->copy(a, inA.data(), bytes).isOk() && dev->copy(b, inB.data(), bytes).isOk(), "upload");
    if (!emu) {
      MP_CHECK_OK(mixcclAllReduce(a, a, kCount, mixcclInt32, mixcclSum, comm, nullptr), comm);
      MP_CHECK_OK(mixcclAllReduce(b, b, kCount, mixcclInt32, mixcclSum, comm, nullptr), comm);
      MP_CHECK(dev->copy(outA.data(), a, bytes).isOk() && dev->copy(outB.data(), b, bytes).isOk(), "download");
    } else {
      const mixccl::LoadedPlugin* plugin = nullptr;
      MP_CHECK(mixccl::loadDevicePlugin("emu", "", &plugin).isOk(), "load emu");
      const mixccl_device_plugin_v1* t = plugin->table;
      mixcclPluginStream_t s = nullptr;
      MP_CHECK(t->streamCreate(0, &s) == MIXCCL_PLUGIN_OK, "stream");
      MP_CHECK_OK(mixcclAllReduce(a, a, kCount, mixcclInt32, mixcclSum, comm, s), comm);
      // No stream: when this returns, its result is there, and it ran after the call above.
      MP_CHECK_OK(mixcclAllReduce(b, b, kCount, mixcclInt32, mixcclSum, comm, nullptr), comm);
      MP_CHECK(dev->copy(outB.data(), b, bytes).isOk(), "download");
      MP_CHECK(t->memcpyAsync(outA.data(), a, bytes, MIXCCL_PLUGIN_DEVICE_TO_HOST, s) == MIXCCL_PLUGIN_OK, "dl");
      MP_CHECK(t->streamSynchronize(s) == MIXCCL_PLUGIN_OK, "sync: %s", t->lastError());
      (void)t->streamDestroy(s);
    }
    MP_EXPECT(checkReduction(mixcclInt32, Reduction::Sum, seedStream, nranks, 0, kCount, outA.data(),
                             "stream-ordered all-reduce") == 0, "the stream-ordered call's result");
    MP_EXPECT(checkReduction(mixcclInt32, Reduction::Sum, seedNow, nranks, 0, kCount, outB.data(),
                             "all-reduce without a stream") == 0, "the call without a stream's result");
    mixcclResult_t async = mixcclInProgress;
    MP_CHECK_OK(mixcclCommGetAsyncError(comm, &async), comm);
    MP_EXPECT(async == mixcclSuccess, "async error %d", static_cast<int>(async));
    dev->release(a);
    dev->release(b);
    MP_CHECK_OK(mixcclCommDestroy(comm), comm);
  });
  EXPECT_TRUE(summary.ok()) << summary.describe();
}

}  // namespace
}  // namespace mixccl_test
