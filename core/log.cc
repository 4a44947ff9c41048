#include "core/log.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <string>

#include "core/env.h"
#include "core/status.h"

namespace mixccl::log {
namespace {

struct Sink {
  Level level = Level::Warn;
  FILE* out = stderr;
  std::string host;
};

// Expands %h (host name) and %p (pid) in MIXCCL_DEBUG_FILE, as NCCL_DEBUG_FILE does.
std::string expandFileName(const std::string& pattern, const std::string& host) {
  std::string out;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '%' && i + 1 < pattern.size()) {
      char c = pattern[i + 1];
      if (c == 'h') { out += host; ++i; continue; }
      if (c == 'p') { out += std::to_string(getpid()); ++i; continue; }
      if (c == '%') { out += '%'; ++i; continue; }
    }
    out += pattern[i];
  }
  return out;
}

Level parseLevel(const std::string& v) {
  std::string s;
  for (char c : v) s += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (s == "VERSION") return Level::Version;
  if (s == "WARN") return Level::Warn;
  if (s == "INFO") return Level::Info;
  if (s == "TRACE") return Level::Trace;
  if (s == "NONE" || s == "0") return Level::None;
  std::fprintf(stderr, "mixccl WARN MIXCCL_DEBUG=%s is not one of VERSION, WARN, INFO, TRACE; using WARN\n",
               v.c_str());
  return Level::Warn;
}

Sink& sink() {
  static Sink* s = [] {
    auto* snk = new Sink;  // never freed: logging must work during static destruction
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    snk->host = host;
    if (auto v = env::get("DEBUG", true)) snk->level = parseLevel(*v);
    if (auto f = env::get("DEBUG_FILE", true)) {
      std::string name = expandFileName(*f, snk->host);
      if (FILE* fp = std::fopen(name.c_str(), "w")) {
        std::setvbuf(fp, nullptr, _IOLBF, 0);
        snk->out = fp;
      } else {
        std::fprintf(stderr, "mixccl WARN cannot open MIXCCL_DEBUG_FILE %s: %s; logging to stderr\n",
                     name.c_str(), std::strerror(errno));
      }
    }
    return snk;
  }();
  return *s;
}

const char* levelName(Level l) {
  switch (l) {
    case Level::Version: return "VERSION";
    case Level::Warn: return "WARN";
    case Level::Info: return "INFO";
    case Level::Trace: return "TRACE";
    default: return "";
  }
}

}  // namespace

Level level() { return sink().level; }

void writeV(Level l, const char* fmt, va_list ap) {
  Sink& s = sink();
  std::string msg = strFormatV(fmt, ap);
  long tid = syscall(SYS_gettid);
  // One fprintf per line so that lines of concurrent threads do not interleave.
  std::fprintf(s.out, "%s:%d:%ld mixccl %s %s\n", s.host.c_str(), getpid(), tid, levelName(l),
               msg.c_str());
}

void write(Level l, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  writeV(l, fmt, ap);
  va_end(ap);
}

}  // namespace mixccl::log
