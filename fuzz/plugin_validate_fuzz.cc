// libFuzzer target: the device plugin loader's validation (backends/devices/plugin/plugin_validate.h)
// on arbitrary bytes claiming to be a plugin table, and on arbitrary plugin names.
#include <cstddef>
#include <cstdint>
#include <string>

#include "backends/devices/plugin/plugin_validate.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)mixccl::validatePluginTable(size == 0 ? nullptr : data, size);
  std::string name(reinterpret_cast<const char*>(data), size);  // NUL-terminated copy
  (void)mixccl::validatePluginName(name.c_str());
  return 0;
}
