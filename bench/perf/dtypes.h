// The data types mixccl-perf knows: names as nccl-tests prints them, sizes, and host-side access to
// buffer elements as doubles (exact for every value the benchmark writes).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "mixccl.h"

namespace mixcclperf {

struct DataTypeInfo {
  mixcclDataType_t type;
  const char* name;        // printed in the "type" column
  size_t bytes;
  bool isFloat;
  bool isSigned;
  // Every integer of magnitude up to this is exactly representable (2^(mantissa bits + 1) for floats,
  // the largest value for integers): fills keep all partial results within it.
  double exactIntegerLimit;
  double epsilon;          // 2^-mantissa bits for floats, 0 for integers
  double minPositive;      // smallest positive subnormal for floats, 1 for integers
};

const DataTypeInfo& dataTypeInfo(mixcclDataType_t t);
std::vector<mixcclDataType_t> allDataTypes();
// Accepts the printed names and the aliases of the -d option (half/float16, float/float32, ...).
bool dataTypeFromName(const std::string& name, mixcclDataType_t* out);

// Element i of a buffer of type t, as a double.
double loadElement(const void* buffer, size_t i, mixcclDataType_t t);
// Writes x (rounded to the nearest value of t; integers truncate toward zero) into element i.
void storeElement(void* buffer, size_t i, mixcclDataType_t t, double x);

}  // namespace mixcclperf
