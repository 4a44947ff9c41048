// mixccl.Communicator: one rank's handle on a mixccl communicator, with the collectives taking NumPy
// arrays or torch tensors. Every call checks its buffers against each other and against the
// communicator's device, then calls the C API with the GIL released (a collective waits for peers).
#pragma once

#include <pybind11/pybind11.h>

#include <functional>
#include <string>

#include "bindings/python/buffer.h"
#include "mixccl.h"

namespace mixccl_py {

// The library's failure, raised in Python as mixccl.Error (a RuntimeError) with .result set.
struct LibraryError {
  mixcclResult_t result;
  std::string message;
};

// Throws LibraryError for anything but mixcclSuccess; `what` names the call, `comm` may be null.
// Callers pass comm_ as read after the call: another thread's abort() frees the handle and sets comm_
// to null, and the message then comes from this thread's last error.
void check(mixcclResult_t r, const char* what, mixcclComm_t comm);

// Group calls: the buffers of queued operations must outlive the outermost group_end.
void groupStart();
void groupEnd();
bool inGroup();

class Communicator {
 public:
  Communicator(int nranks, int rank, const py::bytes& uid, const std::string& device, int ordinal,
               int timeoutSeconds, const std::string& name);
  explicit Communicator(mixcclComm_t comm) : comm_(comm) {}
  ~Communicator();
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  int rank() const;
  int size() const;
  std::string device() const;
  int deviceOrdinal() const;
  bool valid() const { return comm_ != nullptr; }

  py::object allReduce(const py::object& send, py::object recv, const py::object& op);
  py::object broadcast(const py::object& send, py::object recv, int root);
  py::object reduce(const py::object& send, py::object recv, const py::object& op, int root);
  py::object allGather(const py::object& send, const py::object& recv);
  py::object reduceScatter(const py::object& send, const py::object& recv, const py::object& op);
  py::object allToAll(const py::object& send, const py::object& recv);
  py::object gather(const py::object& send, py::object recv, int root);
  py::object scatter(py::object send, const py::object& recv, int root);
  void send(const py::object& buf, int peer);
  py::object recv(const py::object& buf, int peer);

  Communicator* split(int color, int key);
  void finalize();
  void destroy();
  void abort();

 private:
  mixcclComm_t handle() const;
  // Views a buffer and checks that it lives where this communicator's device does.
  BufferView view(const py::object& obj, const char* what, bool writable) const;
  void keepAlive(const py::object& obj) const;
  // Calls into the library with this communicator and the GIL released; raises on failure, naming what.
  void callWithoutGil(const char* what, const std::function<mixcclResult_t(mixcclComm_t)>& call);

  mixcclComm_t comm_ = nullptr;
};

}  // namespace mixccl_py
