// Reading configuration from the environment. Every MIXCCL_X may also be given as NCCL_X where NCCL
// has the same variable (the NCCL binding relies on this); MIXCCL_X wins when both are set.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace mixccl::env {

// The value of MIXCCL_<name> (or NCCL_<name> when alsoNccl), if set and non-empty.
std::optional<std::string> get(const char* name, bool alsoNccl = false);
// An integer variable; a malformed value is reported at WARN and the default used.
int64_t getInt(const char* name, int64_t defaultValue, bool alsoNccl = false);

// The bound on every wait, in seconds: MIXCCL_TIMEOUT, default 300.
int timeoutSeconds();
constexpr int kDefaultTimeoutSeconds = 300;

}  // namespace mixccl::env
