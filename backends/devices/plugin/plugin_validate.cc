#include "backends/devices/plugin/plugin_validate.h"

#include <cstdint>
#include <cstring>

#include "mixccl_device_plugin.h"

namespace mixccl {
namespace {

using Table = mixccl_device_plugin_v1;

// Every function pointer of the v1 table, by name, for "function X is NULL" refusals. Offsets are
// read as raw bytes (not through the struct) so that a misaligned or garbage table stays harmless.
struct FunctionField {
  const char* name;
  size_t offset;
};
#define MIXCCL_PLUGIN_FIELD(f) FunctionField{#f, offsetof(Table, f)}
constexpr FunctionField kFunctions[] = {
    MIXCCL_PLUGIN_FIELD(lastError),      MIXCCL_PLUGIN_FIELD(deviceCount),     MIXCCL_PLUGIN_FIELD(identify),
    MIXCCL_PLUGIN_FIELD(memAlloc),       MIXCCL_PLUGIN_FIELD(memFree),         MIXCCL_PLUGIN_FIELD(hostAlloc),
    MIXCCL_PLUGIN_FIELD(hostFree),       MIXCCL_PLUGIN_FIELD(pointerOwner),    MIXCCL_PLUGIN_FIELD(streamCreate),
    MIXCCL_PLUGIN_FIELD(streamDestroy),  MIXCCL_PLUGIN_FIELD(streamSynchronize),
    MIXCCL_PLUGIN_FIELD(eventCreate),    MIXCCL_PLUGIN_FIELD(eventDestroy),    MIXCCL_PLUGIN_FIELD(eventRecord),
    MIXCCL_PLUGIN_FIELD(eventQuery),     MIXCCL_PLUGIN_FIELD(eventSynchronize),
    MIXCCL_PLUGIN_FIELD(streamWaitEvent), MIXCCL_PLUGIN_FIELD(streamWaitHostValue), MIXCCL_PLUGIN_FIELD(memcpyAsync),    MIXCCL_PLUGIN_FIELD(reduceAsync),
    MIXCCL_PLUGIN_FIELD(scaleAsync),     MIXCCL_PLUGIN_FIELD(divideAsync),     MIXCCL_PLUGIN_FIELD(ipcExport),
    MIXCCL_PLUGIN_FIELD(ipcImport),      MIXCCL_PLUGIN_FIELD(ipcClose),
};
#undef MIXCCL_PLUGIN_FIELD
// A new function pointer added to the struct without a line above would go unchecked.
static_assert(sizeof(kFunctions) / sizeof(kFunctions[0]) ==
                  (sizeof(Table) - offsetof(Table, lastError)) / sizeof(void (*)(void)),
              "kFunctions must list every function pointer of mixccl_device_plugin_v1");

template <typename T>
T readField(const void* table, size_t offset) {
  T v;
  std::memcpy(&v, static_cast<const unsigned char*>(table) + offset, sizeof(T));
  return v;
}

}  // namespace

Status validatePluginTable(const void* table, size_t bytes) {
  if (table == nullptr) return errorStatus(mixcclInvalidUsage, "the plugin's getter returned NULL instead of its table");
  constexpr size_t kHeader = offsetof(Table, structSize) + sizeof(uint32_t);
  if (bytes < kHeader) {
    return errorStatus(mixcclInvalidUsage, "the plugin table is %zu bytes, too short to hold its ABI version and size",
                       bytes);
  }
  uint32_t version = readField<uint32_t>(table, offsetof(Table, abiVersion));
  uint32_t size = readField<uint32_t>(table, offsetof(Table, structSize));
  if (version != MIXCCL_DEVICE_PLUGIN_ABI_VERSION) {
    return errorStatus(mixcclInvalidUsage, "the plugin implements device plugin ABI version %u, but this mixccl "
                       "speaks version %d only; rebuild the plugin against this mixccl's mixccl_device_plugin.h",
                       version, MIXCCL_DEVICE_PLUGIN_ABI_VERSION);
  }
  if (size < sizeof(Table)) {
    return errorStatus(mixcclInvalidUsage, "the plugin's table declares structSize %u, smaller than the %zu bytes of "
                       "mixccl_device_plugin_v1: it was built against a different header", size, sizeof(Table));
  }
  if (bytes < sizeof(Table)) {
    return errorStatus(mixcclInvalidUsage, "only %zu bytes of the plugin table are readable, fewer than the %zu of "
                       "mixccl_device_plugin_v1", bytes, sizeof(Table));
  }
  if (readField<const char*>(table, offsetof(Table, name)) == nullptr) {
    return errorStatus(mixcclInvalidUsage, "the plugin table's name is NULL; it must be the device kind, e.g. \"emu\"");
  }
  for (const FunctionField& f : kFunctions) {
    if (readField<void (*)(void)>(table, f.offset) == nullptr) {
      return errorStatus(mixcclInvalidUsage, "the plugin table's function '%s' is NULL; every function of "
                         "mixccl_device_plugin_v1 must be set (return MIXCCL_PLUGIN_UNSUPPORTED where the device "
                         "cannot do something)", f.name);
    }
  }
  return Status::ok();
}

Status validatePluginName(const char* name) {
  size_t len = strnlen(name, 32);
  if (len == 0 || len > 31) {
    return errorStatus(mixcclInvalidUsage, "the plugin's name must be 1 to 31 characters, not %s",
                       len == 0 ? "empty" : "longer");
  }
  for (size_t i = 0; i < len; ++i) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
      return errorStatus(mixcclInvalidUsage, "the plugin's name '%.31s' has character '%c'; only a-z, 0-9 and _ "
                         "are allowed", name, c);
    }
  }
  return Status::ok();
}

}  // namespace mixccl
