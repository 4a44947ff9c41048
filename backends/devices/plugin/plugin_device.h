// A Device backed by a loaded device plugin: the only way mixccl's core reaches a plugin's memory.
#pragma once

#include <memory>
#include <string>

#include "backends/devices/device.h"
#include "core/status.h"

namespace mixccl {

struct LoadedPlugin;

// Loads (if needed) the plugin for `kind` (MIXCCL_DEVICE_PLUGIN's value in `spec`, see
// plugin_loader.h), checks that device `ordinal` exists, and wraps it.
Status createPluginDevice(const std::string& kind, int ordinal, const std::string& spec, std::unique_ptr<Device>* out);

}  // namespace mixccl
