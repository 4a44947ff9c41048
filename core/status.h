// Status: a result code plus the sentence that explains it. Internal functions return Status; the C
// API turns it into a mixcclResult_t and remembers the sentence for mixcclGetLastError.
#pragma once

#include <cstdarg>
#include <string>
#include <utility>

#include "mixccl.h"

namespace mixccl {

// printf-style formatting into a std::string (the library's messages are built with it).
std::string strFormat(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string strFormatV(const char* fmt, va_list ap);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(mixcclResult_t code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return {}; }
  bool isOk() const { return code_ == mixcclSuccess; }
  mixcclResult_t code() const { return code_; }
  const std::string& message() const { return message_; }

  // Prefixes context ("allreduce #12: ") to the message, keeping the code.
  Status withContext(const std::string& context) const {
    return isOk() ? *this : Status(code_, context + message_);
  }

 private:
  mixcclResult_t code_ = mixcclSuccess;
  std::string message_;
};

Status errorStatus(mixcclResult_t code, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
// An OS call failed: the message ends with strerror(errno).
Status systemErrorStatus(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

}  // namespace mixccl

#define MIXCCL_CHECK(expr)                    \
  do {                                        \
    ::mixccl::Status status_ = (expr);        \
    if (!status_.isOk()) return status_;      \
  } while (0)
