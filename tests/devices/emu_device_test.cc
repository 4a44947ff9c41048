// The emu accelerator through PluginDevice (the way mixccl's core uses it) and through its raw
// plugin table: memory that faults when touched directly, copies in every direction, reductions
// for every type and operator, staging of host operands, streams and events, IPC and throttling.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <csignal>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "backends/devices/device_factory.h"
#include "backends/devices/plugin/plugin_loader.h"
#include "mixccl.h"
#include "mixccl_device_plugin.h"

namespace mixccl {
namespace {

std::unique_ptr<Device> emu(int ordinal = 0) {
  std::unique_ptr<Device> d;
  Status st = createDevice("emu", ordinal, 1, "", &d);
  EXPECT_TRUE(st.isOk()) << st.message();
  return d;
}

const mixccl_device_plugin_v1* table() {
  const LoadedPlugin* p = nullptr;
  Status st = loadDevicePlugin("emu", "", &p);
  EXPECT_TRUE(st.isOk()) << st.message();
  return p->table;
}

std::vector<unsigned char> randomBytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<unsigned char> v(n);
  for (auto& b : v) b = static_cast<unsigned char>(rng());
  return v;
}

TEST(EmuDevice, IdentifiesAsANonHostAccessibleDevice) {
  auto d = emu(2);
  EXPECT_STREQ(d->kind(), "emu");
  EXPECT_EQ(d->ordinal(), 2);
  EXPECT_FALSE(d->hostAccessible());
  void* p = nullptr;
  ASSERT_TRUE(d->allocate(1000, &p).isOk());
  EXPECT_TRUE(d->owns(p));
  EXPECT_TRUE(d->owns(static_cast<char*>(p) + 999));
  int local = 0;
  EXPECT_FALSE(d->owns(&local));
  EXPECT_FALSE(emu(1)->owns(p)) << "device 1 must not claim device 2's memory";
  d->release(p);
}

// A fault on emu memory kills the process by SIGSEGV (SIGBUS on some kernels). The child first puts
// both signals back to their default action: libucs (linked in with the ucx transport) installs a
// SIGSEGV handler at load time that prints a backtrace and exits 1, and under ThreadSanitizer that
// handler's free() is reported as a signal-unsafe call (exit 66). With the default action nothing
// runs in between, so only the kernel's kill by the fault itself passes; an exit of any kind (0, or 3
// for a failed allocation) is a failure of the test. The sanitizers let a program reset these
// handlers (allow_user_segv_handler is on by default in GCC's runtimes).
static bool diedOfMemoryFault(int status) {
  return WIFSIGNALED(status) && (WTERMSIG(status) == SIGSEGV || WTERMSIG(status) == SIGBUS);
}

static void defaultFaultHandlers() {
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(SIGSEGV, &dfl, nullptr);
  sigaction(SIGBUS, &dfl, nullptr);
}

// What the core may never do, done on purpose: a direct load or store through an emu pointer.
TEST(EmuDeviceDeathTest, DirectAccessToDeviceMemoryCrashes) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        defaultFaultHandlers();
        auto d = emu();
        void* p = nullptr;
        if (!d->allocate(4096, &p).isOk()) std::exit(3);
        volatile unsigned char x = *static_cast<volatile unsigned char*>(p);
        (void)x;
        std::exit(0);
      },
      diedOfMemoryFault, "");
  // The cpu backend's copy is what the core would use on host memory: given emu memory, it faults.
  EXPECT_EXIT(
      {
        defaultFaultHandlers();
        auto d = emu();
        void* p = nullptr;
        if (!d->allocate(4096, &p).isOk()) std::exit(3);
        std::vector<unsigned char> host(4096);
        (void)createCpuDevice(0, 1)->copy(host.data(), p, host.size());
        std::exit(0);
      },
      diedOfMemoryFault, "");
}

TEST(EmuDevice, CopiesInEveryDirection) {
  auto d = emu();
  const size_t n = (3 << 20) + 17;
  auto src = randomBytes(n, 1);
  void *a = nullptr, *b = nullptr;
  ASSERT_TRUE(d->allocate(n, &a).isOk());
  ASSERT_TRUE(d->allocate(n, &b).isOk());
  ASSERT_TRUE(d->copy(a, src.data(), n).isOk());  // host to device
  ASSERT_TRUE(d->copy(b, a, n).isOk());           // device to device
  std::vector<unsigned char> back(n);
  ASSERT_TRUE(d->copy(back.data(), b, n).isOk());  // device to host
  EXPECT_EQ(back, src);
  std::vector<unsigned char> host2(n);
  ASSERT_TRUE(d->copy(host2.data(), src.data(), n).isOk());  // host to host
  EXPECT_EQ(host2, src);
  d->release(a);
  d->release(b);
}

// Every type and operator, device operands and host operands (staged), against the cpu backend.
TEST(EmuDevice, ReducesEveryTypeAndOperatorLikeTheCpuBackend) {
  auto d = emu();
  auto cpu = createCpuDevice(0, 1);
  const size_t count = 4099;
  for (int t = 0; t < mixcclNumTypes; ++t) {
    auto type = static_cast<mixcclDataType_t>(t);
    size_t bytes = count * dataTypeSize(type);
    auto a = randomBytes(bytes, 10 + t), b = randomBytes(bytes, 20 + t);
    if (isFloatingType(type)) {  // small integers stored as the type: no NaN patterns
      for (size_t i = 0; i < count; ++i) {
        encodeScalar(double(int(i % 13) - 6), type, a.data() + i * dataTypeSize(type));
        encodeScalar(double(int(i % 7) - 3), type, b.data() + i * dataTypeSize(type));
      }
    }
    void *da = nullptr, *db = nullptr, *dd = nullptr;
    ASSERT_TRUE(d->allocate(bytes, &da).isOk());
    ASSERT_TRUE(d->allocate(bytes, &db).isOk());
    ASSERT_TRUE(d->allocate(bytes, &dd).isOk());
    ASSERT_TRUE(d->copy(da, a.data(), bytes).isOk());
    ASSERT_TRUE(d->copy(db, b.data(), bytes).isOk());
    for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Prod, ReduceOp::Max, ReduceOp::Min}) {
      std::vector<unsigned char> want(bytes), got(bytes), got2(bytes);
      ASSERT_TRUE(cpu->reduce(want.data(), a.data(), b.data(), count, type, op).isOk());
      ASSERT_TRUE(d->reduce(dd, da, db, count, type, op).isOk());
      ASSERT_TRUE(d->copy(got.data(), dd, bytes).isOk());
      EXPECT_EQ(got, want) << dataTypeName(type) << " " << reduceOpName(op) << " (device operands)";
      // A host operand (as from a transport's buffer) and a host destination.
      ASSERT_TRUE(d->reduce(got2.data(), da, b.data(), count, type, op).isOk());
      EXPECT_EQ(got2, want) << dataTypeName(type) << " " << reduceOpName(op) << " (host operand and destination)";
    }
    unsigned char scalar[8];
    encodeScalar(isFloatingType(type) ? 0.5 : 3.0, type, scalar);
    std::vector<unsigned char> want(bytes), got(bytes);
    ASSERT_TRUE(cpu->scale(want.data(), a.data(), count, type, scalar).isOk());
    ASSERT_TRUE(d->scale(dd, da, count, type, scalar).isOk());
    ASSERT_TRUE(d->copy(got.data(), dd, bytes).isOk());
    EXPECT_EQ(got, want) << dataTypeName(type) << " scale";
    if (!isFloatingType(type)) {
      ASSERT_TRUE(cpu->divide(want.data(), a.data(), count, type, 3).isOk());
      ASSERT_TRUE(d->divide(dd, da, count, type, 3).isOk());
      ASSERT_TRUE(d->copy(got.data(), dd, bytes).isOk());
      EXPECT_EQ(got, want) << dataTypeName(type) << " divide";
    }
    d->release(da);
    d->release(db);
    d->release(dd);
  }
}

TEST(EmuDevice, ReportsPluginErrorsAsSentences) {
  auto d = emu();
  void* p = nullptr;
  Status st = d->allocate(size_t{1} << 60, &p);
  EXPECT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("has no free range"), std::string::npos) << st.message();
  const mixccl_device_plugin_v1* t = table();
  mixcclPluginStream_t s = nullptr;
  ASSERT_EQ(t->streamCreate(0, &s), MIXCCL_PLUGIN_OK);
  int host[4] = {};
  // A reduction whose operands are host memory is refused, not crashed on.
  EXPECT_EQ(t->reduceAsync(host, host, host, 4, MIXCCL_PLUGIN_INT32, MIXCCL_PLUGIN_SUM, s), MIXCCL_PLUGIN_INVALID);
  EXPECT_NE(std::string(t->lastError()).find("is not emu device memory"), std::string::npos) << t->lastError();
  EXPECT_EQ(t->memcpyAsync(host, host, 16, MIXCCL_PLUGIN_HOST_TO_DEVICE, s), MIXCCL_PLUGIN_INVALID);
  EXPECT_EQ(t->identify(99, nullptr), MIXCCL_PLUGIN_INVALID);
  EXPECT_EQ(t->streamDestroy(s), MIXCCL_PLUGIN_OK);
}

TEST(EmuPlugin, StreamsRunInOrderAndEventsOrderStreams) {
  const mixccl_device_plugin_v1* t = table();
  mixcclPluginStream_t s1 = nullptr, s2 = nullptr;
  mixcclPluginEvent_t ev = nullptr;
  ASSERT_EQ(t->streamCreate(0, &s1), MIXCCL_PLUGIN_OK);
  ASSERT_EQ(t->streamCreate(0, &s2), MIXCCL_PLUGIN_OK);
  ASSERT_EQ(t->eventCreate(0, &ev), MIXCCL_PLUGIN_OK);
  const size_t n = 8 << 20;
  void *a = nullptr, *b = nullptr;
  ASSERT_EQ(t->memAlloc(0, n, &a), MIXCCL_PLUGIN_OK);
  ASSERT_EQ(t->memAlloc(0, n, &b), MIXCCL_PLUGIN_OK);
  std::vector<unsigned char> x(n, 7), y(n, 0);
  // s1: host -> a, then event; s2 waits for the event, then a -> b -> host.
  ASSERT_EQ(t->memcpyAsync(a, x.data(), n, MIXCCL_PLUGIN_HOST_TO_DEVICE, s1), MIXCCL_PLUGIN_OK);
  ASSERT_EQ(t->eventRecord(ev, s1), MIXCCL_PLUGIN_OK);
  ASSERT_EQ(t->streamWaitEvent(s2, ev), MIXCCL_PLUGIN_OK);
  ASSERT_EQ(t->memcpyAsync(b, a, n, MIXCCL_PLUGIN_DEVICE_TO_DEVICE, s2), MIXCCL_PLUGIN_OK);
  ASSERT_EQ(t->memcpyAsync(y.data(), b, n, MIXCCL_PLUGIN_DEVICE_TO_HOST, s2), MIXCCL_PLUGIN_OK);
  ASSERT_EQ(t->streamSynchronize(s2), MIXCCL_PLUGIN_OK);
  int done = 0;
  ASSERT_EQ(t->eventQuery(ev, &done), MIXCCL_PLUGIN_OK);
  EXPECT_EQ(done, 1);
  EXPECT_EQ(y, x);
  EXPECT_EQ(t->memFree(0, a), MIXCCL_PLUGIN_OK);
  EXPECT_EQ(t->memFree(0, b), MIXCCL_PLUGIN_OK);
  EXPECT_EQ(t->memFree(0, b), MIXCCL_PLUGIN_INVALID) << "a double free is refused";
  EXPECT_EQ(t->eventDestroy(ev), MIXCCL_PLUGIN_OK);
  EXPECT_EQ(t->streamDestroy(s1), MIXCCL_PLUGIN_OK);
  EXPECT_EQ(t->streamDestroy(s2), MIXCCL_PLUGIN_OK);
}

TEST(EmuPlugin, IpcImportSeesTheExportersMemory) {
  const mixccl_device_plugin_v1* t = table();
  mixcclPluginStream_t s = nullptr;
  ASSERT_EQ(t->streamCreate(1, &s), MIXCCL_PLUGIN_OK);
  const size_t n = 1 << 16;
  void* a = nullptr;
  ASSERT_EQ(t->memAlloc(1, n, &a), MIXCCL_PLUGIN_OK);
  mixcclPluginIpcHandle_t h;
  ASSERT_EQ(t->ipcExport(1, a, &h), MIXCCL_PLUGIN_OK);
  void* imported = nullptr;
  size_t bytes = 0;
  ASSERT_EQ(t->ipcImport(1, &h, &imported, &bytes), MIXCCL_PLUGIN_OK) << t->lastError();
  EXPECT_NE(imported, a);
  EXPECT_GE(bytes, n);
  int owner = -1;
  ASSERT_EQ(t->pointerOwner(imported, &owner), MIXCCL_PLUGIN_OK);
  EXPECT_GE(owner, 0);
  auto x = randomBytes(n, 5);
  std::vector<unsigned char> y(n);
  ASSERT_EQ(t->memcpyAsync(imported, x.data(), n, MIXCCL_PLUGIN_HOST_TO_DEVICE, s), MIXCCL_PLUGIN_OK);
  ASSERT_EQ(t->memcpyAsync(y.data(), a, n, MIXCCL_PLUGIN_DEVICE_TO_HOST, s), MIXCCL_PLUGIN_OK);
  ASSERT_EQ(t->streamSynchronize(s), MIXCCL_PLUGIN_OK);
  EXPECT_EQ(x, y) << "a write through the import is visible through the original";
  EXPECT_EQ(t->ipcClose(1, imported), MIXCCL_PLUGIN_OK);
  EXPECT_EQ(t->memFree(1, a), MIXCCL_PLUGIN_OK);
  EXPECT_EQ(t->streamDestroy(s), MIXCCL_PLUGIN_OK);
}

// MIXCCL_EMU_GBPS is read once per process: checked in a fresh child. A lower bound only (the
// machine may be slower, never faster than the throttle allows).
TEST(EmuDeviceDeathTest, ThrottleSlowsCopiesToTheConfiguredRate) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        setenv("MIXCCL_EMU_GBPS", "0.5", 1);
        auto d = emu();
        const size_t n = 10 << 20;  // 10 MiB at 0.5 GB/s: at least 21 ms per copy
        std::vector<unsigned char> h(n, 1);
        void* p = nullptr;
        if (!d->allocate(n, &p).isOk()) std::exit(3);
        auto t0 = std::chrono::steady_clock::now();
        if (!d->copy(p, h.data(), n).isOk() || !d->copy(h.data(), p, n).isOk()) std::exit(4);
        double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::exit(s >= 2 * n / 0.5e9 ? 0 : 5);
      },
      testing::ExitedWithCode(0), "");
}

// mixcclMemAlloc allocates on the device MIXCCL_DEVICE names (read per call; checked in a child so
// that this process's environment stays clean).
TEST(EmuDeviceDeathTest, MemAllocFollowsMixcclDevice) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        setenv("MIXCCL_DEVICE", "emu:1", 1);
        void* p = nullptr;
        if (mixcclMemAlloc(&p, 4096) != mixcclSuccess) std::exit(3);
        if (!emu(1)->owns(p)) std::exit(4);  // device memory of emu:1, not host memory
        if (mixcclMemFree(p) != mixcclSuccess) std::exit(5);
        setenv("MIXCCL_DEVICE", "emu:x", 1);
        if (mixcclMemAlloc(&p, 4096) != mixcclInvalidArgument) std::exit(6);
        std::exit(0);
      },
      testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace mixccl
