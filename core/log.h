// Logging for the user at 3 a.m.: MIXCCL_DEBUG=WARN|INFO|TRACE selects what is printed (default:
// nothing but WARN for errors the caller cannot see otherwise), MIXCCL_DEBUG_FILE=path.%h.%p sends it
// to a file (%h host, %p pid). Every line says host, pid and, where known, the communicator and rank.
#pragma once

#include <cstdarg>

namespace mixccl::log {

enum class Level { None = 0, Version = 1, Warn = 2, Info = 3, Trace = 4 };

Level level();  // read once from the environment
inline bool enabled(Level l) { return static_cast<int>(level()) >= static_cast<int>(l); }

void write(Level l, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void writeV(Level l, const char* fmt, va_list ap);

}  // namespace mixccl::log

#define MIXCCL_WARN(...) \
  do { if (::mixccl::log::enabled(::mixccl::log::Level::Warn)) ::mixccl::log::write(::mixccl::log::Level::Warn, __VA_ARGS__); } while (0)
#define MIXCCL_INFO(...) \
  do { if (::mixccl::log::enabled(::mixccl::log::Level::Info)) ::mixccl::log::write(::mixccl::log::Level::Info, __VA_ARGS__); } while (0)
#define MIXCCL_TRACE(...) \
  do { if (::mixccl::log::enabled(::mixccl::log::Level::Trace)) ::mixccl::log::write(::mixccl::log::Level::Trace, __VA_ARGS__); } while (0)
