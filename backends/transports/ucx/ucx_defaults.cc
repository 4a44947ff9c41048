#include "backends/transports/ucx/ucx_defaults.h"

#include <ucm/api/ucm.h>

#include <cstdlib>
#include <sstream>
#include <string>

namespace mixccl {

bool turnOffUcxMemoryHooksUnlessAsked() {
  if (std::getenv("UCX_MEM_EVENTS") != nullptr) return false;
  // UCX parsed UCX_MEM_* into these options when it was loaded; hooks are installed later, by the
  // first ucp_init that builds a registration cache, so changing them now is still in time.
  ucm_global_config_t options = ucm_global_opts;
  if (!options.enable_events) return false;
  options.enable_events = 0;
  ucm_set_global_opts(&options);
  return true;
}

bool ucxTlsMayUseTcp(const char* tls) {
  if (tls == nullptr) return true;
  const bool exclude = tls[0] == '^';
  std::istringstream list(exclude ? tls + 1 : tls);
  bool namesTcp = false, namesAll = false;
  for (std::string item; std::getline(list, item, ',');) {
    namesTcp = namesTcp || item == "tcp";
    namesAll = namesAll || item == "all";
  }
  return exclude ? !namesTcp : (namesTcp || namesAll);
}

Status applyUcxTcpDefaults(ucp_config_t* config, std::string* applied) {
  struct Default {
    const char* variable;  // what the user would set
    const char* key;       // what ucp_config_modify takes: the tcp wire's own name for it
    const char* value;
  };
  // Both or neither: the tcp wire refuses receive segments smaller than send segments.
  static constexpr Default kDefaults[] = {{"UCX_TCP_TX_SEG_SIZE", "TX_SEG_SIZE", "256k"},
                                          {"UCX_TCP_RX_SEG_SIZE", "RX_SEG_SIZE", "1m"}};
  applied->clear();
  if (!ucxTlsMayUseTcp(std::getenv("UCX_TLS"))) return Status::ok();
  for (const Default& d : kDefaults) {
    if (std::getenv(d.variable) != nullptr) return Status::ok();
  }
  for (const Default& d : kDefaults) {
    ucs_status_t s = ucp_config_modify(config, d.key, d.value);
    if (s != UCS_OK) {
      return errorStatus(mixcclSystemError, "ucx transport: setting %s=%s failed: %s (set %s yourself to skip "
                         "this default)", d.variable, d.value, ucs_status_string(s), d.variable);
    }
    *applied += std::string(applied->empty() ? "" : " ") + d.variable + "=" + d.value;
  }
  return Status::ok();
}

}  // namespace mixccl
