// Names and sizes of the data types and reduction operators, shared by every device backend and by
// the messages the core prints.
#include "backends/devices/device.h"

namespace mixccl {

size_t dataTypeSize(mixcclDataType_t type) {
  switch (type) {
    case mixcclInt8:
    case mixcclUint8:
    case mixcclFloat8e4m3:
    case mixcclFloat8e5m2:
      return 1;
    case mixcclFloat16:
    case mixcclBfloat16:
      return 2;
    case mixcclInt32:
    case mixcclUint32:
    case mixcclFloat32:
      return 4;
    case mixcclInt64:
    case mixcclUint64:
    case mixcclFloat64:
      return 8;
    default:
      return 0;
  }
}

const char* dataTypeName(mixcclDataType_t type) {
  switch (type) {
    case mixcclInt8: return "int8";
    case mixcclUint8: return "uint8";
    case mixcclInt32: return "int32";
    case mixcclUint32: return "uint32";
    case mixcclInt64: return "int64";
    case mixcclUint64: return "uint64";
    case mixcclFloat16: return "float16";
    case mixcclFloat32: return "float32";
    case mixcclFloat64: return "float64";
    case mixcclBfloat16: return "bfloat16";
    case mixcclFloat8e4m3: return "float8e4m3";
    case mixcclFloat8e5m2: return "float8e5m2";
    default: return "unknown";
  }
}

bool isFloatingType(mixcclDataType_t type) {
  switch (type) {
    case mixcclFloat16:
    case mixcclFloat32:
    case mixcclFloat64:
    case mixcclBfloat16:
    case mixcclFloat8e4m3:
    case mixcclFloat8e5m2:
      return true;
    default:
      return false;
  }
}

const char* reduceOpName(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum: return "sum";
    case ReduceOp::Prod: return "prod";
    case ReduceOp::Max: return "max";
    case ReduceOp::Min: return "min";
  }
  return "unknown";
}

}  // namespace mixccl
