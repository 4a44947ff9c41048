#include "core/status.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace mixccl {

std::string strFormatV(const char* fmt, va_list ap) {
  va_list copy;
  va_copy(copy, ap);
  int n = std::vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  if (n <= 0) return {};
  std::string out(static_cast<size_t>(n), '\0');
  std::vsnprintf(out.data(), out.size() + 1, fmt, ap);
  return out;
}

std::string strFormat(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::string s = strFormatV(fmt, ap);
  va_end(ap);
  return s;
}

Status errorStatus(mixcclResult_t code, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::string s = strFormatV(fmt, ap);
  va_end(ap);
  return {code, std::move(s)};
}

Status systemErrorStatus(const char* fmt, ...) {
  int err = errno;
  va_list ap;
  va_start(ap, fmt);
  std::string s = strFormatV(fmt, ap);
  va_end(ap);
  s += ": ";
  s += std::strerror(err);
  return {mixcclSystemError, std::move(s)};
}

}  // namespace mixccl
