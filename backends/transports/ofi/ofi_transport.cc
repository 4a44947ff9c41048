// The ofi transport: libfabric's tagged messages on a reliable-datagram endpoint (FI_EP_RDM)
// carry the fabric protocol of fabric.h. The provider is libfabric's choice, narrowed by FI_PROVIDER
// (e.g. "tcp" = tcp;ofi_rxm between hosts, "shm" within one host, "verbs;ofi_rxm", "efa", "cxi" on
// clusters). Among the provider's domains, the one on the network interface the bootstrap uses is
// preferred (MIXCCL_SOCKET_IFNAME picks that), so traffic never wanders to another network.
// Setup: one endpoint per rank, addresses exchanged through the authenticated bootstrap and
// inserted in an address vector, then a hello with the communicator's secret (fabric_transport.h).
//
// Registration: the endpoint is opened without FI_MR_LOCAL, so providers that must have local
// buffers registered (some verbs setups) are not chosen; the providers that are (tcp, shm, and
// verbs/efa through rxm/rdm layers that register internally with their own cache) receive plain
// pointers. The tcp and shm providers copy through their own buffers, where registering user
// memory gives nothing.
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_tagged.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "backends/transports/fabric/fabric_setup.h"
#include "backends/transports/fabric/fabric_transport.h"
#include "backends/transports/setup_agreement.h"
#include "core/log.h"

namespace mixccl {
namespace {

constexpr size_t kMaxEndpointName = 256;
constexpr size_t kCqBatch = 16;

struct OfiAddressCard {
  uint8_t ok;
  uint8_t reserved[7];
  uint64_t length;
  unsigned char name[kMaxEndpointName];
};

// libfabric's per-operation context, inside FabricOp::context, pointing back at its operation.
struct OfiContext {
  fi_context2 provider;
  FabricOp* op;
};
static_assert(sizeof(OfiContext) <= sizeof(FabricOp::context));

std::string ofiError(int rc) { return fi_strerror(rc < 0 ? -rc : rc); }

// The name of the interface that holds `address` (the bootstrap's address), or "".
std::string interfaceOf(const std::string& address) {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return "";
  std::string found;
  for (ifaddrs* i = list; i != nullptr && found.empty(); i = i->ifa_next) {
    if (i->ifa_addr == nullptr) continue;
    char text[INET6_ADDRSTRLEN] = {};
    if (i->ifa_addr->sa_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, text, sizeof(text));
    } else if (i->ifa_addr->sa_family == AF_INET6) {
      inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(i->ifa_addr)->sin6_addr, text, sizeof(text));
    } else {
      continue;
    }
    if (address == text || address.rfind(std::string(text) + "%", 0) == 0) found = i->ifa_name;
  }
  freeifaddrs(list);
  return found;
}

class OfiEngine final : public FabricEngine {
 public:
  explicit OfiEngine(int nranks) : addrs_(static_cast<size_t>(nranks), FI_ADDR_UNSPEC), peerErrors_(static_cast<size_t>(nranks)) {}
  ~OfiEngine() override { shutdown(); }

  const char* name() const override { return "ofi"; }
  const std::string& description() const { return description_; }

  // The interrupt eventfd; every rank has one, with or without ofi peers.
  Status init() {
    wakeFd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wakeFd_ < 0) return systemErrorStatus("ofi transport: cannot create an eventfd");
    return Status::ok();
  }

  Status open(const std::string& bindAddress) {
    fi_info* hints = fi_allocinfo();
    if (hints == nullptr) return errorStatus(mixcclSystemError, "ofi transport: fi_allocinfo failed (out of memory)");
    hints->caps = FI_TAGGED;
    hints->mode = FI_CONTEXT | FI_CONTEXT2;  // we hand every operation a context of fi_context2 size
    hints->ep_attr->type = FI_EP_RDM;
    hints->domain_attr->threading = FI_THREAD_DOMAIN;  // one thread at a time drives the endpoint
    hints->domain_attr->av_type = FI_AV_TABLE;
    hints->domain_attr->resource_mgmt = FI_RM_ENABLED;
    hints->domain_attr->mr_mode = FI_MR_VIRT_ADDR | FI_MR_ALLOCATED | FI_MR_PROV_KEY;
    // Tagged messages from one sender must match in the order they were sent (fabric.h).
    hints->tx_attr->msg_order = FI_ORDER_SAS;
    hints->rx_attr->msg_order = FI_ORDER_SAS;
    fi_info* all = nullptr;
    int rc = fi_getinfo(FI_VERSION(1, 9), nullptr, nullptr, 0, hints, &all);
    fi_freeinfo(hints);
    if (rc != 0 || all == nullptr) {
      const char* prov = std::getenv("FI_PROVIDER");
      return errorStatus(mixcclSystemError, "ofi transport: no libfabric provider offers ordered tagged messages on "
                         "reliable datagram endpoints (FI_PROVIDER=%s): %s; `fi_info -t FI_EP_RDM -c FI_TAGGED` "
                         "lists what this host has", prov != nullptr ? prov : "unset", ofiError(rc).c_str());
    }
    // Prefer the domain on the bootstrap's interface (tcp lists one domain per interface).
    const std::string ifname = interfaceOf(bindAddress);
    fi_info* chosen = all;
    for (fi_info* i = all; i != nullptr; i = i->next) {
      if (!ifname.empty() && i->domain_attr->name != nullptr && ifname == i->domain_attr->name) {
        chosen = i;
        break;
      }
    }
    info_ = fi_dupinfo(chosen);
    fi_freeinfo(all);
    if (info_ == nullptr) return errorStatus(mixcclSystemError, "ofi transport: fi_dupinfo failed (out of memory)");
    description_ = strFormat("provider %s, fabric %s, domain %s", info_->fabric_attr->prov_name,
                             info_->fabric_attr->name, info_->domain_attr->name);
    auto fail = [&](const char* what, int r) {
      return errorStatus(mixcclSystemError, "ofi transport: %s failed on %s: %s", what, description_.c_str(),
                         ofiError(r).c_str());
    };
    if ((rc = fi_fabric(info_->fabric_attr, &fabric_, nullptr)) != 0) return fail("fi_fabric", rc);
    if ((rc = fi_domain(fabric_, info_, &domain_, nullptr)) != 0) return fail("fi_domain", rc);
    fi_cq_attr cqAttr{};
    cqAttr.format = FI_CQ_FORMAT_TAGGED;
    cqAttr.wait_obj = FI_WAIT_FD;  // a file descriptor to sleep on together with interrupt()'s eventfd
    rc = fi_cq_open(domain_, &cqAttr, &cq_, nullptr);
    if (rc == 0) {
      rc = fi_control(&cq_->fid, FI_GETWAIT, &cqFd_);
      if (rc != 0) cqFd_ = -1;
    } else {
      // This provider cannot give a file descriptor: block in the provider's own wait instead
      // (fi_cq_sread), which fi_cq_signal() in interrupt() ends.
      cqAttr.wait_obj = FI_WAIT_UNSPEC;
      if ((rc = fi_cq_open(domain_, &cqAttr, &cq_, nullptr)) != 0) return fail("fi_cq_open", rc);
    }
    fi_av_attr avAttr{};
    avAttr.type = FI_AV_TABLE;
    if ((rc = fi_av_open(domain_, &avAttr, &av_, nullptr)) != 0) return fail("fi_av_open", rc);
    if ((rc = fi_endpoint(domain_, info_, &ep_, nullptr)) != 0) return fail("fi_endpoint", rc);
    if ((rc = fi_ep_bind(ep_, &cq_->fid, FI_TRANSMIT | FI_RECV)) != 0) return fail("binding the queue", rc);
    if ((rc = fi_ep_bind(ep_, &av_->fid, 0)) != 0) return fail("binding the address vector", rc);
    if ((rc = fi_enable(ep_)) != 0) return fail("fi_enable", rc);
    return Status::ok();
  }

  Status localAddress(OfiAddressCard* card) {
    size_t len = sizeof(card->name);
    int rc = fi_getname(&ep_->fid, card->name, &len);
    if (rc != 0) return errorStatus(mixcclSystemError, "ofi transport: fi_getname failed: %s", ofiError(rc).c_str());
    card->length = len;
    return Status::ok();
  }

  Status connect(int peer, const OfiAddressCard& card) {
    fi_addr_t addr = FI_ADDR_UNSPEC;
    int n = fi_av_insert(av_, card.name, 1, &addr, 0, nullptr);
    if (n != 1) {
      return errorStatus(mixcclSystemError, "ofi transport: rank %d's endpoint address was refused by %s (%s)", peer,
                         description_.c_str(), n < 0 ? ofiError(n).c_str() : "not inserted");
    }
    addrs_[static_cast<size_t>(peer)] = addr;
    peerErrors_[static_cast<size_t>(peer)].peer = peer;
    return Status::ok();
  }

  Status postSend(int peer, uint64_t tag, const void* buf, size_t len, FabricOp* op) override {
    auto* ctx = prepare(op, peer);
    op->length = len;
    ssize_t rc = fi_tsend(ep_, buf, len, nullptr, addrs_[static_cast<size_t>(peer)], tag, ctx);
    return posted(rc, op, "send", len);
  }

  Status postRecv(int peer, uint64_t tag, uint64_t ignore, void* buf, size_t len, FabricOp* op) override {
    auto* ctx = prepare(op, peer);
    // The sender's rank is in the tag, so any source address may match (no FI_DIRECTED_RECV needed).
    ssize_t rc = fi_trecv(ep_, buf, len, nullptr, FI_ADDR_UNSPEC, tag, ignore, ctx);
    return posted(rc, op, "receive", len);
  }

  void cancel(FabricOp* op) override {
    if (op->busy && !op->completed) fi_cancel(&ep_->fid, op->context);
  }

  // libfabric 1.17's shm provider never matches a receive posted with ignore bits (measured here:
  // such receives wait forever), so over it the link posts exact tags.
  bool matchesWithIgnoreBits() const override {
    return info_ == nullptr || std::strcmp(info_->fabric_attr->prov_name, "shm") != 0;
  }

  bool progress() override {
    if (cq_ == nullptr) return false;
    bool any = false;
    fi_cq_tagged_entry entries[kCqBatch];
    for (;;) {
      ssize_t n = fi_cq_read(cq_, entries, kCqBatch);
      if (n > 0) {
        for (ssize_t i = 0; i < n; ++i) complete(entries[i]);
        any = true;
        continue;
      }
      if (n == -FI_EAVAIL) {
        completeWithError();
        any = true;
        continue;
      }
      return any;  // -FI_EAGAIN: nothing more now
    }
  }

  Status peerError(int peer) const override { return peerErrors_[static_cast<size_t>(peer)].status; }

  void waitForActivity(uint64_t timeoutNs) override {
    if (progress()) return;
    if (cq_ != nullptr && cqFd_ < 0) {
      // The provider's own blocking wait; interrupt() signals the queue to end it.
      int ms = static_cast<int>(std::min<uint64_t>(timeoutNs / 1000000, 1000));
      fi_cq_tagged_entry entries[kCqBatch];
      ssize_t n = fi_cq_sread(cq_, entries, kCqBatch, nullptr, ms > 0 ? ms : 1);
      for (ssize_t i = 0; i < n; ++i) complete(entries[i]);
      if (n == -FI_EAVAIL) completeWithError();
      return;
    }
    if (cq_ != nullptr) {
      fid* fids[1] = {&cq_->fid};
      if (fi_trywait(fabric_, fids, 1) != FI_SUCCESS) return;  // completions pending: no sleeping
    }
    pollfd fds[2] = {{wakeFd_, POLLIN, 0}, {cqFd_, POLLIN, 0}};
    timespec ts;
    ts.tv_sec = static_cast<time_t>(timeoutNs / 1000000000ull);
    ts.tv_nsec = static_cast<long>(timeoutNs % 1000000000ull);
    int n = ppoll(fds, cq_ != nullptr ? 2 : 1, &ts, nullptr);
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
    if (cqFd_ < 0 && cq_ != nullptr) fi_cq_signal(cq_);
  }

 private:
  struct PeerState {
    int peer = -1;
    Status status;
  };

  void* prepare(FabricOp* op, int peer) {
    op->peer = peer;
    auto* ctx = reinterpret_cast<OfiContext*>(op->context);
    std::memset(ctx, 0, sizeof(*ctx));
    ctx->op = op;
    return ctx;
  }

  Status posted(ssize_t rc, FabricOp* op, const char* what, size_t len) {
    if (rc == 0) return Status::ok();
    if (rc == -FI_EAGAIN) {
      progress();  // the provider's queue is full: completions make room
      return Status(mixcclInProgress, "ofi queue full");
    }
    return errorStatus(mixcclSystemError, "ofi %s of %zu bytes %s rank %d failed: %s", what, len,
                       std::strcmp(what, "send") == 0 ? "to" : "from", op->peer, ofiError(static_cast<int>(rc)).c_str());
  }

  static FabricOp* opOf(void* context) { return static_cast<OfiContext*>(context)->op; }

  void complete(const fi_cq_tagged_entry& e) {
    FabricOp* op = opOf(e.op_context);
    if ((e.flags & FI_RECV) != 0) {
      op->length = e.len;
      op->tag = e.tag;
    }
    op->completed = true;
  }

  void completeWithError() {
    fi_cq_err_entry err{};
    if (fi_cq_readerr(cq_, &err, 0) <= 0) return;
    FabricOp* op = opOf(err.op_context);
    const bool isRecv = (err.flags & FI_RECV) != 0;
    if (err.err == FI_ETRUNC && isRecv) {
      op->truncated = true;
    } else if (err.err == FI_ECANCELED) {
      op->status = errorStatus(mixcclSystemError, "ofi operation with rank %d cancelled", op->peer);
    } else {
      char detail[256] = {};
      const char* provDetail = fi_cq_strerror(cq_, err.prov_errno, err.err_data, detail, sizeof(detail));
      op->status = errorStatus(mixcclSystemError, "ofi %s %s rank %d failed: %s (%s)", isRecv ? "receive" : "send",
                               isRecv ? "from" : "to", op->peer, ofiError(err.err).c_str(),
                               provDetail != nullptr ? provDetail : "");
      if (!isRecv && op->peer >= 0) {
        PeerState& p = peerErrors_[static_cast<size_t>(op->peer)];
        if (p.status.isOk()) p.status = op->status.withContext("connection lost: ");
      }
    }
    op->completed = true;
  }

  void shutdown() {
    // Closing in reverse order of opening; the endpoint first, so nothing completes into the queue
    // after it is gone.
    if (ep_ != nullptr) fi_close(&ep_->fid);
    if (av_ != nullptr) fi_close(&av_->fid);
    if (cq_ != nullptr) fi_close(&cq_->fid);
    if (domain_ != nullptr) fi_close(&domain_->fid);
    if (fabric_ != nullptr) fi_close(&fabric_->fid);
    if (info_ != nullptr) fi_freeinfo(info_);
    ep_ = nullptr;
    av_ = nullptr;
    cq_ = nullptr;
    domain_ = nullptr;
    fabric_ = nullptr;
    info_ = nullptr;
    if (wakeFd_ >= 0) close(wakeFd_);
    wakeFd_ = -1;
  }

  fi_info* info_ = nullptr;
  fid_fabric* fabric_ = nullptr;
  fid_domain* domain_ = nullptr;
  fid_cq* cq_ = nullptr;
  fid_av* av_ = nullptr;
  fid_ep* ep_ = nullptr;
  int cqFd_ = -1;
  int wakeFd_ = -1;
  std::string description_;
  std::vector<fi_addr_t> addrs_;
  std::vector<PeerState> peerErrors_;
};

}  // namespace

Status createOfiTransport(const TransportContext& ctx, const std::vector<int>& peers,
                          std::unique_ptr<Transport>* out) {
  auto open = [&](OfiEngine* e) { return e->open(ctx.bindAddress); };
  auto describe = [](OfiEngine* e, int) {
    return strFormat("libfabric %u.%u, %s", FI_MAJOR(fi_version()), FI_MINOR(fi_version()), e->description().c_str());
  };
  return setUpFabricTransport<OfiEngine, OfiAddressCard>(ctx, peers, {"ofi", "libfabric", "endpoint addresses"},
                                                         std::make_unique<OfiEngine>(ctx.nranks), open, describe, out);
}

}  // namespace mixccl
