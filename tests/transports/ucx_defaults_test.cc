// mixccl's changes to UCX's defaults (backends/transports/ucx/ucx_defaults.h): made when the user
// has not set the UCX variable, never when they have.
#include "backends/transports/ucx/ucx_defaults.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <ucm/api/ucm.h>

#include <string>

namespace mixccl {
namespace {

void setMemoryEvents(int on) {
  ucm_global_config_t options = ucm_global_opts;
  options.enable_events = on;
  ucm_set_global_opts(&options);
}

// Sets or unsets one variable for the life of the object.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    const char* old = getenv(name);
    if (old != nullptr) old_ = old;
    hadOld_ = old != nullptr;
    if (value != nullptr) setenv(name, value, 1); else unsetenv(name);
  }
  ~ScopedEnv() {
    if (hadOld_) setenv(name_.c_str(), old_.c_str(), 1); else unsetenv(name_.c_str());
  }

 private:
  std::string name_, old_;
  bool hadOld_ = false;
};

TEST(UcxDefaults, MemoryHooksAreTurnedOffWhenTheUserSaidNothing) {
  ScopedEnv events("UCX_MEM_EVENTS", nullptr);
  setMemoryEvents(1);
  EXPECT_TRUE(turnOffUcxMemoryHooksUnlessAsked());
  EXPECT_EQ(ucm_global_opts.enable_events, 0);
  EXPECT_FALSE(turnOffUcxMemoryHooksUnlessAsked()) << "already off: nothing to do, nothing to log";
}

TEST(UcxDefaults, MemoryHooksStayAsTheUserSetThem) {
  ScopedEnv events("UCX_MEM_EVENTS", "yes");
  setMemoryEvents(1);
  EXPECT_FALSE(turnOffUcxMemoryHooksUnlessAsked());
  EXPECT_EQ(ucm_global_opts.enable_events, 1);
}

TEST(UcxDefaults, TlsListsThatMayOpenTcp) {
  EXPECT_TRUE(ucxTlsMayUseTcp(nullptr));
  EXPECT_TRUE(ucxTlsMayUseTcp("all"));
  EXPECT_TRUE(ucxTlsMayUseTcp("tcp"));
  EXPECT_TRUE(ucxTlsMayUseTcp("posix,tcp,cma"));
  EXPECT_TRUE(ucxTlsMayUseTcp("^posix"));
  EXPECT_FALSE(ucxTlsMayUseTcp("posix,cma"));
  EXPECT_FALSE(ucxTlsMayUseTcp("^tcp"));
  EXPECT_FALSE(ucxTlsMayUseTcp("^posix,tcp"));
  EXPECT_FALSE(ucxTlsMayUseTcp("tcpx"));
  EXPECT_FALSE(ucxTlsMayUseTcp(""));
}

// The settings are applied only as a pair, and only when the user set neither and tcp may be used.
TEST(UcxDefaults, TcpSegmentSizesFollowTheUsersSettings) {
  struct Case {
    const char* tls;
    const char* tx;
    const char* rx;
    const char* expected;
  };
  const Case cases[] = {
      {"tcp", nullptr, nullptr, "UCX_TCP_TX_SEG_SIZE=256k UCX_TCP_RX_SEG_SIZE=1m"},
      {nullptr, nullptr, nullptr, "UCX_TCP_TX_SEG_SIZE=256k UCX_TCP_RX_SEG_SIZE=1m"},
      {"tcp", "64k", nullptr, ""},
      {"tcp", nullptr, "512k", ""},
      {"posix,cma", nullptr, nullptr, ""},
  };
  for (const Case& c : cases) {
    ScopedEnv tls("UCX_TLS", c.tls), tx("UCX_TCP_TX_SEG_SIZE", c.tx), rx("UCX_TCP_RX_SEG_SIZE", c.rx);
    ucp_config_t* config = nullptr;
    ASSERT_EQ(ucp_config_read(nullptr, nullptr, &config), UCS_OK);
    std::string applied = "stale";
    Status s = applyUcxTcpDefaults(config, &applied);
    ucp_config_release(config);
    ASSERT_TRUE(s.isOk()) << s.message();
    EXPECT_EQ(applied, c.expected) << "UCX_TLS=" << (c.tls ? c.tls : "(unset)") << " TX=" << (c.tx ? c.tx : "-")
                                   << " RX=" << (c.rx ? c.rx : "-");
  }
}

}  // namespace
}  // namespace mixccl
