// Checks a device plugin's table before mixccl calls anything in it. Pure functions on bytes: no
// dlopen, no function called, no pointer followed (except by validatePluginName), so a fuzz target
// can feed them arbitrary input.
#pragma once

#include <cstddef>

#include "core/status.h"

namespace mixccl {

// `table` points to `bytes` readable bytes that claim to be a mixccl_device_plugin_v1. Refuses,
// with one sentence each: a NULL table, fewer bytes than the version and size fields, an ABI
// version other than 1, a structSize smaller than this build's mixccl_device_plugin_v1 (or larger
// than `bytes`), fewer readable bytes than the v1 table, a NULL name, and any NULL function pointer
// (named). Never dereferences the pointers inside the table.
Status validatePluginTable(const void* table, size_t bytes);

// The plugin's name (its device kind): 1..31 characters of [a-z0-9_]. Reads the string, so it must
// be a valid C string (the loader calls it after validatePluginTable).
Status validatePluginName(const char* name);

}  // namespace mixccl
