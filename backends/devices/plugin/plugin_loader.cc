#include "backends/devices/plugin/plugin_loader.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>

#include "backends/devices/plugin/plugin_validate.h"

namespace mixccl {
namespace {

std::string directoryOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

bool readable(const std::string& path) { return access(path.c_str(), R_OK) == 0; }

std::string joinList(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& d : v) s += (s.empty() ? "" : ", ") + d;
  return s;
}

// Loaded plugins by resolved path; never unloaded.
std::mutex gMutex;
std::map<std::string, std::unique_ptr<LoadedPlugin>>& loaded() {
  static auto* m = new std::map<std::string, std::unique_ptr<LoadedPlugin>>;
  return *m;
}

Status openPlugin(const std::string& path, const LoadedPlugin** out) {
  auto& cache = loaded();
  if (auto it = cache.find(path); it != cache.end()) {
    *out = it->second.get();
    return Status::ok();
  }
  // RTLD_LOCAL: a plugin's symbols never leak into other plugins or the application.
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    return errorStatus(mixcclInvalidUsage, "cannot load device plugin %s: %s", path.c_str(), why ? why : "unknown error");
  }
  dlerror();
  auto getter = reinterpret_cast<mixcclDevicePluginGetV1_t>(dlsym(handle, MIXCCL_DEVICE_PLUGIN_GETTER_V1));
  if (getter == nullptr) {
    dlclose(handle);
    return errorStatus(mixcclInvalidUsage, "%s does not export %s(), so it is not a mixccl device plugin (or was "
                       "built with the symbol hidden: declare it extern \"C\" with default visibility)",
                       path.c_str(), MIXCCL_DEVICE_PLUGIN_GETTER_V1);
  }
  const mixccl_device_plugin_v1* table = getter();
  // The table lives in the plugin's own data: sizeof(v1) bytes are readable once its header says so.
  Status st = validatePluginTable(table, table == nullptr ? 0 : sizeof(mixccl_device_plugin_v1));
  if (st.isOk()) st = validatePluginName(table->name);
  if (!st.isOk()) {
    dlclose(handle);
    return st.withContext("refusing device plugin " + path + ": ");
  }
  auto lp = std::make_unique<LoadedPlugin>();
  lp->path = path;
  lp->table = table;
  *out = lp.get();
  cache[path] = std::move(lp);
  return Status::ok();
}

}  // namespace

std::vector<std::string> pluginSearchPath() {
  std::vector<std::string> dirs;
  if (const char* p = std::getenv("MIXCCL_PLUGIN_PATH")) {
    std::string s = p;
    size_t start = 0;
    while (start <= s.size()) {
      size_t colon = s.find(':', start);
      std::string d = s.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
      if (!d.empty()) dirs.push_back(d);
      if (colon == std::string::npos) break;
      start = colon + 1;
    }
  }
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&pluginSearchPath), &info) != 0 && info.dli_fname != nullptr) {
    // libmixccl.so's directory; for a program linked statically with mixccl (the tests), the
    // program's directory and its ../lib (build/bin and build/lib).
    std::string own = directoryOf(info.dli_fname);
    dirs.push_back(own);
    dirs.push_back(own + "/../lib");
  }
  return dirs;
}

Status loadDevicePlugin(const std::string& kind, const std::string& spec, const LoadedPlugin** out) {
  std::lock_guard<std::mutex> lock(gMutex);
  std::string path;
  std::vector<std::string> searched;
  if (spec.find('/') != std::string::npos) {
    if (!readable(spec)) {
      return errorStatus(mixcclInvalidUsage, "MIXCCL_DEVICE_PLUGIN=%s: no readable file there", spec.c_str());
    }
    path = spec;
  } else {
    std::string name = spec.empty() ? kind : spec;
    std::string file = "libmixccl-" + name + ".so";
    for (const auto& dir : pluginSearchPath()) {
      searched.push_back(dir);
      if (readable(dir + "/" + file)) {
        path = dir + "/" + file;
        break;
      }
    }
    if (path.empty()) {
      // Last, dlopen's own search (LD_LIBRARY_PATH, ld.so.cache); it resolves the bare name itself.
      void* probe = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
      if (probe == nullptr) probe = dlopen(file.c_str(), RTLD_LAZY | RTLD_LOCAL);
      if (probe == nullptr) {
        return errorStatus(mixcclInvalidUsage, "device kind '%s' is not built into mixccl and no plugin %s was found "
                           "(looked in %s and the system library path); set MIXCCL_DEVICE_PLUGIN to the plugin's "
                           "path or MIXCCL_PLUGIN_PATH to its directory", kind.c_str(), file.c_str(),
                           joinList(searched).c_str());
      }
      dlclose(probe);
      path = file;
    }
  }
  const LoadedPlugin* lp = nullptr;
  MIXCCL_CHECK(openPlugin(path, &lp));
  if (kind != lp->table->name) {
    return errorStatus(mixcclInvalidUsage, "device plugin %s implements device kind '%s', but this rank asked for "
                       "'%s'", path.c_str(), lp->table->name, kind.c_str());
  }
  *out = lp;
  return Status::ok();
}

}  // namespace mixccl
