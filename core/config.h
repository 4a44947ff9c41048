// Reading a caller's mixcclConfig_t. The struct grows at its end; `size` says which layout the
// caller was compiled with, so a field past that size is treated as unset instead of read.
#pragma once

#include <cstddef>
#include <cstring>

#include "mixccl.h"

namespace mixccl {

// True when the caller's struct has the field that ends at `end` (offsetof + sizeof).
inline bool configHas(const mixcclConfig_t* config, size_t end) { return config != nullptr && config->size >= end; }

// config.algorithms, or nullptr when unset or absent from the caller's layout.
inline const char* configAlgorithms(const mixcclConfig_t* config) {
  return configHas(config, offsetof(mixcclConfig_t, algorithms) + sizeof(config->algorithms)) ? config->algorithms
                                                                                              : nullptr;
}

// A full-size copy of the caller's config: the fields its layout has, defaults for the rest.
inline mixcclConfig_t copyConfig(const mixcclConfig_t* config) {
  mixcclConfig_t out = MIXCCL_CONFIG_INITIALIZER;
  if (config == nullptr) return out;
  std::memcpy(&out, config, config->size < sizeof(out) ? config->size : sizeof(out));
  out.size = sizeof(out);
  return out;
}

}  // namespace mixccl
