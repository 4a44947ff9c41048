#include "backends/devices/gpu/gpu_module_loader.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <mutex>

#include "backends/devices/plugin/plugin_loader.h"

namespace mixccl {
namespace {

std::mutex gMutex;

// Loaded modules by kind. Failures are not kept: they are cheap to repeat, and the user may fix
// MIXCCL_PLUGIN_PATH or LD_LIBRARY_PATH between two communicators.
std::map<std::string, const GpuModuleV1*>& cache() {
  static auto* m = new std::map<std::string, const GpuModuleV1*>;
  return *m;
}

std::string findModule(const std::string& file) {
  for (const auto& dir : pluginSearchPath()) {
    std::string p = dir + "/" + file;
    if (access(p.c_str(), R_OK) == 0) return p;
  }
  return file;  // dlopen's own search (LD_LIBRARY_PATH, ld.so.cache)
}

Status openModule(const std::string& kind, const GpuModuleV1** out) {
  std::string file = "libmixccl-" + kind + ".so";
  std::string path = findModule(file);
  std::string requested = "device kind '" + kind + "' (MIXCCL_DEVICE=" + kind + " or config.deviceKind) requested";
  // RTLD_LOCAL: the runtime's and the module's symbols stay out of the application's namespace.
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    std::string reason = why ? why : "unknown dlopen error";
    std::string hint;
    if (path == file && reason.find(file) != std::string::npos) {
      hint = " (not in MIXCCL_PLUGIN_PATH, beside libmixccl or on the library path: was mixccl built with the " +
             std::string(kind == "cuda" ? "CUDA toolkit" : "HIP runtime (hipcc, libamdhip64-dev)") +
             " and the module installed?)";
    }
    return errorStatus(mixcclInvalidUsage, "%s but %s could not be loaded: %s%s", requested.c_str(), file.c_str(),
                       reason.c_str(), hint.c_str());
  }
  dlerror();
  auto getter = reinterpret_cast<mixcclGpuModuleGetter_t>(dlsym(handle, MIXCCL_GPU_MODULE_GETTER));
  if (getter == nullptr) {
    dlclose(handle);
    return errorStatus(mixcclInvalidUsage, "%s but %s (%s) does not export %s(): it is not a mixccl GPU module",
                       requested.c_str(), file.c_str(), path.c_str(), MIXCCL_GPU_MODULE_GETTER);
  }
  const GpuModuleV1* m = getter();
  Status st = checkGpuModule(m, kind, path);
  if (!st.isOk()) {
    dlclose(handle);
    return st.withContext(requested + " but ");
  }
  *out = m;
  return Status::ok();
}

}  // namespace

Status checkGpuModule(const GpuModuleV1* m, const std::string& kind, const std::string& path) {
  if (m == nullptr) return errorStatus(mixcclInvalidUsage, "%s returned no module table", path.c_str());
  if (m->revision != kGpuModuleRevision || m->compiler == nullptr || std::strcmp(m->compiler, __VERSION__) != 0 ||
      m->deviceBytes != sizeof(Device) || m->statusBytes != sizeof(Status)) {
    return errorStatus(mixcclInvalidUsage, "%s comes from another build of mixccl (module revision %u, compiler "
                       "'%s'; this library: revision %u, compiler '%s'); install the module built with this "
                       "libmixccl", path.c_str(), m->revision, m->compiler ? m->compiler : "?", kGpuModuleRevision,
                       __VERSION__);
  }
  if (m->kind == nullptr || kind != m->kind || m->createDevice == nullptr) {
    return errorStatus(mixcclInvalidUsage, "%s implements device kind '%s', not '%s'", path.c_str(),
                       m->kind ? m->kind : "?", kind.c_str());
  }
  return Status::ok();
}

Status loadGpuModule(const std::string& kind, const GpuModuleV1** out) {
  std::lock_guard<std::mutex> lock(gMutex);
  auto& c = cache();
  if (auto it = c.find(kind); it != c.end()) {
    *out = it->second;
    return Status::ok();
  }
  MIXCCL_CHECK(openModule(kind, out));
  c[kind] = *out;
  return Status::ok();
}

}  // namespace mixccl
