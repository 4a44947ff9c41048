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

TEST(StreamOrder, EmuCollectivesFollowTheUsersStream) {
  constexpr size_t kCount = 1 << 20;  // int32: 4 MiB, about 80 ms per copy at 0.05 GB/s
  const uint64_t seed = 7;
  RunSummary summary = runRanks(2, [&](int rank, int nranks, const mixcclUniqueId& id) {
    const bool emu = rank == 1;
    // Slow emu down so that its input copy is certainly still running when the calls return.
    if (emu) setenv("MIXCCL_EMU_GBPS", "0.05", 1);
    mixcclConfig_t config = MIXCCL_CONFIG_INITIALIZER;
    config.deviceKind = emu ? "emu" : "cpu";
    mixcclComm_t comm = nullptr;
    MP_CHECK_OK(mixcclCommInitRankConfig(&comm, nranks, id, rank, &config), comm);
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

}  // namespace
}  // namespace mixccl_test
