// encodeScalar: operator constants (the 1/n of a floating-point average) as one element of a type.
#include <cstdint>
#include <cstring>

#include "backends/devices/cpu/float_formats.h"
#include "backends/devices/device.h"

namespace mixccl {
namespace {

template <class T>
void put(T v, void* out) {
  std::memcpy(out, &v, sizeof(v));
}

}  // namespace

void encodeScalar(double value, mixcclDataType_t type, void* out) {
  float f = static_cast<float>(value);
  switch (type) {
    case mixcclInt8: put(static_cast<int8_t>(value), out); break;
    case mixcclUint8: put(static_cast<uint8_t>(value), out); break;
    case mixcclInt32: put(static_cast<int32_t>(value), out); break;
    case mixcclUint32: put(static_cast<uint32_t>(value), out); break;
    case mixcclInt64: put(static_cast<int64_t>(value), out); break;
    case mixcclUint64: put(static_cast<uint64_t>(value), out); break;
    case mixcclFloat16: put(cpu::floatToFloat16(f), out); break;
    case mixcclFloat32: put(f, out); break;
    case mixcclFloat64: put(value, out); break;
    case mixcclBfloat16: put(cpu::floatToBfloat16(f), out); break;
    case mixcclFloat8e4m3: put(cpu::floatToFp8e4m3(f), out); break;
    case mixcclFloat8e5m2: put(cpu::floatToFp8e5m2(f), out); break;
    default: break;
  }
}

}  // namespace mixccl
