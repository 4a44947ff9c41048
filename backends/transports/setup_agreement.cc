#include "backends/transports/setup_agreement.h"

#include <string>
#include <vector>

namespace mixccl {

Status agreeOnSetup(BootstrapNet* bootstrap, const Status& local, const char* transportName,
                    const char* phase) {
  const int nranks = bootstrap->nranks();
  const int rank = bootstrap->rank();
  std::vector<unsigned char> ok(static_cast<size_t>(nranks), 0);
  ok[static_cast<size_t>(rank)] = local.isOk() ? 1 : 0;
  Status gathered = bootstrap->allGather(ok.data(), 1);
  if (!local.isOk()) return local;
  if (!gathered.isOk()) {
    return gathered.withContext(strFormat("%s transport setup (%s): ", transportName, phase));
  }
  std::string failed;
  for (int r = 0; r < nranks; ++r) {
    if (ok[static_cast<size_t>(r)] == 0) failed += (failed.empty() ? "" : ", ") + std::to_string(r);
  }
  if (failed.empty()) return Status::ok();
  return errorStatus(mixcclRemoteError, "%s transport setup failed on rank(s) %s while they were %s "
                     "(their own log says why)", transportName, failed.c_str(), phase);
}

}  // namespace mixccl
