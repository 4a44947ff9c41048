#include "bindings/python/communicator.h"

#include <cctype>
#include <cstring>
#include <vector>

namespace mixccl_py {
namespace {

// Operations queued inside a group read and write their buffers only at the outermost group_end;
// holding a reference here keeps a temporary array alive until then.
thread_local int groupDepth = 0;
thread_local std::vector<py::object> groupBuffers;

std::string sizeText(const BufferView& v) {
  return std::to_string(v.count) + " elements of " + v.typeName;
}

void sameType(const BufferView& a, const char* aName, const BufferView& b, const char* bName) {
  if (a.dtype != b.dtype) {
    throw py::type_error(std::string(aName) + " holds " + a.typeName + " but " + bName + " holds " + b.typeName +
                         "; both must have one element type");
  }
}

void countIs(const BufferView& v, const char* name, size_t expected, const std::string& why) {
  if (v.count != expected) {
    throw py::value_error(std::string(name) + " has " + sizeText(v) + " but must have " + std::to_string(expected) +
                          " (" + why + ")");
  }
}

// op is a mixccl.RedOp, its int value, or its name in any case ("sum", "prod", "max", "min", "avg").
mixcclRedOp_t redOpOf(const py::object& op) {
  if (py::isinstance<py::str>(op)) {
    std::string name = op.cast<std::string>();
    for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    static const struct { const char* name; mixcclRedOp_t op; } kOps[] = {
        {"sum", mixcclSum}, {"prod", mixcclProd}, {"product", mixcclProd}, {"max", mixcclMax},
        {"min", mixcclMin}, {"avg", mixcclAvg}};
    for (const auto& o : kOps) {
      if (name == o.name) return o.op;
    }
    throw py::value_error("op '" + name + "' is not a reduction mixccl knows (sum, prod, max, min, avg)");
  }
  return static_cast<mixcclRedOp_t>(py::int_(op).cast<int>());
}

}  // namespace

void check(mixcclResult_t r, const char* what, mixcclComm_t comm) {
  if (r == mixcclSuccess) return;
  const char* last = mixcclGetLastError(comm);
  std::string msg = std::string(what) + " failed: " + mixcclGetErrorString(r);
  if (last != nullptr && *last != '\0') msg += ": " + std::string(last);
  throw LibraryError{r, msg};
}

void groupStart() {
  check(mixcclGroupStart(), "mixccl.group_start", nullptr);
  ++groupDepth;
}

void groupEnd() {
  if (groupDepth == 0) throw py::value_error("mixccl.group_end called without a matching group_start");
  --groupDepth;
  mixcclResult_t r;
  {
    py::gil_scoped_release release;
    r = mixcclGroupEnd();
  }
  if (groupDepth == 0) groupBuffers.clear();
  check(r, "mixccl.group_end", nullptr);
}

bool inGroup() { return groupDepth > 0; }

Communicator::Communicator(int nranks, int rank, const py::bytes& uid, const std::string& device, int ordinal,
                           int timeoutSeconds, const std::string& name) {
  std::string raw = uid;
  if (raw.size() != MIXCCL_UNIQUE_ID_BYTES) {
    throw py::value_error("uid must be the " + std::to_string(MIXCCL_UNIQUE_ID_BYTES) +
                          " bytes of mixccl.get_unique_id(), not " + std::to_string(raw.size()) + " bytes");
  }
  if (nranks < 1) throw py::value_error("nranks must be at least 1, not " + std::to_string(nranks));
  if (rank < 0 || rank >= nranks) {
    throw py::value_error("rank must be in [0, " + std::to_string(nranks) + "), not " + std::to_string(rank));
  }
  mixcclUniqueId id;
  std::memcpy(id.internal, raw.data(), sizeof(id.internal));
  mixcclConfig_t config = MIXCCL_CONFIG_INITIALIZER;
  config.deviceKind = device.c_str();
  config.deviceOrdinal = ordinal;
  if (timeoutSeconds > 0) config.timeoutSeconds = timeoutSeconds;
  if (!name.empty()) config.commName = name.c_str();
  mixcclResult_t r;
  {
    py::gil_scoped_release release;
    r = mixcclCommInitRankConfig(&comm_, nranks, id, rank, &config);
  }
  if (r != mixcclSuccess) comm_ = nullptr;
  check(r, "mixccl.Communicator (mixcclCommInitRankConfig)", nullptr);
}

Communicator::~Communicator() {
  if (comm_ != nullptr) {
    py::gil_scoped_release release;
    mixcclCommDestroy(comm_);
  }
}

mixcclComm_t Communicator::handle() const {
  if (comm_ == nullptr) throw py::value_error("this communicator was destroyed or aborted");
  return comm_;
}

int Communicator::rank() const {
  int r = 0;
  check(mixcclCommUserRank(handle(), &r), "mixccl.Communicator.rank", comm_);
  return r;
}

int Communicator::size() const {
  int n = 0;
  check(mixcclCommCount(handle(), &n), "mixccl.Communicator.size", comm_);
  return n;
}

std::string Communicator::device() const {
  const char* kind = nullptr;
  int ordinal = 0;
  check(mixcclCommDevice(handle(), &kind, &ordinal), "mixccl.Communicator.device", comm_);
  return kind;
}

int Communicator::deviceOrdinal() const {
  const char* kind = nullptr;
  int ordinal = 0;
  check(mixcclCommDevice(handle(), &kind, &ordinal), "mixccl.Communicator.device_ordinal", comm_);
  return ordinal;
}

BufferView Communicator::view(const py::object& obj, const char* what, bool writable) const {
  BufferView v = viewOf(obj, what, writable);
  const std::string kind = device();
  // torch reports ROCm GPUs as "cuda" tensors.
  const bool matches = v.device == kind || (kind == "hip" && v.device == "cuda");
  if (!matches) {
    throw py::value_error(std::string(what) + " lives on " + v.device + " but this communicator's device is " + kind +
                          "; create the Communicator with device='" + v.device +
                          "' or move the data (mixccl.torch stages device tensors through host memory)");
  }
  return v;
}

void Communicator::keepAlive(const py::object& obj) const {
  if (groupDepth > 0 && !obj.is_none()) groupBuffers.push_back(obj);
}

void Communicator::callWithoutGil(const char* what, const std::function<mixcclResult_t(mixcclComm_t)>& call) {
  mixcclComm_t c = handle();
  mixcclResult_t res;
  {
    py::gil_scoped_release release;  // a collective waits for other processes; let Python threads run
    res = call(c);
  }
  check(res, what, comm_);
}

py::object Communicator::allReduce(const py::object& send, py::object recv, const py::object& op) {
  const mixcclRedOp_t redOp = redOpOf(op);
  if (recv.is_none()) recv = send;
  BufferView s = view(send, "sendbuf", false), r = view(recv, "recvbuf", true);
  sameType(s, "sendbuf", r, "recvbuf");
  countIs(r, "recvbuf", s.count, "all_reduce writes as many elements as it reads");
  keepAlive(send), keepAlive(recv);
  callWithoutGil("mixccl all_reduce", [&](mixcclComm_t c) {
    return mixcclAllReduce(s.data, r.data, s.count, s.dtype, redOp, c, nullptr);
  });
  return recv;
}

py::object Communicator::broadcast(const py::object& send, py::object recv, int root) {
  if (recv.is_none()) recv = send;
  BufferView r = view(recv, "recvbuf", true);
  BufferView s = r;
  if (rank() == root) {
    s = view(send, "sendbuf", false);
    sameType(s, "sendbuf", r, "recvbuf");
    countIs(r, "recvbuf", s.count, "broadcast writes as many elements as the root sends");
  }
  keepAlive(send), keepAlive(recv);
  callWithoutGil("mixccl broadcast", [&](mixcclComm_t c) {
    return mixcclBroadcast(s.data, r.data, r.count, r.dtype, root, c, nullptr);
  });
  return recv;
}

py::object Communicator::reduce(const py::object& send, py::object recv, const py::object& op, int root) {
  const mixcclRedOp_t redOp = redOpOf(op);
  BufferView s = view(send, "sendbuf", false);
  void* out = nullptr;
  if (rank() == root) {
    if (recv.is_none()) recv = send;
    BufferView r = view(recv, "recvbuf", true);
    sameType(s, "sendbuf", r, "recvbuf");
    countIs(r, "recvbuf", s.count, "reduce writes as many elements as it reads");
    out = r.data;
  }
  keepAlive(send), keepAlive(recv);
  callWithoutGil("mixccl reduce", [&](mixcclComm_t c) {
    return mixcclReduce(s.data, out, s.count, s.dtype, redOp, root, c, nullptr);
  });
  return recv;
}

py::object Communicator::allGather(const py::object& send, const py::object& recv) {
  BufferView s = view(send, "sendbuf", false), r = view(recv, "recvbuf", true);
  sameType(s, "sendbuf", r, "recvbuf");
  countIs(r, "recvbuf", s.count * size(), "all_gather writes size * len(sendbuf) elements");
  keepAlive(send), keepAlive(recv);
  callWithoutGil("mixccl all_gather", [&](mixcclComm_t c) {
    return mixcclAllGather(s.data, r.data, s.count, s.dtype, c, nullptr);
  });
  return recv;
}

py::object Communicator::reduceScatter(const py::object& send, const py::object& recv, const py::object& op) {
  const mixcclRedOp_t redOp = redOpOf(op);
  BufferView s = view(send, "sendbuf", false), r = view(recv, "recvbuf", true);
  sameType(s, "sendbuf", r, "recvbuf");
  countIs(s, "sendbuf", r.count * size(), "reduce_scatter reads size * len(recvbuf) elements");
  keepAlive(send), keepAlive(recv);
  callWithoutGil("mixccl reduce_scatter", [&](mixcclComm_t c) {
    return mixcclReduceScatter(s.data, r.data, r.count, s.dtype, redOp, c, nullptr);
  });
  return recv;
}

py::object Communicator::allToAll(const py::object& send, const py::object& recv) {
  BufferView s = view(send, "sendbuf", false), r = view(recv, "recvbuf", true);
  sameType(s, "sendbuf", r, "recvbuf");
  countIs(r, "recvbuf", s.count, "all_to_all writes as many elements as it reads");
  const size_t n = static_cast<size_t>(size());
  if (s.count % n != 0) {
    throw py::value_error("sendbuf has " + sizeText(s) + ", which does not split into " + std::to_string(n) +
                          " equal blocks (one per rank)");
  }
  keepAlive(send), keepAlive(recv);
  callWithoutGil("mixccl all_to_all", [&](mixcclComm_t c) {
    return mixcclAlltoAll(s.data, r.data, s.count / n, s.dtype, c, nullptr);
  });
  return recv;
}

py::object Communicator::gather(const py::object& send, py::object recv, int root) {
  BufferView s = view(send, "sendbuf", false);
  void* out = nullptr;
  if (rank() == root) {
    BufferView r = view(recv, "recvbuf", true);
    sameType(s, "sendbuf", r, "recvbuf");
    countIs(r, "recvbuf", s.count * size(), "gather writes size * len(sendbuf) elements on the root");
    out = r.data;
  }
  keepAlive(send), keepAlive(recv);
  callWithoutGil("mixccl gather", [&](mixcclComm_t c) {
    return mixcclGather(s.data, out, s.count, s.dtype, root, c, nullptr);
  });
  return recv;
}

py::object Communicator::scatter(py::object send, const py::object& recv, int root) {
  BufferView r = view(recv, "recvbuf", true);
  const void* in = nullptr;
  if (rank() == root) {
    BufferView s = view(send, "sendbuf", false);
    sameType(s, "sendbuf", r, "recvbuf");
    countIs(s, "sendbuf", r.count * size(), "scatter reads size * len(recvbuf) elements on the root");
    in = s.data;
  }
  keepAlive(send), keepAlive(recv);
  callWithoutGil("mixccl scatter", [&](mixcclComm_t c) {
    return mixcclScatter(in, r.data, r.count, r.dtype, root, c, nullptr);
  });
  return recv;
}

void Communicator::send(const py::object& buf, int peer) {
  BufferView s = view(buf, "buf", false);
  keepAlive(buf);
  callWithoutGil("mixccl send", [&](mixcclComm_t c) { return mixcclSend(s.data, s.count, s.dtype, peer, c, nullptr); });
}

py::object Communicator::recv(const py::object& buf, int peer) {
  BufferView r = view(buf, "buf", true);
  keepAlive(buf);
  callWithoutGil("mixccl recv", [&](mixcclComm_t c) { return mixcclRecv(r.data, r.count, r.dtype, peer, c, nullptr); });
  return buf;
}

Communicator* Communicator::split(int color, int key) {
  mixcclComm_t c = handle();
  mixcclComm_t out = nullptr;
  mixcclResult_t res;
  {
    py::gil_scoped_release release;
    res = mixcclCommSplit(c, color, key, &out, nullptr);
  }
  check(res, "mixccl split", comm_);
  return out == nullptr ? nullptr : new Communicator(out);
}

void Communicator::finalize() {
  callWithoutGil("mixccl finalize", [&](mixcclComm_t c) { return mixcclCommFinalize(c); });
}

void Communicator::destroy() {
  mixcclComm_t c = handle();
  comm_ = nullptr;
  mixcclResult_t res;
  {
    py::gil_scoped_release release;
    res = mixcclCommDestroy(c);
  }
  check(res, "mixccl destroy", nullptr);
}

void Communicator::abort() {
  if (comm_ == nullptr) return;  // aborting twice, or after destroy, is harmless
  mixcclComm_t c = comm_;
  comm_ = nullptr;
  mixcclResult_t res;
  {
    py::gil_scoped_release release;
    res = mixcclCommAbort(c);
  }
  check(res, "mixccl abort", nullptr);
}

}  // namespace mixccl_py
