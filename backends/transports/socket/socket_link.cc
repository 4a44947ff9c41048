#include "backends/transports/socket/socket_link.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "backends/transports/sink_feeder.h"
#include "backends/transports/socket/socket_wire.h"

namespace mixccl {
namespace {

constexpr size_t kStagingBytes = 1 << 20;
// With a host pointer, payload that arrives together with the header goes to staging first (the
// header must be checked before anything is written into the user's buffer); keep that copy small.
constexpr size_t kHostFirstReadBytes = 64 << 10;

bool connectionLost(int err) { return err == EPIPE || err == ECONNRESET || err == ENOTCONN || err == ETIMEDOUT; }

}  // namespace

class SocketSendTransfer final : public QueuedTransfer {
 public:
  SocketSendTransfer(SocketLink* link, MessageSource source) : source_(std::move(source)), link_(link) {
    header_.magic = kSocketFrameMagic;
    header_.bytes = source_.bytes;
    link_->sends().post(this);
  }
  ~SocketSendTransfer() override {
    link_->sends().withdraw(this, errorStatus(mixcclInternalError,
                                              "a send to rank %d was abandoned halfway through its message",
                                              link_->peer()));
  }
  Status progress(bool* moved) override {
    if (status_.isOk() && !done_) link_->pumpSends(moved);
    return status_;
  }
  bool finished() const { return headerSent_ == sizeof(header_) && sent_ == source_.bytes; }

  MessageSource source_;
  SocketFrameHeader header_{};
  size_t headerSent_ = 0;
  size_t sent_ = 0;         // payload bytes handed to the kernel
  size_t stagedBegin_ = 0;  // message range [stagedBegin_, stagedEnd_) is in the link's staging buffer
  size_t stagedEnd_ = 0;

 private:
  SocketLink* link_;
};

class SocketRecvTransfer final : public QueuedTransfer {
 public:
  SocketRecvTransfer(SocketLink* link, MessageSink sink) : sink_(std::move(sink)), feeder_(&sink_), link_(link) {
    status_ = checkSink(sink_, link_->peer(), "socket");
    if (status_.isOk()) link_->recvs().post(this);
  }
  ~SocketRecvTransfer() override {
    link_->recvs().withdraw(this, errorStatus(mixcclInternalError,
                                              "a receive from rank %d was abandoned halfway through its message",
                                              link_->peer()));
  }
  Status progress(bool* moved) override {
    if (status_.isOk() && !done_) link_->pumpRecvs(moved);
    return status_;
  }
  bool finished() const { return headerGot_ == sizeof(header_) && feeder_.complete(); }

  MessageSink sink_;
  SinkFeeder feeder_;
  SocketFrameHeader header_{};
  size_t headerGot_ = 0;

 private:
  SocketLink* link_;
};

std::unique_ptr<Transfer> SocketLink::send(MessageSource source) {
  return std::make_unique<SocketSendTransfer>(this, std::move(source));
}

std::unique_ptr<Transfer> SocketLink::recv(MessageSink sink) {
  return std::make_unique<SocketRecvTransfer>(this, std::move(sink));
}

short SocketLink::wantedEvents() const {
  short events = 0;
  if (!recvs_.empty()) events |= POLLIN;
  if (!sends_.empty()) events |= POLLOUT;
  return events;
}

Status SocketLink::closedError() const {
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
    if (!t->finished()) return;  // the socket buffer is full
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
    if (!t->finished()) return;  // nothing more to read now
    recvs_.completeFront();
  }
}

Status SocketLink::sendSome(SocketSendTransfer* t, bool* moved) {
  const MessageSource& src = t->source_;
  while (!t->finished()) {
    iovec iov[2];
    int n = 0;
    if (t->headerSent_ < sizeof(t->header_)) {
      iov[n++] = {reinterpret_cast<unsigned char*>(&t->header_) + t->headerSent_,
                  sizeof(t->header_) - t->headerSent_};
    }
    if (t->sent_ < src.bytes) {
      if (src.hostPtr != nullptr) {
        iov[n++] = {const_cast<unsigned char*>(static_cast<const unsigned char*>(src.hostPtr)) + t->sent_,
                    src.bytes - t->sent_};
      } else {
        if (t->sent_ == t->stagedEnd_) {
          if (sendStaging_.empty()) sendStaging_.resize(kStagingBytes);
          size_t len = std::min(sendStaging_.size(), src.bytes - t->sent_);
          Status s = src.read(sendStaging_.data(), t->sent_, len);
          if (!s.isOk()) return s.withContext(strFormat("socket send to rank %d: ", peer_));
          t->stagedBegin_ = t->sent_;
          t->stagedEnd_ = t->sent_ + len;
        }
        iov[n++] = {sendStaging_.data() + (t->sent_ - t->stagedBegin_), t->stagedEnd_ - t->sent_};
      }
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(n);
    ssize_t w = sendmsg(fd_.get(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (connectionLost(errno)) return closedError();
      return systemErrorStatus("socket send to rank %d", peer_);
    }
    size_t written = static_cast<size_t>(w);
    size_t headerPart = std::min(written, sizeof(t->header_) - t->headerSent_);
    t->headerSent_ += headerPart;
    t->sent_ += written - headerPart;
    t->started_ = true;
    *moved = true;
  }
  return Status::ok();
}

Status SocketLink::recvSome(SocketRecvTransfer* t, bool* moved) {
  const MessageSink& sink = t->sink_;
  if (recvStaging_.empty()) recvStaging_.resize(kStagingBytes);
  while (!t->finished()) {
    iovec iov[2];
    int n = 0;
    const bool inHeader = t->headerGot_ < sizeof(t->header_);
    const size_t remaining = sink.bytes - t->feeder_.fed();
    bool intoHost = false;
    if (inHeader) {
      iov[n++] = {reinterpret_cast<unsigned char*>(&t->header_) + t->headerGot_,
                  sizeof(t->header_) - t->headerGot_};
      // Never past this message: the bytes after it belong to the next receive.
      size_t cap = sink.hostPtr != nullptr ? kHostFirstReadBytes : recvStaging_.size();
      iov[n++] = {recvStaging_.data(), std::min(remaining, cap)};
    } else if (sink.hostPtr != nullptr) {
      iov[n++] = {static_cast<unsigned char*>(sink.hostPtr) + t->feeder_.fed(), remaining};
      intoHost = true;
    } else {
      iov[n++] = {recvStaging_.data(), std::min(remaining, recvStaging_.size())};
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(n);
    ssize_t r = recvmsg(fd_.get(), &msg, MSG_DONTWAIT);
    if (r == 0) return closedError();
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (connectionLost(errno)) return closedError();
      return systemErrorStatus("socket receive from rank %d", peer_);
    }
    t->started_ = true;
    *moved = true;
    size_t payload = static_cast<size_t>(r);
    if (inHeader) {
      size_t headerPart = std::min(payload, sizeof(t->header_) - t->headerGot_);
      t->headerGot_ += headerPart;
      payload -= headerPart;
      if (t->headerGot_ < sizeof(t->header_)) continue;
      if (t->header_.magic != kSocketFrameMagic) {
        return errorStatus(mixcclInternalError,
                           "the byte stream from rank %d is out of step (no message header where one was "
                           "due); an earlier message was cut short?", peer_);
      }
      if (t->header_.bytes != sink.bytes) {
        return errorStatus(mixcclInvalidUsage,
                           "rank %d sent a message of %llu bytes where %zu were expected (the ranks disagree "
                           "on the operation: count, datatype, root or order of calls)",
                           peer_, static_cast<unsigned long long>(t->header_.bytes), sink.bytes);
      }
    }
    if (payload == 0) continue;
    if (intoHost) {
      t->feeder_.wroteToHost(payload);
    } else {
      Status s = t->feeder_.feed(recvStaging_.data(), payload);
      if (!s.isOk()) return s.withContext(strFormat("socket receive from rank %d: ", peer_));
    }
  }
  return Status::ok();
}

}  // namespace mixccl
