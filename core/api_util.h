// Helpers shared by the C entry points: exporting, argument checks, turning a Status into a result
// code while remembering its sentence for mixcclGetLastError.
#pragma once

#include <cstring>

#include "core/comm.h"
#include "core/status.h"
#include "mixccl.h"

#define MIXCCL_API extern "C" __attribute__((visibility("default")))

namespace mixccl {

// Remembers st's message as this thread's (and comm's, if given) last error, logs it at WARN, and
// returns its code.
mixcclResult_t report(mixcclComm* comm, const Status& st);
void setThreadLastError(const std::string& message);
const char* threadLastError();

// The integer a C caller passed for an enum parameter. Reading an enum object that holds a value
// outside its enumerators is undefined in C++, and C callers can pass anything: copy the bytes.
template <class Enum>
int rawEnumValue(const Enum& e) {
  static_assert(sizeof(Enum) == sizeof(int));
  int v;
  std::memcpy(&v, &e, sizeof(v));
  return v;
}

// A usable communicator handle: not NULL, not destroyed, not aborted.
Status checkComm(const mixcclComm* comm, const char* function);

}  // namespace mixccl
