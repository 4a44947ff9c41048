// The pybind11 module mixccl._mixccl. The package's __init__.py re-exports it with the Python-side
// conveniences (the group() context manager, op names).
#include <pybind11/pybind11.h>

#include <cstring>

#include "bindings/python/communicator.h"
#include "mixccl.h"

namespace py = pybind11;
using mixccl_py::Communicator;

PYBIND11_MODULE(_mixccl, m) {
  m.doc() = "mixccl: collective communication across mixed accelerators and CPUs (native module)";

  static py::object errorType = py::reinterpret_steal<py::object>(
      PyErr_NewExceptionWithDoc("mixccl.Error",
                                "A mixccl call failed. .result is the mixcclResult_t code, .result_name its name; "
                                "the message is the library's explanation.",
                                PyExc_RuntimeError, nullptr));
  m.attr("Error") = errorType;
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const mixccl_py::LibraryError& e) {
      py::object err = errorType(e.message);
      err.attr("result") = static_cast<int>(e.result);
      err.attr("result_name") = mixcclGetErrorString(e.result);
      PyErr_SetObject(errorType.ptr(), err.ptr());
    }
  });

  int version = 0;
  mixcclGetVersion(&version);
  m.attr("version") = version;
  m.attr("UNIQUE_ID_BYTES") = MIXCCL_UNIQUE_ID_BYTES;
  m.attr("SPLIT_NOCOLOR") = MIXCCL_SPLIT_NOCOLOR;

  py::enum_<mixcclRedOp_t>(m, "RedOp", "Reduction operators (NCCL's values)")
      .value("SUM", mixcclSum)
      .value("PROD", mixcclProd)
      .value("MAX", mixcclMax)
      .value("MIN", mixcclMin)
      .value("AVG", mixcclAvg)
      .export_values();

  m.def("get_unique_id", []() {
    mixcclUniqueId id;
    mixccl_py::check(mixcclGetUniqueId(&id), "mixccl.get_unique_id", nullptr);
    return py::bytes(id.internal, sizeof(id.internal));
  }, "The 128-byte id every rank passes to Communicator(). The calling process hosts the rendezvous, so it "
     "must stay alive until every rank has joined.");

  m.def("group_start", &mixccl_py::groupStart, "Starts a group: calls are queued until the outermost group_end.");
  m.def("group_end", &mixccl_py::groupEnd, "Runs what was queued since the outermost group_start.");

  py::class_<Communicator>(m, "Communicator")
      .def(py::init<int, int, const py::bytes&, const std::string&, int, int, const std::string&>(),
           py::arg("nranks"), py::arg("rank"), py::arg("uid"), py::arg("device") = "cpu",
           py::arg("device_ordinal") = 0, py::arg("timeout") = 0, py::arg("name") = "",
           "Joins communicator `uid` as `rank` of `nranks` (blocks until every rank has joined). timeout "
           "(seconds, 0: MIXCCL_TIMEOUT or 300) bounds every wait of every later call.")
      .def_property_readonly("rank", &Communicator::rank)
      .def_property_readonly("size", &Communicator::size)
      .def_property_readonly("device", &Communicator::device)
      .def_property_readonly("device_ordinal", &Communicator::deviceOrdinal)
      .def_property_readonly("valid", &Communicator::valid)
      .def("all_reduce", &Communicator::allReduce, py::arg("sendbuf"), py::arg("recvbuf") = py::none(),
           py::arg("op") = "sum", "recvbuf=None: in place. Returns recvbuf.")
      .def("broadcast", &Communicator::broadcast, py::arg("sendbuf"), py::arg("recvbuf") = py::none(),
           py::arg("root") = 0, "sendbuf is read on root only; recvbuf=None: in place.")
      .def("reduce", &Communicator::reduce, py::arg("sendbuf"), py::arg("recvbuf") = py::none(),
           py::arg("op") = "sum", py::arg("root") = 0, "recvbuf is written on root only.")
      .def("all_gather", &Communicator::allGather, py::arg("sendbuf"), py::arg("recvbuf"))
      .def("reduce_scatter", &Communicator::reduceScatter, py::arg("sendbuf"), py::arg("recvbuf"),
           py::arg("op") = "sum")
      .def("all_to_all", &Communicator::allToAll, py::arg("sendbuf"), py::arg("recvbuf"))
      .def("gather", &Communicator::gather, py::arg("sendbuf"), py::arg("recvbuf") = py::none(),
           py::arg("root") = 0, "recvbuf (size * len(sendbuf)) is needed on root only.")
      .def("scatter", &Communicator::scatter, py::arg("sendbuf"), py::arg("recvbuf"), py::arg("root") = 0,
           "sendbuf (size * len(recvbuf)) is needed on root only.")
      .def("send", &Communicator::send, py::arg("buf"), py::arg("peer"))
      .def("recv", &Communicator::recv, py::arg("buf"), py::arg("peer"))
      .def("split", &Communicator::split, py::arg("color"), py::arg("key"), py::return_value_policy::take_ownership,
           "Every rank calls it; returns the new communicator, or None for color=SPLIT_NOCOLOR.")
      .def("finalize", &Communicator::finalize)
      .def("destroy", &Communicator::destroy)
      .def("abort", &Communicator::abort,
           "Stops every operation now (blocked calls in other threads fail) and frees the communicator.");
}
