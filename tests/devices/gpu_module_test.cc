// libmixccl loads the cuda and hip backends as modules at first use (backends/devices/gpu/
// gpu_module.h). These tests load fixture modules (gpu_module_fixture.cc) to check every way that
// can go, and the real modules of this build where they were built: without a GPU the real module
// must load and then say that no device is usable.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <string>

#include "backends/devices/device_factory.h"

namespace mixccl {
namespace {

// Runs fn in a child process (loaded modules stay loaded for a process's life) and returns the
// message it produced.
std::string inChild(const std::function<std::string()>& fn) {
  int fds[2];
  if (pipe(fds) != 0) return "pipe failed";
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    std::string s = fn();
    (void)!write(fds[1], s.data(), s.size());
    _exit(0);
  }
  close(fds[1]);
  std::string out;
  char buf[512];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) out += " [child died]";
  return out;
}

std::string openWithPluginPath(const std::string& dir, const std::string& kind, int ordinal = 0) {
  return inChild([&] {
    if (!dir.empty()) setenv("MIXCCL_PLUGIN_PATH", dir.c_str(), 1);
    std::unique_ptr<Device> d;
    Status st = createDevice(kind, ordinal, 1, "", &d);
    if (st.isOk()) return std::string("opened ") + d->kind() + (d->supportsIpc() ? " with IPC" : " without IPC");
    return st.message();
  });
}

const std::string kFixtures = MIXCCL_TEST_GPU_FIXTURES;

// The GPU runtimes are not built with ThreadSanitizer; their own threads and locks are invisible to
// it and give false reports, so the real modules are opened only in other builds.
#if defined(__SANITIZE_THREAD__)
#define SKIP_UNDER_TSAN() GTEST_SKIP() << "the GPU runtime is not TSan-instrumented (false reports); checked in the other builds"
#else
#define SKIP_UNDER_TSAN() (void)0
#endif

TEST(GpuModule, MissingRuntimeIsNamed) {
  std::string m = openWithPluginPath(kFixtures + "/missing", "cuda");
  EXPECT_NE(m.find("device kind 'cuda' (MIXCCL_DEVICE=cuda or config.deviceKind) requested but libmixccl-cuda.so "
                   "could not be loaded: "), std::string::npos) << m;
  EXPECT_NE(m.find("libmixccl-test-absent-runtime.so: cannot open shared object file"), std::string::npos) << m;
}

TEST(GpuModule, ModuleOfAnotherBuildIsRefused) {
  std::string m = openWithPluginPath(kFixtures + "/stale", "cuda");
  EXPECT_NE(m.find("comes from another build of mixccl"), std::string::npos) << m;
  EXPECT_NE(m.find("install the module built with this libmixccl"), std::string::npos) << m;
}

TEST(GpuModule, FactoryReachesTheModule) {
  std::string m = openWithPluginPath(kFixtures + "/good", "cuda", 3);
  EXPECT_EQ(m, "fixture module reached for cuda:3");
}

TEST(GpuModule, RealCudaModuleLoads) {
#ifndef MIXCCL_HAVE_CUDA
  GTEST_SKIP() << "this build has no cuda module (CUDA toolkit not found)";
#else
  SKIP_UNDER_TSAN();
  std::string m = openWithPluginPath("", "cuda");
  // With a GPU the device opens (and can share memory: the cuda_ipc transport needs it); without
  // one the module's own code says so. Either way the module and libcudart were loaded.
  bool opened = m == "opened cuda with IPC";
  bool noGpu = m.find("cuda: no usable device") != std::string::npos;
  EXPECT_TRUE(opened || noGpu) << m;
#endif
}

TEST(GpuModule, RealHipModuleLoads) {
#ifndef MIXCCL_TEST_HAVE_HIP
  GTEST_SKIP() << "this build has no hip module (hipcc / libamdhip64-dev not found)";
#else
  SKIP_UNDER_TSAN();
  std::string m = openWithPluginPath("", "hip");
  bool opened = m == "opened hip with IPC";
  bool noGpu = m.find("hip: no usable device") != std::string::npos;
  EXPECT_TRUE(opened || noGpu) << m;
#endif
}

}  // namespace
}  // namespace mixccl
