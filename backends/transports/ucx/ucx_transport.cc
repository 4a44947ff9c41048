// The ucx transport: UCX's UCP tag API carries the fabric protocol of fabric.h. UCX picks the
// wire itself (UCX_TLS, UCX_NET_DEVICES): shared memory (posix, sysv, cma) between ranks of one
// host, tcp or RDMA verbs between hosts. Setup: every rank opens one worker, publishes its worker
// address through the (authenticated) bootstrap, opens an endpoint to each peer and exchanges a
// hello carrying the communicator's secret (fabric_transport.h).
//
// Registration: UCX registers user buffers itself for its zero-copy protocols (rendezvous over
// verbs or cma). Its registration cache needs memory hooks to learn when memory is freed, and those
// are off by default here (ucx_defaults.h says why), so UCX registers per operation where the wire
// needs it; an explicit ucp_mem_map here could not learn of a freed buffer either and would go
// stale, so buffers are passed unregistered. With UCX_MEM_EVENTS=yes UCX's cache is used.
#include <poll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <ucp/api/ucp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "backends/transports/fabric/fabric_setup.h"
#include "backends/transports/fabric/fabric_transport.h"
#include "backends/transports/setup_agreement.h"
#include "backends/transports/ucx/ucx_defaults.h"
#include "core/log.h"

namespace mixccl {
namespace {

constexpr size_t kMaxWorkerAddress = 4096;

// Each rank's worker address, exchanged through the bootstrap.
struct UcxAddressCard {
  uint8_t ok;
  uint8_t reserved[3];
  uint32_t length;
  unsigned char address[kMaxWorkerAddress];
};

std::string ucxError(ucs_status_t s) { return ucs_status_string(s); }

// UCX's own description of an endpoint's lanes, boiled down to the distinct transport/device pairs
// ("tcp/lo", "posix/memory", "cma/memory"), for the INFO log.
std::string describeEndpoint(ucp_ep_h ep) {
  char* text = nullptr;
  size_t size = 0;
  FILE* f = open_memstream(&text, &size);
  if (f == nullptr) return "?";
  ucp_ep_print_info(ep, f);
  std::fclose(f);
  std::set<std::string> used;
  std::string all(text != nullptr ? text : "");
  std::free(text);
  size_t pos = 0;
  while ((pos = all.find("lane[", pos)) != std::string::npos) {
    size_t eol = all.find('\n', pos);
    std::string line = all.substr(pos, eol == std::string::npos ? std::string::npos : eol - pos);
    pos = eol == std::string::npos ? all.size() : eol;
    // The lane's transport comes after ": " as "tl/device" (e.g. "lane[0]:  1:tcp/lo.0 md[1] ...").
    size_t colon = line.find(':', line.find(']'));
    if (colon == std::string::npos) continue;
    size_t start = line.find_first_not_of(" 0123456789:", colon);
    if (start == std::string::npos) continue;
    size_t stop = line.find_first_of(" \t", start);
    std::string token = line.substr(start, stop == std::string::npos ? std::string::npos : stop - start);
    if (token.find('/') != std::string::npos) used.insert(token);
  }
  std::string out;
  for (const auto& u : used) out += (out.empty() ? "" : ",") + u;
  return out.empty() ? "unknown" : out;
}

class UcxEngine final : public FabricEngine {
 public:
  explicit UcxEngine(int nranks) : eps_(static_cast<size_t>(nranks), nullptr), peerErrors_(static_cast<size_t>(nranks)) {}
  ~UcxEngine() override { shutdown(); }

  const char* name() const override { return "ucx"; }

  // The interrupt eventfd; every rank has one, with or without ucx peers.
  Status init() {
    wakeFd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wakeFd_ < 0) return systemErrorStatus("ucx transport: cannot create an eventfd");
    return Status::ok();
  }

  Status open(int rank) {
    rank_ = rank;
    if (turnOffUcxMemoryHooksUnlessAsked()) {
      MIXCCL_INFO("ucx transport: UCX's memory hooks are off (UCX_MEM_EVENTS=no); set UCX_MEM_EVENTS=yes to "
                  "keep them (see docs/transports.md before you do)");
    }
    ucp_config_t* config = nullptr;
    ucs_status_t s = ucp_config_read(nullptr, nullptr, &config);
    if (s != UCS_OK) return errorStatus(mixcclSystemError, "ucx transport: reading UCX's configuration (UCX_* "
                                        "variables) failed: %s", ucxError(s).c_str());
    std::string tcpDefaults;
    Status defaults = applyUcxTcpDefaults(config, &tcpDefaults);
    if (!defaults.isOk()) {
      ucp_config_release(config);
      return defaults;
    }
    if (!tcpDefaults.empty()) MIXCCL_INFO("ucx transport: mixccl's defaults for UCX: %s", tcpDefaults.c_str());
    ucp_params_t params{};
    params.field_mask = UCP_PARAM_FIELD_FEATURES;
    params.features = UCP_FEATURE_TAG | UCP_FEATURE_WAKEUP;
    s = ucp_init(&params, config, &context_);
    ucp_config_release(config);
    if (s != UCS_OK) {
      context_ = nullptr;
      return errorStatus(mixcclSystemError, "ucx transport: ucp_init failed: %s (check UCX_TLS / UCX_NET_DEVICES)",
                         ucxError(s).c_str());
    }
    ucp_worker_params_t wp{};
    wp.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE;
    wp.thread_mode = UCS_THREAD_MODE_SINGLE;  // every call comes from the thread running the operation
    s = ucp_worker_create(context_, &wp, &worker_);
    if (s != UCS_OK) {
      worker_ = nullptr;
      return errorStatus(mixcclSystemError, "ucx transport: creating a UCP worker failed: %s", ucxError(s).c_str());
    }
    s = ucp_worker_get_efd(worker_, &efd_);
    if (s != UCS_OK) {
      return errorStatus(mixcclSystemError, "ucx transport: the UCP worker has no wake-up file descriptor (%s); the "
                         "transports in UCX_TLS must support events", ucxError(s).c_str());
    }
    return Status::ok();
  }

  Status localAddress(UcxAddressCard* card) {
    ucp_address_t* addr = nullptr;
    size_t len = 0;
    ucs_status_t s = ucp_worker_get_address(worker_, &addr, &len);
    if (s != UCS_OK) return errorStatus(mixcclSystemError, "ucx transport: ucp_worker_get_address failed: %s",
                                        ucxError(s).c_str());
    if (len > sizeof(card->address)) {
      ucp_worker_release_address(worker_, addr);
      return errorStatus(mixcclInternalError, "ucx transport: the worker address is %zu bytes, more than the %zu "
                         "mixccl exchanges; narrow UCX_TLS", len, sizeof(card->address));
    }
    std::memcpy(card->address, addr, len);
    card->length = static_cast<uint32_t>(len);
    ucp_worker_release_address(worker_, addr);
    return Status::ok();
  }

  Status connect(int peer, const UcxAddressCard& card) {
    ucp_ep_params_t ep{};
    ep.field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS | UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE |
                    UCP_EP_PARAM_FIELD_ERR_HANDLER;
    ep.address = reinterpret_cast<const ucp_address_t*>(card.address);
    ep.err_mode = UCP_ERR_HANDLING_MODE_PEER;  // a dead peer fails its endpoint instead of hanging it
    ep.err_handler.cb = &UcxEngine::onEndpointError;
    ep.err_handler.arg = &peerErrors_[static_cast<size_t>(peer)];
    peerErrors_[static_cast<size_t>(peer)].peer = peer;
    ucs_status_t s = ucp_ep_create(worker_, &ep, &eps_[static_cast<size_t>(peer)]);
    if (s == UCS_ERR_UNREACHABLE) {
      // Shared-memory wires (posix, sysv) cannot report a dead peer, and UCX refuses them for an
      // endpoint that asks to; without that request a dead peer is still found, by the engine's
      // timeout and, on one host, its watch on the peer's pid.
      ep.err_mode = UCP_ERR_HANDLING_MODE_NONE;
      s = ucp_ep_create(worker_, &ep, &eps_[static_cast<size_t>(peer)]);
      if (s == UCS_OK) {
        MIXCCL_INFO("ucx transport: rank %d reaches rank %d only over wires without peer-failure reports "
                    "(shared memory?); a dead peer shows up as a timeout or through its pid", rank_, peer);
      }
    }
    if (s != UCS_OK) {
      eps_[static_cast<size_t>(peer)] = nullptr;
      return errorStatus(mixcclSystemError, "ucx transport: opening an endpoint to rank %d failed: %s", peer,
                         ucxError(s).c_str());
    }
    return Status::ok();
  }

  std::string describe(int peer) { return describeEndpoint(eps_[static_cast<size_t>(peer)]); }

  Status postSend(int peer, uint64_t tag, const void* buf, size_t len, FabricOp* op) override {
    ucp_request_param_t p{};
    p.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA | UCP_OP_ATTR_FLAG_NO_IMM_CMPL;
    p.cb.send = &UcxEngine::onSendDone;
    p.user_data = op;
    op->length = len;
    op->peer = peer;
    ucs_status_ptr_t r = ucp_tag_send_nbx(eps_[static_cast<size_t>(peer)], buf, len, tag, &p);
    if (UCS_PTR_IS_ERR(r)) {
      return errorStatus(mixcclSystemError, "ucx send of %zu bytes to rank %d failed: %s", len, peer,
                         ucxError(UCS_PTR_STATUS(r)).c_str());
    }
    op->request = r;
    return Status::ok();
  }

  Status postRecv(int peer, uint64_t tag, uint64_t ignore, void* buf, size_t len, FabricOp* op) override {
    ucp_request_param_t p{};
    p.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA | UCP_OP_ATTR_FLAG_NO_IMM_CMPL;
    p.cb.recv = &UcxEngine::onRecvDone;
    p.user_data = op;
    op->peer = peer;
    ucs_status_ptr_t r = ucp_tag_recv_nbx(worker_, buf, len, tag, ~ignore, &p);
    if (UCS_PTR_IS_ERR(r)) {
      return errorStatus(mixcclSystemError, "ucx receive of %zu bytes from rank %d failed: %s", len, peer,
                         ucxError(UCS_PTR_STATUS(r)).c_str());
    }
    op->request = r;
    return Status::ok();
  }

  void cancel(FabricOp* op) override {
    if (op->request != nullptr && !op->completed) ucp_request_cancel(worker_, op->request);
  }

  bool progress() override { return worker_ != nullptr && ucp_worker_progress(worker_) != 0; }

  Status peerError(int peer) const override { return peerErrors_[static_cast<size_t>(peer)].status; }

  void waitForActivity(uint64_t timeoutNs) override {
    if (worker_ != nullptr) {
      if (ucp_worker_progress(worker_) != 0) return;
      // Arming says "wake me on the next event"; BUSY means events are already pending.
      if (ucp_worker_arm(worker_) == UCS_ERR_BUSY) return;
    }
    pollfd fds[2] = {{wakeFd_, POLLIN, 0}, {efd_, POLLIN, 0}};
    timespec ts;
    ts.tv_sec = static_cast<time_t>(timeoutNs / 1000000000ull);
    ts.tv_nsec = static_cast<long>(timeoutNs % 1000000000ull);
    int n = ppoll(fds, worker_ != nullptr ? 2 : 1, &ts, nullptr);
    if (n > 0 && fds[0].revents != 0) {
      uint64_t count = 0;
      ssize_t ignored = read(wakeFd_, &count, sizeof(count));
      (void)ignored;
    }
  }

  void interrupt() override {
    uint64_t one = 1;
    ssize_t ignored = write(wakeFd_, &one, sizeof(one));
    (void)ignored;
  }

 private:
  struct PeerState {
    int peer = -1;
    Status status;
  };

  static void onEndpointError(void* arg, ucp_ep_h, ucs_status_t s) {
    auto* state = static_cast<PeerState*>(arg);
    if (state->status.isOk()) {
      state->status = errorStatus(mixcclSystemError, "ucx connection to rank %d failed: %s (peer process exited or "
                                  "its host became unreachable?)", state->peer, ucs_status_string(s));
    }
  }
  static void onSendDone(void* request, ucs_status_t s, void* userData) {
    auto* op = static_cast<FabricOp*>(userData);
    if (s != UCS_OK) {
      op->status = errorStatus(mixcclSystemError, "ucx send of %zu bytes to rank %d failed: %s", op->length,
                               op->peer, ucs_status_string(s));
    }
    op->completed = true;
    op->request = nullptr;
    ucp_request_free(request);
  }
  static void onRecvDone(void* request, ucs_status_t s, const ucp_tag_recv_info_t* info, void* userData) {
    auto* op = static_cast<FabricOp*>(userData);
    const int peer = op->peer;
    if (s == UCS_ERR_MESSAGE_TRUNCATED) {
      op->truncated = true;
    } else if (s != UCS_OK) {
      op->status = errorStatus(mixcclSystemError, "ucx receive from rank %d failed: %s", peer, ucs_status_string(s));
    }
    op->length = s == UCS_OK ? info->length : 0;
    op->tag = s == UCS_OK ? info->sender_tag : 0;
    op->completed = true;
    op->request = nullptr;
    ucp_request_free(request);
  }

  // Waits (progressing) for a request of shutdown, at most until `until`.
  void waitRequest(ucs_status_ptr_t r, std::chrono::steady_clock::time_point until) {
    if (r == nullptr || UCS_PTR_IS_ERR(r)) return;
    while (ucp_request_check_status(r) == UCS_INPROGRESS && std::chrono::steady_clock::now() < until) {
      if (ucp_worker_progress(worker_) == 0) waitForActivity(1000 * 1000);
    }
    if (ucp_request_check_status(r) == UCS_INPROGRESS) ucp_request_cancel(worker_, r);
    ucp_request_free(r);
  }

  void shutdown() {
    if (worker_ != nullptr) {
      // Make sure what was sent reached the peers before the endpoints go (a closed endpoint drops
      // data still queued), then close them without waiting for the peers.
      const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      ucp_request_param_t p{};
      waitRequest(ucp_worker_flush_nbx(worker_, &p), until);
      for (auto& ep : eps_) {
        if (ep == nullptr) continue;
        ucp_request_param_t cp{};
        cp.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
        cp.flags = UCP_EP_CLOSE_FLAG_FORCE;
        waitRequest(ucp_ep_close_nbx(ep, &cp), std::chrono::steady_clock::now() + std::chrono::seconds(1));
        ep = nullptr;
      }
      ucp_worker_destroy(worker_);
      worker_ = nullptr;
    }
    if (context_ != nullptr) ucp_cleanup(context_);
    context_ = nullptr;
    if (wakeFd_ >= 0) close(wakeFd_);
    wakeFd_ = -1;
  }

  int rank_ = 0;
  ucp_context_h context_ = nullptr;
  ucp_worker_h worker_ = nullptr;
  int efd_ = -1;
  int wakeFd_ = -1;
  std::vector<ucp_ep_h> eps_;
  std::vector<PeerState> peerErrors_;
};

}  // namespace

Status createUcxTransport(const TransportContext& ctx, const std::vector<int>& peers,
                          std::unique_ptr<Transport>* out) {
  auto open = [&](UcxEngine* e) { return e->open(ctx.rank); };
  auto describe = [](UcxEngine* e, int peer) {
    const char* tls = std::getenv("UCX_TLS");
    return strFormat("UCX %s; rank %d over %s (UCX_TLS=%s)", ucp_get_version_string(), peer, e->describe(peer).c_str(),
                     tls != nullptr ? tls : "all");
  };
  return setUpFabricTransport<UcxEngine, UcxAddressCard>(ctx, peers, {"ucx", "UCX", "worker addresses"},
                                                         std::make_unique<UcxEngine>(ctx.nranks), open, describe, out);
}

}  // namespace mixccl
