// Transport setup is collective: every rank must make the same bootstrap calls in the same order,
// even when something failed on one of them, or the others would wait for a call that never comes.
// So each setup phase ends with an agreement: every rank says whether its part worked, and all
// ranks leave the phase together, with the local error or one that names the ranks that failed.
#pragma once

#include "core/bootstrap_net.h"
#include "core/status.h"

namespace mixccl {

Status agreeOnSetup(BootstrapNet* bootstrap, const Status& local, const char* transportName,
                    const char* phase);

}  // namespace mixccl
