// mixccl.torch._C: the function torch.distributed calls to create a "mixccl" process group.
// mixccl/torch/__init__.py registers it with torch.distributed.Backend.register_backend.
#include <pybind11/chrono.h>
#include <torch/python.h>

#include <chrono>

#include "bindings/torch/process_group.h"

namespace py = pybind11;

PYBIND11_MODULE(_C, m) {
  m.doc() = "mixccl's torch.distributed backend (C++ part)";
  m.attr("torch_version_built_against") = TORCH_VERSION;
  m.def(
      "create_process_group",
      [](const c10::intrusive_ptr<c10d::Store>& store, int rank, int size,
         const std::chrono::duration<float>& timeout) -> c10::intrusive_ptr<mixccl_torch::BackendBase> {
        return c10::make_intrusive<mixccl_torch::ProcessGroupMixccl>(
            store, rank, size, std::chrono::duration_cast<std::chrono::milliseconds>(timeout));
      },
      py::arg("store"), py::arg("rank"), py::arg("size"), py::arg("timeout"),
      // The rendezvous waits for the store and for every rank to join.
      py::call_guard<py::gil_scoped_release>(),
      "Creates the process group; torch.distributed calls it for init_process_group('mixccl') and new_group.");
}
