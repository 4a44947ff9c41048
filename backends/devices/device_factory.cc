#include "backends/devices/device_factory.h"

#include <cstdlib>

#include "backends/devices/gpu/gpu_module_loader.h"
#include "backends/devices/plugin/plugin_device.h"

namespace mixccl {

namespace {

bool validKind(const std::string& k) {
  if (k.empty() || k.size() > 31) return false;
  for (char c : k)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

}  // namespace

Status parseDeviceSpec(const std::string& text, DeviceSelection* out) {
  size_t colon = text.find(':');
  std::string kind = text.substr(0, colon);
  int ordinal = 0;
  if (colon != std::string::npos) {
    std::string num = text.substr(colon + 1);
    char* end = nullptr;
    long v = num.empty() ? -1 : std::strtol(num.c_str(), &end, 10);
    if (num.empty() || *end != '\0' || v < 0 || v > 1 << 20) {
      return errorStatus(mixcclInvalidArgument, "device '%s': the ordinal after ':' must be a number >= 0, as in "
                         "'emu:1'", text.c_str());
    }
    ordinal = static_cast<int>(v);
  }
  if (!validKind(kind)) {
    return errorStatus(mixcclInvalidArgument, "device '%s': the kind must be 1 to 31 characters of a-z, 0-9 and _ "
                       "(cpu, cuda, hip, emu or a plugin's name), optionally followed by ':ordinal'", text.c_str());
  }
  out->kind = kind;
  out->ordinal = ordinal;
  return Status::ok();
}

std::vector<std::string> builtinDeviceKinds() {
  std::vector<std::string> k = {"cpu"};
#ifdef MIXCCL_HAVE_CUDA
  k.push_back("cuda");
#endif
#ifdef MIXCCL_HAVE_HIP
  k.push_back("hip");
#endif
  return k;
}

Status createDevice(const std::string& kind, int ordinal, int cpuThreads, const std::string& pluginSpec,
                    std::unique_ptr<Device>* out) {
  if (!validKind(kind)) {
    return errorStatus(mixcclInvalidArgument, "device kind '%s' is not a valid name (a-z, 0-9 and _, at most 31)",
                       kind.c_str());
  }
  if (ordinal < 0) return errorStatus(mixcclInvalidArgument, "device ordinal %d is negative", ordinal);
  if (kind == "cpu") {
    *out = createCpuDevice(ordinal, cpuThreads);
    return Status::ok();
  }
  // cuda and hip live in modules of their own (libmixccl-cuda.so, libmixccl-hip.so), loaded here the
  // first time, so that libmixccl needs neither runtime (backends/devices/gpu/gpu_module.h).
  if (kind == "cuda" || kind == "hip") {
    const GpuModuleV1* m = nullptr;
    MIXCCL_CHECK(loadGpuModule(kind, &m));
    return m->createDevice(ordinal, out);
  }
  return createPluginDevice(kind, ordinal, pluginSpec, out);
}

}  // namespace mixccl
