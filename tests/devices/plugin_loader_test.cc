// The device plugin loader: what it accepts, and the one-sentence reason for each refusal.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "backends/devices/device_factory.h"
#include "backends/devices/plugin/plugin_loader.h"
#include "backends/devices/plugin/plugin_validate.h"
#include "mixccl_device_plugin.h"

namespace mixccl {
namespace {

std::string fixture(const char* name) { return std::string(MIXCCL_TEST_PLUGIN_DIR) + "/libmixccl-" + name + ".so"; }

Status load(const std::string& kind, const std::string& spec) {
  const LoadedPlugin* p = nullptr;
  return loadDevicePlugin(kind, spec, &p);
}

void expectRefusal(const Status& st, const std::string& needle) {
  EXPECT_FALSE(st.isOk());
  EXPECT_EQ(st.code(), mixcclInvalidUsage) << st.message();
  EXPECT_NE(st.message().find(needle), std::string::npos) << "message: " << st.message() << "\nexpected: " << needle;
}

TEST(PluginLoader, LoadsEmuByNameFromTheLibraryDirectory) {
  const LoadedPlugin* p = nullptr;
  Status st = loadDevicePlugin("emu", "", &p);
  ASSERT_TRUE(st.isOk()) << st.message();
  EXPECT_STREQ(p->table->name, "emu");
  EXPECT_NE(p->path.find("libmixccl-emu.so"), std::string::npos) << p->path;
  // Loaded once: the same table again.
  const LoadedPlugin* again = nullptr;
  ASSERT_TRUE(loadDevicePlugin("emu", "emu", &again).isOk());
  EXPECT_EQ(again->table, p->table);
}

TEST(PluginLoader, LoadsEmuByPath) {
  const LoadedPlugin* p = nullptr;
  Status st = loadDevicePlugin("emu", MIXCCL_TEST_EMU_PATH, &p);
  ASSERT_TRUE(st.isOk()) << st.message();
  EXPECT_EQ(p->table->abiVersion, 1u);
}

TEST(PluginLoader, RefusesWrongVersion) { expectRefusal(load("fixture", fixture("badversion")), "ABI version 2"); }
TEST(PluginLoader, RefusesShortTable) { expectRefusal(load("fixture", fixture("badsize")), "smaller than the"); }
TEST(PluginLoader, RefusesNullFunction) { expectRefusal(load("fixture", fixture("badnull")), "'reduceAsync' is NULL"); }
TEST(PluginLoader, RefusesMissingGetter) {
  expectRefusal(load("fixture", fixture("nogetter")), "does not export mixcclDevicePluginGetV1()");
}
TEST(PluginLoader, RefusesBadName) { expectRefusal(load("fixture", fixture("badname")), "has character '-'"); }
TEST(PluginLoader, RefusesKindMismatch) {
  expectRefusal(load("xpu", MIXCCL_TEST_EMU_PATH), "implements device kind 'emu', but this rank asked for 'xpu'");
}
TEST(PluginLoader, RefusesMissingFileWithWhereItLooked) {
  Status st = load("nosuchdev", "");
  expectRefusal(st, "no plugin libmixccl-nosuchdev.so was found (looked in ");
  expectRefusal(load("emu", "/nonexistent/libmixccl-emu.so"), "no readable file there");
}
TEST(PluginLoader, RefusesAFileThatIsNotALibrary) {
  expectRefusal(load("emu", std::string(MIXCCL_TEST_SOURCE_DIR) + "/bad_plugin.c"), "cannot load device plugin");
}

// validatePluginTable on raw bytes (what the fuzz target calls).
mixccl_device_plugin_v1 goodTable() {
  mixccl_device_plugin_v1 t;
  std::memset(&t, 0, sizeof(t));
  t.abiVersion = MIXCCL_DEVICE_PLUGIN_ABI_VERSION;
  t.structSize = sizeof(t);
  t.name = "x";
  // Any non-NULL value: the validator never calls or follows them.
  auto** fns = reinterpret_cast<void (**)(void)>(&t.lastError);
  size_t n = (sizeof(t) - offsetof(mixccl_device_plugin_v1, lastError)) / sizeof(void (*)(void));
  for (size_t i = 0; i < n; ++i) fns[i] = reinterpret_cast<void (*)(void)>(&goodTable);
  return t;
}

TEST(PluginValidate, AcceptsACompleteTable) {
  auto t = goodTable();
  EXPECT_TRUE(validatePluginTable(&t, sizeof(t)).isOk());
}

TEST(PluginValidate, RefusesEachDefect) {
  auto t = goodTable();
  EXPECT_NE(validatePluginTable(nullptr, 0).message().find("returned NULL"), std::string::npos);
  EXPECT_NE(validatePluginTable(&t, 4).message().find("too short"), std::string::npos);
  EXPECT_NE(validatePluginTable(&t, sizeof(t) - 1).message().find("are readable"), std::string::npos);
  auto v = t;
  v.abiVersion = 7;
  EXPECT_NE(validatePluginTable(&v, sizeof(v)).message().find("version 7"), std::string::npos);
  auto s = t;
  s.structSize = 16;
  EXPECT_NE(validatePluginTable(&s, sizeof(s)).message().find("structSize 16"), std::string::npos);
  auto n = t;
  n.name = nullptr;
  EXPECT_NE(validatePluginTable(&n, sizeof(n)).message().find("name is NULL"), std::string::npos);
  auto f = t;
  f.ipcClose = nullptr;
  EXPECT_NE(validatePluginTable(&f, sizeof(f)).message().find("'ipcClose' is NULL"), std::string::npos);
  auto g = t;
  g.lastError = nullptr;
  EXPECT_NE(validatePluginTable(&g, sizeof(g)).message().find("'lastError' is NULL"), std::string::npos);
  EXPECT_FALSE(validatePluginName("").isOk());
  EXPECT_FALSE(validatePluginName("ABC").isOk());
  EXPECT_TRUE(validatePluginName("acme_xpu2").isOk());
}

TEST(DeviceSpec, ParsesKindAndOrdinal) {
  DeviceSelection s;
  ASSERT_TRUE(parseDeviceSpec("emu:3", &s).isOk());
  EXPECT_EQ(s.kind, "emu");
  EXPECT_EQ(s.ordinal, 3);
  ASSERT_TRUE(parseDeviceSpec("cuda", &s).isOk());
  EXPECT_EQ(s.kind, "cuda");
  EXPECT_EQ(s.ordinal, 0);
  EXPECT_FALSE(parseDeviceSpec("emu:", &s).isOk());
  EXPECT_FALSE(parseDeviceSpec("emu:-1", &s).isOk());
  EXPECT_FALSE(parseDeviceSpec("emu:1x", &s).isOk());
  EXPECT_FALSE(parseDeviceSpec("", &s).isOk());
  EXPECT_FALSE(parseDeviceSpec("E MU", &s).isOk());
}

TEST(DeviceFactory, ExplainsUnavailableKinds) {
  std::unique_ptr<Device> d;
  Status st = createDevice("emu", 1000, 1, "", &d);
  EXPECT_EQ(st.code(), mixcclInvalidArgument);
  EXPECT_NE(st.message().find("device emu:1000 does not exist"), std::string::npos) << st.message();
#ifndef MIXCCL_HAVE_HIP
  st = createDevice("hip", 0, 1, "", &d);
  EXPECT_NE(st.message().find("libmixccl-hip.so could not be loaded"), std::string::npos) << st.message();
#endif
}

}  // namespace
}  // namespace mixccl
