#include "bindings/python/buffer.h"

#include <pybind11/buffer_info.h>

#include <string>

namespace mixccl_py {
namespace {

// numpy format characters carry a byte-order prefix and platform-sized letters ('l' is 8 bytes on
// LP64); the kind (signed, unsigned, float) and the item size decide the mixccl type.
bool typeFromFormat(std::string fmt, size_t itemsize, mixcclDataType_t* out) {
  if (!fmt.empty() && (fmt[0] == '@' || fmt[0] == '=' || fmt[0] == '<' || fmt[0] == '!')) fmt.erase(0, 1);
  if (fmt.size() != 1) return false;
  const char c = fmt[0];
  const bool isSigned = c == 'b' || c == 'h' || c == 'i' || c == 'l' || c == 'q';
  const bool isUnsigned = c == 'B' || c == 'H' || c == 'I' || c == 'L' || c == 'Q' || c == '?';
  const bool isFloat = c == 'e' || c == 'f' || c == 'd';
  if (isSigned) {
    if (itemsize == 1) return *out = mixcclInt8, true;
    if (itemsize == 4) return *out = mixcclInt32, true;
    if (itemsize == 8) return *out = mixcclInt64, true;
  } else if (isUnsigned) {
    if (itemsize == 1) return *out = mixcclUint8, true;
    if (itemsize == 4) return *out = mixcclUint32, true;
    if (itemsize == 8) return *out = mixcclUint64, true;
  } else if (isFloat) {
    if (itemsize == 2) return *out = mixcclFloat16, true;
    if (itemsize == 4) return *out = mixcclFloat32, true;
    if (itemsize == 8) return *out = mixcclFloat64, true;
  }
  return false;
}

const char* nameOf(mixcclDataType_t t) {
  switch (t) {
    case mixcclInt8: return "int8";
    case mixcclUint8: return "uint8";
    case mixcclInt32: return "int32";
    case mixcclUint32: return "uint32";
    case mixcclInt64: return "int64";
    case mixcclUint64: return "uint64";
    case mixcclFloat16: return "float16";
    case mixcclFloat32: return "float32";
    case mixcclFloat64: return "float64";
    default: return "another type";
  }
}

bool typeFromTorch(const std::string& name, mixcclDataType_t* out) {
  static const struct { const char* name; mixcclDataType_t type; } kTypes[] = {
      {"torch.int8", mixcclInt8},       {"torch.uint8", mixcclUint8},     {"torch.bool", mixcclUint8},
      {"torch.int32", mixcclInt32},     {"torch.int64", mixcclInt64},     {"torch.float16", mixcclFloat16},
      {"torch.float32", mixcclFloat32}, {"torch.float64", mixcclFloat64}, {"torch.bfloat16", mixcclBfloat16},
  };
  for (const auto& t : kTypes) {
    if (name == t.name) return *out = t.type, true;
  }
  return false;
}

// torch tensors are recognised by duck typing (data_ptr, is_contiguous, dtype, device), so this module
// neither links nor imports torch.
BufferView viewOfTensor(const py::object& t, const char* what) {
  BufferView v;
  v.typeName = py::str(t.attr("dtype")).cast<std::string>();
  if (!typeFromTorch(v.typeName, &v.dtype)) {
    throw py::type_error(std::string(what) + " is a tensor of " + v.typeName +
                         ", which mixccl does not carry (it carries int8, uint8, bool, int32, int64, "
                         "float16, bfloat16, float32 and float64)");
  }
  if (!t.attr("is_contiguous")().cast<bool>()) {
    throw py::value_error(std::string(what) +
                          " is a non-contiguous tensor; pass tensor.contiguous() (and copy the result back)");
  }
  py::object device = t.attr("device");
  v.device = py::str(device.attr("type")).cast<std::string>();
  py::object index = device.attr("index");
  v.deviceIndex = index.is_none() ? -1 : index.cast<int>();
  v.data = reinterpret_cast<void*>(t.attr("data_ptr")().cast<uintptr_t>());
  v.count = t.attr("numel")().cast<size_t>();
  return v;
}

BufferView viewOfBuffer(const py::object& obj, const char* what, bool writable) {
  if (!PyObject_CheckBuffer(obj.ptr())) {
    throw py::type_error(std::string(what) + " must be a NumPy array, a torch tensor or another object with "
                         "the buffer protocol, not " + py::str(py::type::of(obj)).cast<std::string>());
  }
  py::buffer_info info;
  try {
    info = py::reinterpret_borrow<py::buffer>(obj).request(writable);
  } catch (py::error_already_set& e) {
    throw py::value_error(std::string(what) + (writable ? " must be writable: " : ": ") + e.what());
  }
  BufferView v;
  v.typeName = info.format;
  if (!typeFromFormat(info.format, static_cast<size_t>(info.itemsize), &v.dtype)) {
    throw py::type_error(std::string(what) + " has element format '" + info.format + "' (" +
                         std::to_string(info.itemsize) + " bytes), which mixccl does not carry (it carries "
                         "int8, uint8, bool, int32, uint32, int64, uint64, float16, float32 and float64)");
  }
  // C-contiguous: the stride of each dimension is the product of the sizes after it.
  py::ssize_t expected = info.itemsize;
  for (py::ssize_t d = info.ndim - 1; d >= 0; --d) {
    if (info.shape[d] != 1 && info.strides[d] != expected) {
      throw py::value_error(std::string(what) + " is not C-contiguous; pass numpy.ascontiguousarray(...) "
                            "(and copy the result back)");
    }
    expected *= info.shape[d];
  }
  v.typeName = nameOf(v.dtype);
  v.data = info.ptr;
  v.count = static_cast<size_t>(info.size);
  return v;
}

}  // namespace

BufferView viewOf(const py::object& obj, const char* what, bool writable) {
  if (obj.is_none()) throw py::value_error(std::string(what) + " is None; this rank needs a buffer here");
  if (py::hasattr(obj, "data_ptr") && py::hasattr(obj, "is_contiguous") && py::hasattr(obj, "dtype")) {
    return viewOfTensor(obj, what);
  }
  return viewOfBuffer(obj, what, writable);
}

}  // namespace mixccl_py
