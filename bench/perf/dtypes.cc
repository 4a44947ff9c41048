#include "bench/perf/dtypes.h"

#include <cstdint>
#include <cstring>
#include <stdexcept>

#include "bench/perf/minifloat.h"

namespace mixcclperf {

namespace {

const DataTypeInfo kTypes[] = {
    {mixcclInt8, "int8", 1, false, true, 127, 0, 1},
    {mixcclUint8, "uint8", 1, false, false, 255, 0, 1},
    {mixcclInt32, "int32", 4, false, true, 2147483647.0, 0, 1},
    {mixcclUint32, "uint32", 4, false, false, 4294967295.0, 0, 1},
    {mixcclInt64, "int64", 8, false, true, 9007199254740992.0, 0, 1},   // doubles carry the values
    {mixcclUint64, "uint64", 8, false, false, 9007199254740992.0, 0, 1},
    {mixcclFloat16, "half", 2, true, true, 2048, 0x1p-10, 0x1p-24},
    {mixcclFloat32, "float", 4, true, true, 16777216.0, 0x1p-23, 0x1p-149},
    {mixcclFloat64, "double", 8, true, true, 9007199254740992.0, 0x1p-52, 0x1p-1074},
    {mixcclBfloat16, "bfloat16", 2, true, true, 256, 0x1p-7, 0x1p-133},
    {mixcclFloat8e4m3, "fp8_e4m3", 1, true, true, 16, 0x1p-3, 0x1p-9},
    {mixcclFloat8e5m2, "fp8_e5m2", 1, true, true, 8, 0x1p-2, 0x1p-16},
};

struct Alias {
  const char* name;
  mixcclDataType_t type;
};
const Alias kAliases[] = {
    {"char", mixcclInt8}, {"int", mixcclInt32}, {"float16", mixcclFloat16}, {"float32", mixcclFloat32},
    {"float64", mixcclFloat64}, {"bf16", mixcclBfloat16}, {"e4m3", mixcclFloat8e4m3}, {"e5m2", mixcclFloat8e5m2},
};

template <typename T>
T readAs(const void* buffer, size_t i) {
  T v;
  std::memcpy(&v, static_cast<const char*>(buffer) + i * sizeof(T), sizeof(T));
  return v;
}

template <typename T>
void writeAs(void* buffer, size_t i, T v) {
  std::memcpy(static_cast<char*>(buffer) + i * sizeof(T), &v, sizeof(T));
}

MiniFloatFormat miniFormat(mixcclDataType_t t) {
  switch (t) {
    case mixcclFloat16: return kHalfFormat;
    case mixcclBfloat16: return kBfloat16Format;
    case mixcclFloat8e4m3: return kFp8E4M3Format;
    default: return kFp8E5M2Format;
  }
}

}  // namespace

const DataTypeInfo& dataTypeInfo(mixcclDataType_t t) {
  for (const auto& info : kTypes)
    if (info.type == t) return info;
  throw std::invalid_argument("mixccl-perf: unknown data type number " + std::to_string(static_cast<int>(t)));
}

std::vector<mixcclDataType_t> allDataTypes() {
  std::vector<mixcclDataType_t> all;
  for (const auto& info : kTypes) all.push_back(info.type);
  return all;
}

bool dataTypeFromName(const std::string& name, mixcclDataType_t* out) {
  for (const auto& info : kTypes)
    if (name == info.name) return (*out = info.type, true);
  for (const auto& a : kAliases)
    if (name == a.name) return (*out = a.type, true);
  return false;
}

double loadElement(const void* buffer, size_t i, mixcclDataType_t t) {
  switch (t) {
    case mixcclInt8: return readAs<int8_t>(buffer, i);
    case mixcclUint8: return readAs<uint8_t>(buffer, i);
    case mixcclInt32: return readAs<int32_t>(buffer, i);
    case mixcclUint32: return readAs<uint32_t>(buffer, i);
    case mixcclInt64: return static_cast<double>(readAs<int64_t>(buffer, i));
    case mixcclUint64: return static_cast<double>(readAs<uint64_t>(buffer, i));
    case mixcclFloat32: return readAs<float>(buffer, i);
    case mixcclFloat64: return readAs<double>(buffer, i);
    case mixcclFloat16:
    case mixcclBfloat16: return decodeMiniFloat(readAs<uint16_t>(buffer, i), miniFormat(t));
    case mixcclFloat8e4m3:
    case mixcclFloat8e5m2: return decodeMiniFloat(readAs<uint8_t>(buffer, i), miniFormat(t));
    default: break;
  }
  throw std::invalid_argument("mixccl-perf: cannot read data type " + std::to_string(static_cast<int>(t)));
}

void storeElement(void* buffer, size_t i, mixcclDataType_t t, double x) {
  switch (t) {
    case mixcclInt8: return writeAs<int8_t>(buffer, i, static_cast<int8_t>(x));
    case mixcclUint8: return writeAs<uint8_t>(buffer, i, static_cast<uint8_t>(x));
    case mixcclInt32: return writeAs<int32_t>(buffer, i, static_cast<int32_t>(x));
    case mixcclUint32: return writeAs<uint32_t>(buffer, i, static_cast<uint32_t>(x));
    case mixcclInt64: return writeAs<int64_t>(buffer, i, static_cast<int64_t>(x));
    case mixcclUint64: return writeAs<uint64_t>(buffer, i, static_cast<uint64_t>(x));
    case mixcclFloat32: return writeAs<float>(buffer, i, static_cast<float>(x));
    case mixcclFloat64: return writeAs<double>(buffer, i, x);
    case mixcclFloat16:
    case mixcclBfloat16: return writeAs<uint16_t>(buffer, i, static_cast<uint16_t>(encodeMiniFloat(x, miniFormat(t))));
    case mixcclFloat8e4m3:
    case mixcclFloat8e5m2: return writeAs<uint8_t>(buffer, i, static_cast<uint8_t>(encodeMiniFloat(x, miniFormat(t))));
    default: break;
  }
  throw std::invalid_argument("mixccl-perf: cannot write data type " + std::to_string(static_cast<int>(t)));
}

}  // namespace mixcclperf
