#include "tests/nccl/nccl_harness.h"

#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace nccl_test {
namespace {

int gRank = -1;

bool readAll(int fd, void* data, size_t bytes) {
  auto* p = static_cast<char*>(data);
  while (bytes > 0) {
    ssize_t n = read(fd, p, bytes);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    bytes -= static_cast<size_t>(n);
  }
  return true;
}

double now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

}  // namespace

std::string format(const char* fmt, ...) {
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  return buf;
}

void failRank(const char* file, int line, const std::string& message) {
  std::fprintf(stderr, "[rank %d] %s:%d: %s\n", gRank, file, line, message.c_str());
  std::fflush(stderr);
  _exit(1);
}

std::string runRanks(int nranks, const RankBody& body, int deadlineSeconds) {
  // 1. The rendezvous host: makes the id, sends it up, then lives until the parent closes `hold`.
  int idPipe[2], holdPipe[2];
  if (pipe(idPipe) != 0 || pipe(holdPipe) != 0) return std::string("pipe: ") + std::strerror(errno);
  pid_t host = fork();
  if (host < 0) return std::string("fork: ") + std::strerror(errno);
  if (host == 0) {
    close(idPipe[0]);
    close(holdPipe[1]);
    ncclUniqueId id;
    if (ncclGetUniqueId(&id) != ncclSuccess) {
      std::fprintf(stderr, "ncclGetUniqueId failed: %s\n", ncclGetLastError(nullptr));
      _exit(1);
    }
    if (write(idPipe[1], &id, sizeof(id)) != static_cast<ssize_t>(sizeof(id))) _exit(1);
    char c;
    while (read(holdPipe[0], &c, 1) < 0 && errno == EINTR) {
    }
    _exit(0);
  }
  close(idPipe[1]);
  close(holdPipe[0]);
  ncclUniqueId id;
  bool gotId = readAll(idPipe[0], &id, sizeof(id));
  close(idPipe[0]);
  if (!gotId) {
    close(holdPipe[1]);
    waitpid(host, nullptr, 0);
    return "the rendezvous host could not make a unique id (see stderr)";
  }

  // 2. The ranks.
  std::vector<pid_t> pids(static_cast<size_t>(nranks), -1);
  for (int r = 0; r < nranks; ++r) {
    pid_t pid = fork();
    if (pid == 0) {
      close(holdPipe[1]);
      gRank = r;
      body(r, nranks, id);
      std::fflush(stdout);
      std::fflush(stderr);
      _exit(0);
    }
    pids[static_cast<size_t>(r)] = pid;
  }

  // 3. Wait, bounded; a rank still running at the deadline is killed and reported.
  std::string problems;
  std::vector<bool> done(static_cast<size_t>(nranks), false);
  int left = nranks;
  double deadline = now() + deadlineSeconds;
  while (left > 0) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid == 0) {
      if (now() > deadline) break;
      usleep(10000);
      continue;
    }
    if (pid < 0) break;
    for (int r = 0; r < nranks; ++r) {
      if (pids[static_cast<size_t>(r)] != pid) continue;
      done[static_cast<size_t>(r)] = true;
      --left;
      if (WIFEXITED(status) && WEXITSTATUS(status) != 0) problems += format("rank %d exited with %d; ", r, WEXITSTATUS(status));
      if (WIFSIGNALED(status)) problems += format("rank %d died of signal %d; ", r, WTERMSIG(status));
    }
  }
  for (int r = 0; r < nranks; ++r) {
    if (done[static_cast<size_t>(r)]) continue;
    problems += format("rank %d still running after %d s (hang?); ", r, deadlineSeconds);
    kill(pids[static_cast<size_t>(r)], SIGKILL);
    waitpid(pids[static_cast<size_t>(r)], nullptr, 0);
  }
  close(holdPipe[1]);
  waitpid(host, nullptr, 0);
  return problems;
}

}  // namespace nccl_test
