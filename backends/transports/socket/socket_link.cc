#include "backends/transports/socket/socket_link.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "backends/transports/sink_feeder.h"
#include "backends/transports/socket/socket_stripes.h"
#include "core/host_copy.h"

namespace mixccl {
namespace {

// Staging per link, shared out among its lanes (each lane gets at least kMinLaneStagingBytes).
constexpr size_t kStagingBytes = 1 << 20;
constexpr size_t kMinLaneStagingBytes = 256 << 10;
// With a host pointer, payload that arrives together with the header goes to staging first (the
// header must be checked before anything is written into the user's buffer); keep that copy small.
constexpr size_t kHostFirstReadBytes = 64 << 10;

bool connectionLost(int err) { return err == EPIPE || err == ECONNRESET || err == ENOTCONN || err == ETIMEDOUT; }

// Transfers are created and destroyed once per message; recycling their memory keeps the data
// path free of heap calls. One list per transfer class; it keeps at most kKeep blocks.
template <class T>
class TransferFreeList {
 public:
  static TransferFreeList& get() {
    static auto* list = new TransferFreeList;  // never destroyed: transfers may outlive static teardown
    return *list;
  }
  void* take() {
#if defined(__SANITIZE_ADDRESS__)
    return ::operator new(sizeof(T));  // under ASan every transfer is a fresh block: use-after-free shows
#endif
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!blocks_.empty()) {
        void* p = blocks_.back();
        blocks_.pop_back();
        return p;
      }
    }
    return ::operator new(sizeof(T));
  }
  void give(void* p) {
#if defined(__SANITIZE_ADDRESS__)
    ::operator delete(p);
    return;
#endif
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (blocks_.size() < kKeep) {
        blocks_.push_back(p);  // capacity reserved: no allocation
        return;
      }
    }
    ::operator delete(p);
  }

 private:
  static constexpr size_t kKeep = 1024;
  TransferFreeList() { blocks_.reserve(kKeep); }
  std::mutex mu_;
  std::vector<void*> blocks_;
};

}  // namespace

class SocketSendTransfer final : public QueuedTransfer {
 public:
  SocketSendTransfer(SocketLink* link, MessageSource source)
      : source_(std::move(source)), link_(link), seq_(link->nextSendSeq()),
        parts_(stripeCount(source_.bytes, link->lanes())), partsLeft_(parts_) {
    link_->sends().post(this);
  }
  ~SocketSendTransfer() override {
    link_->sends().withdraw(this, errorStatus(mixcclInternalError,
                                              "a send to rank %d was abandoned halfway through its message",
                                              link_->peer()));
  }
  static void* operator new(size_t) { return TransferFreeList<SocketSendTransfer>::get().take(); }
  static void operator delete(void* p) { TransferFreeList<SocketSendTransfer>::get().give(p); }

  Status progress(bool* moved) override {
    if (status_.isOk() && !done_) link_->pumpSends(moved);
    return status_;
  }

  MessageSource source_;
  SocketLink* link_;
  uint64_t seq_;
  int parts_;
  int partsLeft_;
};

class SocketRecvTransfer final : public QueuedTransfer {
 public:
  SocketRecvTransfer(SocketLink* link, MessageSink sink)
      : sink_(std::move(sink)), link_(link), seq_(link->nextRecvSeq()),
        parts_(stripeCount(sink_.bytes, link->lanes())), partsLeft_(parts_) {
    status_ = checkSink(sink_, link_->peer(), "socket");
    if (status_.isOk() && parts_ > 1 && kStripeAlign % sink_.granule != 0) {
      status_ = errorStatus(mixcclInternalError,
                            "socket transport: a receive from rank %d has element size %zu, which does not divide "
                            "the %zu-byte stripe unit of MIXCCL_NSOCKS > 1 (use MIXCCL_NSOCKS=1)",
                            link_->peer(), sink_.granule, kStripeAlign);
    }
    if (status_.isOk()) link_->recvs().post(this);
  }
  ~SocketRecvTransfer() override {
    link_->recvs().withdraw(this, errorStatus(mixcclInternalError,
                                              "a receive from rank %d was abandoned halfway through its message",
                                              link_->peer()));
  }
  static void* operator new(size_t) { return TransferFreeList<SocketRecvTransfer>::get().take(); }
  static void operator delete(void* p) { TransferFreeList<SocketRecvTransfer>::get().give(p); }

  Status progress(bool* moved) override {
    if (status_.isOk() && !done_) link_->pumpRecvs(moved);
    return status_;
  }

  MessageSink sink_;
  SocketLink* link_;
  uint64_t seq_;
  int parts_;
  int partsLeft_;
};

namespace {

// Points `part` at message `seq` when the lane starts on it (the previous front message is done).
void startPart(LanePart* part, uint64_t seq, size_t bytes, int parts, int lane) {
  if (part->seq == seq) return;
  Stripe s = stripeOf(bytes, parts, lane);
  *part = LanePart{};
  part->seq = seq;
  part->begin = s.begin;
  part->end = s.end;
}

}  // namespace

SocketLink::SocketLink(int peer, std::vector<UniqueFd> fds)
    : peer_(peer), lanes_(fds.size()),
      stagingBytes_(std::max(kMinLaneStagingBytes, kStagingBytes / std::max<size_t>(1, fds.size()))) {
  for (size_t i = 0; i < fds.size(); ++i) {
    lanes_[i].fd = std::move(fds[i]);
    lanes_[i].sendHeader.magic = kSocketFrameMagic;
  }
}

std::unique_ptr<Transfer> SocketLink::send(MessageSource source) {
  return std::unique_ptr<Transfer>(new SocketSendTransfer(this, std::move(source)));
}

std::unique_ptr<Transfer> SocketLink::recv(MessageSink sink) {
  return std::unique_ptr<Transfer>(new SocketRecvTransfer(this, std::move(sink)));
}

void SocketLink::addPollFds(std::vector<pollfd>* fds) const {
  auto* s = static_cast<const SocketSendTransfer*>(sends_.front());
  auto* r = static_cast<const SocketRecvTransfer*>(recvs_.front());
  for (size_t i = 0; i < lanes_.size(); ++i) {
    const SocketLane& lane = lanes_[i];
    short events = 0;
    // A lane whose part of the front message is finished has nothing to wait for until the next.
    bool sendWaits = s != nullptr && static_cast<int>(i) < s->parts_ && !(lane.send.seq == s->seq_ && lane.send.finished);
    bool recvWaits = r != nullptr && static_cast<int>(i) < r->parts_ && !(lane.recv.seq == r->seq_ && lane.recv.finished);
    if (sendWaits) events |= POLLOUT;
    if (recvWaits) events |= POLLIN;
    if (events != 0) fds->push_back({lane.fd.get(), events, 0});
  }
}

Status SocketLink::closedError(int lane) const {
  if (lanes_.size() > 1) {
    return errorStatus(mixcclSystemError, "connection to rank %d closed (socket %d of the pair's %zu; peer process "
                       "exited?)", peer_, lane, lanes_.size());
  }
  return errorStatus(mixcclSystemError, "connection to rank %d closed (peer process exited?)", peer_);
}

void SocketLink::failBoth(const Status& cause) {
  sends_.fail(cause);
  recvs_.fail(cause);
}

void SocketLink::pumpSends(bool* moved) {
  while (auto* t = static_cast<SocketSendTransfer*>(sends_.front())) {
    Status s = sendSome(t, moved);
    if (!s.isOk()) {
      if (s.code() == mixcclSystemError) {
        failBoth(s);
      } else {
        sends_.fail(s);
      }
      return;
    }
    if (t->partsLeft_ > 0) return;  // a socket buffer is full
    sends_.completeFront();
  }
}

void SocketLink::pumpRecvs(bool* moved) {
  while (auto* t = static_cast<SocketRecvTransfer*>(recvs_.front())) {
    Status s = recvSome(t, moved);
    if (!s.isOk()) {
      if (s.code() == mixcclSystemError) {
        failBoth(s);
      } else {
        recvs_.fail(s);
      }
      return;
    }
    if (t->partsLeft_ > 0) return;  // nothing more to read now
    recvs_.completeFront();
  }
}

Status SocketLink::sendSome(SocketSendTransfer* t, bool* moved) {
  for (int i = 0; i < t->parts_; ++i) {
    SocketLane& lane = lanes_[static_cast<size_t>(i)];
    startPart(&lane.send, t->seq_, t->source_.bytes, t->parts_, i);
    if (lane.send.finished) continue;
    MIXCCL_CHECK(sendLane(t, lane, moved));
    if (lane.send.headerDone == sizeof(SocketFrameHeader) && lane.send.done == lane.send.end - lane.send.begin) {
      lane.send.finished = true;
      --t->partsLeft_;
    }
  }
  return Status::ok();
}

Status SocketLink::recvSome(SocketRecvTransfer* t, bool* moved) {
  for (int i = 0; i < t->parts_; ++i) {
    SocketLane& lane = lanes_[static_cast<size_t>(i)];
    startPart(&lane.recv, t->seq_, t->sink_.bytes, t->parts_, i);
    if (lane.recv.finished) continue;
    MIXCCL_CHECK(recvLane(t, lane, i, moved));
    if (lane.recv.headerDone == sizeof(SocketFrameHeader) && lane.recv.done == lane.recv.end - lane.recv.begin) {
      lane.recv.finished = true;
      --t->partsLeft_;
    }
  }
  return Status::ok();
}

Status SocketLink::sendLane(SocketSendTransfer* t, SocketLane& lane, bool* moved) {
  const MessageSource& src = t->source_;
  LanePart& part = lane.send;
  const size_t partBytes = part.end - part.begin;
  if (part.headerDone == 0) lane.sendHeader.bytes = src.bytes;
  while (part.headerDone < sizeof(SocketFrameHeader) || part.done < partBytes) {
    iovec iov[2];
    int n = 0;
    if (part.headerDone < sizeof(SocketFrameHeader)) {
      iov[n++] = {reinterpret_cast<unsigned char*>(&lane.sendHeader) + part.headerDone,
                  sizeof(SocketFrameHeader) - part.headerDone};
    }
    if (part.done < partBytes) {
      if (src.hostPtr != nullptr) {
        iov[n++] = {const_cast<unsigned char*>(static_cast<const unsigned char*>(src.hostPtr)) + part.begin + part.done,
                    partBytes - part.done};
      } else {
        if (part.done == part.stagedEnd) {
          if (lane.sendStaging.empty()) lane.sendStaging.resize(stagingBytes_);  // once per lane
          size_t len = std::min(lane.sendStaging.size(), partBytes - part.done);
          Status s = src.read(lane.sendStaging.data(), part.begin + part.done, len);
          if (!s.isOk()) return s.withContext(strFormat("socket send to rank %d: ", peer_));
          part.stagedBegin = part.done;
          part.stagedEnd = part.done + len;
        }
        iov[n++] = {lane.sendStaging.data() + (part.done - part.stagedBegin), part.stagedEnd - part.done};
      }
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(n);
    ssize_t w = sendmsg(lane.fd.get(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (connectionLost(errno)) return closedError(static_cast<int>(&lane - lanes_.data()));
      return systemErrorStatus("socket send to rank %d", peer_);
    }
    size_t written = static_cast<size_t>(w);
    size_t headerPart = std::min(written, sizeof(SocketFrameHeader) - part.headerDone);
    part.headerDone += headerPart;
    part.done += written - headerPart;
    t->started_ = true;
    *moved = true;
  }
  return Status::ok();
}

Status SocketLink::checkHeader(const SocketFrameHeader& h, size_t expected, int lane) const {
  if (h.magic != kSocketFrameMagic) {
    return errorStatus(mixcclInternalError,
                       "the byte stream from rank %d (connection %d) is out of step (no message header where one "
                       "was due); an earlier message was cut short, or the ranks disagree on MIXCCL_NSOCKS?",
                       peer_, lane);
  }
  if (h.bytes != expected) {
    return errorStatus(mixcclInvalidUsage,
                       "rank %d sent a message of %llu bytes where %zu were expected (the ranks disagree "
                       "on the operation: count, datatype, root or order of calls)",
                       peer_, static_cast<unsigned long long>(h.bytes), expected);
  }
  return Status::ok();
}

// Bytes for a consuming sink gather in the lane's staging: after a split element's first bytes
// (kept at the front, `carry`), so whole elements always start at the aligned staging start.
Status SocketLink::recvLane(SocketRecvTransfer* t, SocketLane& lane, int index, bool* moved) {
  const MessageSink& sink = t->sink_;
  LanePart& part = lane.recv;
  const size_t partBytes = part.end - part.begin;
  if (lane.recvStaging.empty()) lane.recvStaging.resize(stagingBytes_);  // once per lane
  unsigned char* staging = lane.recvStaging.data();
  while (part.headerDone < sizeof(SocketFrameHeader) || part.done < partBytes) {
    iovec iov[2];
    int n = 0;
    const bool inHeader = part.headerDone < sizeof(SocketFrameHeader);
    const size_t remaining = partBytes - part.done;
    bool intoHost = false;
    if (inHeader) {
      iov[n++] = {reinterpret_cast<unsigned char*>(&lane.recvHeader) + part.headerDone,
                  sizeof(SocketFrameHeader) - part.headerDone};
      // Never past this part: the bytes after it belong to the next message.
      size_t cap = sink.hostPtr != nullptr ? kHostFirstReadBytes : stagingBytes_;
      if (remaining > 0) iov[n++] = {staging, std::min(remaining, cap)};
    } else if (sink.hostPtr != nullptr) {
      iov[n++] = {static_cast<unsigned char*>(sink.hostPtr) + part.begin + part.done, remaining};
      intoHost = true;
    } else {
      iov[n++] = {staging + part.carry, std::min(remaining, stagingBytes_ - part.carry)};
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(n);
    ssize_t r = recvmsg(lane.fd.get(), &msg, MSG_DONTWAIT);
    if (r == 0) return closedError(index);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (connectionLost(errno)) return closedError(index);
      return systemErrorStatus("socket receive from rank %d", peer_);
    }
    t->started_ = true;
    *moved = true;
    size_t payload = static_cast<size_t>(r);
    if (inHeader) {
      size_t headerPart = std::min(payload, sizeof(SocketFrameHeader) - part.headerDone);
      part.headerDone += headerPart;
      payload -= headerPart;
      if (part.headerDone < sizeof(SocketFrameHeader)) continue;
      MIXCCL_CHECK(checkHeader(lane.recvHeader, sink.bytes, index));
    }
    if (payload == 0) continue;
    part.done += payload;
    if (intoHost) continue;
    if (sink.hostPtr != nullptr) {  // came with the header: copy from staging (carry is 0 here)
      copyHostMemory(static_cast<unsigned char*>(sink.hostPtr) + part.begin + part.done - payload, staging, payload);
      continue;
    }
    const size_t have = part.carry + payload;
    const size_t whole = have - have % sink.granule;
    if (whole > 0) {
      Status s = sink.consume(staging, part.begin + part.consumed, whole);
      if (!s.isOk()) return s.withContext(strFormat("socket receive from rank %d: ", peer_));
      part.consumed += whole;
      if (have > whole) std::memmove(staging, staging + whole, have - whole);
    }
    part.carry = have - whole;
  }
  return Status::ok();
}

}  // namespace mixccl
