// A view of the memory behind a Python object that a collective reads or writes: a NumPy array (or
// anything with the buffer protocol) or a torch tensor. The view names where the bytes are, how many
// elements there are and their mixccl type; it checks what the library cannot (contiguity, writability,
// a type mixccl knows) so that a mistake is reported in terms of the Python object, not of a pointer.
#pragma once

#include <pybind11/pybind11.h>

#include <cstddef>
#include <string>

#include "mixccl.h"

namespace mixccl_py {

namespace py = pybind11;

struct BufferView {
  void* data = nullptr;
  size_t count = 0;  // elements
  mixcclDataType_t dtype = mixcclUint8;
  std::string device = "cpu";  // "cpu", or a torch device type such as "cuda"
  int deviceIndex = -1;
  std::string typeName;  // as the user knows it: "float32", "torch.bfloat16"
};

// `what` names the argument in error messages ("sendbuf"). `writable`: the collective writes it.
// Raises ValueError / TypeError with a sentence naming the argument on any problem.
BufferView viewOf(const py::object& obj, const char* what, bool writable);

}  // namespace mixccl_py
