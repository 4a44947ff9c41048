// Finds, loads and checks a device plugin library (include/mixccl_device_plugin.h).
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "mixccl_device_plugin.h"

namespace mixccl {

struct LoadedPlugin {
  std::string path;  // the file that was loaded
  const mixccl_device_plugin_v1* table = nullptr;
};

// The directories searched for libmixccl-<name>.so, in order: MIXCCL_PLUGIN_PATH (colon-separated),
// the directory of the library holding mixccl itself and its ../lib. After them dlopen's own search
// (LD_LIBRARY_PATH, the system's) is tried with the bare file name.
std::vector<std::string> pluginSearchPath();

// Loads the plugin that implements device kind `kind`. `spec` is MIXCCL_DEVICE_PLUGIN's value (or
// empty): a path (it contains '/') or a name looked up as libmixccl-<name>.so; when empty the kind
// is the name. Loaded once per process and never unloaded (its threads and memory outlive any one
// communicator). Each refusal is one sentence: not found (with where it looked), dlopen's error,
// the getter symbol missing, a table that fails validatePluginTable, or a name that differs from
// the kind asked for.
Status loadDevicePlugin(const std::string& kind, const std::string& spec, const LoadedPlugin** out);

}  // namespace mixccl
