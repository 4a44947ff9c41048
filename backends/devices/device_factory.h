// Which device a rank runs on, and making it: built-in backends (cpu, and cuda / hip where this
// build has them) or a plugin for any other kind.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backends/devices/device.h"
#include "core/status.h"

namespace mixccl {

struct DeviceSelection {
  std::string kind = "cpu";
  int ordinal = 0;
};

// Parses "kind" or "kind:ordinal" (MIXCCL_DEVICE's format, e.g. "emu:1"). Kinds are [a-z0-9_]{1,31}.
Status parseDeviceSpec(const std::string& text, DeviceSelection* out);

// The kinds this build provides ("cpu", then "cuda" and "hip" where their modules were built; those
// load at first use and may still fail where the GPU runtime is missing).
std::vector<std::string> builtinDeviceKinds();

// Makes device `ordinal` of `kind`. A kind that is not built in is loaded as a plugin: `pluginSpec`
// is MIXCCL_DEVICE_PLUGIN's value (a path or a name; empty: the kind's own name). cpuThreads bounds
// the cpu backend's threads per reduction.
Status createDevice(const std::string& kind, int ordinal, int cpuThreads, const std::string& pluginSpec,
                    std::unique_ptr<Device>* out);

}  // namespace mixccl
