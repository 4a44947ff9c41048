// Noticing that a rank on this host has died (kill -9, crash) instead of waiting out the whole
// timeout: a rank whose process is gone or a zombie will never send again.
#pragma once

#include <sys/types.h>

namespace mixccl {

// True when the process `pid` (in this pid namespace) still runs.
bool processAlive(pid_t pid);

}  // namespace mixccl
