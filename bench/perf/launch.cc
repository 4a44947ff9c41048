#include "bench/perf/launch.h"

#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <thread>
#include <vector>

#ifdef MIXCCL_PERF_WITH_MPI
#include <mpi.h>
#endif

namespace mixcclperf {

namespace {

const char* envOrNull(const char* name) {
  const char* v = std::getenv(name);
  return (v != nullptr && *v != '\0') ? v : nullptr;
}

int envInt(const char* first, const char* second, int fallback) {
  const char* v = envOrNull(first);
  if (v == nullptr && second != nullptr) v = envOrNull(second);
  return v != nullptr ? std::atoi(v) : fallback;
}

bool underMpirun() { return envOrNull("OMPI_COMM_WORLD_SIZE") != nullptr || envOrNull("PMI_SIZE") != nullptr; }

// All ranks are on this host: keep the library's sockets on loopback unless the user chose otherwise.
void preferLoopback() { setenv("MIXCCL_SOCKET_IFNAME", "lo", /*overwrite=*/0); }

// Pins a self-launched rank to one core, as mpirun does by default when ranks do not outnumber cores.
// Unpinned, two ranks that wake each other through a futex are often moved onto one core by the
// kernel (it places a woken task beside its waker), and a run then takes 2-4x longer than the same
// run spread over both cores: the timing would depend on where the kernel happened to put them.
void bindRank(const std::string& mode, int rank, int nranks) {
  if (mode == "none") return;
  cpu_set_t usable;
  if (sched_getaffinity(0, sizeof(usable), &usable) != 0) return;
  const int cores = CPU_COUNT(&usable);
  if (mode == "auto" && nranks > cores) return;  // oversubscribed: let the kernel share the cores
  int nth = rank % cores;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &usable)) continue;
    if (nth-- > 0) continue;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    if (sched_setaffinity(0, sizeof(one), &one) != 0) {
      std::fprintf(stderr, "mixccl-perf: rank %d: could not bind to cpu %d: %s (running unbound)\n", rank, cpu,
                   std::strerror(errno));
    }
    return;
  }
}

bool getUniqueId(mixcclUniqueId* id) {
  mixcclResult_t r = mixcclGetUniqueId(id);
  if (r == mixcclSuccess) return true;
  std::fprintf(stderr, "mixccl-perf: mixcclGetUniqueId failed: %s: %s\n", mixcclGetErrorString(r),
               mixcclGetLastError(nullptr));
  return false;
}

// The child's exit code, with kExitError for a child killed by a signal (said aloud unless we sent it).
int childExitCode(int rank, int status, bool weStoppedIt) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status) && !weStoppedIt) {
    std::fprintf(stderr, "mixccl-perf: rank %d was killed by signal %d (%s)\n", rank, WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
  }
  return kExitError;
}

int runSelfLaunched(const Options& options, const std::function<int(const World&)>& body) {
  preferLoopback();
  World world;
  world.nranks = options.nprocs;
  world.launcher = "self (-np)";
  // The id is made before forking so that every child inherits it; this process hosts the rendezvous.
  if (!getUniqueId(&world.id)) return kExitError;
  std::fflush(nullptr);  // children must not print what the parent had buffered

  std::vector<pid_t> children(static_cast<size_t>(options.nprocs), -1);
  for (int rank = 0; rank < options.nprocs; ++rank) {
    pid_t pid = fork();
    if (pid < 0) {
      std::fprintf(stderr, "mixccl-perf: cannot start rank %d: fork failed: %s\n", rank, std::strerror(errno));
      for (pid_t c : children)
        if (c > 0) kill(c, SIGTERM);
      break;
    }
    if (pid == 0) {
      world.rank = world.localRank = rank;
      bindRank(options.bind, rank, options.nprocs);
      int rc = body(world);
      std::fflush(nullptr);
      // _exit: a forked child must not run the parent's exit handlers (the library's rendezvous
      // thread exists only in the parent).
      _exit(rc);
    }
    children[static_cast<size_t>(rank)] = pid;
  }

  // After one rank fails on its own, the others get a moment to notice (and say what they saw) before
  // they are stopped: otherwise they would wait for it until their timeout.
  constexpr auto kGrace = std::chrono::seconds(3);
  std::optional<std::chrono::steady_clock::time_point> stopAt;
  bool terminated = false;
  int result = kExitOk;
  size_t running = 0;
  for (pid_t c : children) running += c > 0 ? 1 : 0;
  while (running > 0) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, stopAt ? WNOHANG : 0);
    if (pid < 0 && errno == EINTR) continue;
    if (pid < 0) break;
    if (pid == 0) {  // nothing exited yet while stopping
      if (!terminated && std::chrono::steady_clock::now() >= *stopAt) {
        for (pid_t c : children)
          if (c > 0) kill(c, SIGTERM);
        terminated = true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    int rank = -1;
    for (size_t i = 0; i < children.size(); ++i)
      if (children[i] == pid) rank = static_cast<int>(i), children[i] = -1;
    if (rank < 0) continue;  // not one of ours
    --running;
    const int rc = childExitCode(rank, status, terminated);
    const bool agreed = rc == kExitOk || rc == kExitWrongValues || rc == kExitUsage;
    result = std::max(result, agreed ? rc : kExitError);
    if (!agreed && !stopAt && running > 0) {
      std::fprintf(stderr, "mixccl-perf: rank %d failed (exit code %d; its message is above); stopping the "
                           "other ranks\n", rank, rc);
      stopAt = std::chrono::steady_clock::now() + kGrace;
    }
  }
  return result;
}

int runSingle(const std::function<int(const World&)>& body) {
  preferLoopback();
  World world;
  world.launcher = "single rank";
  if (!getUniqueId(&world.id)) return kExitError;
  return body(world);
}

int runUnderMpirun(const std::function<int(const World&)>& body) {
  World world;
  world.launcher = "mpirun";
  world.localRank = envInt("OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", -1);
#ifdef MIXCCL_PERF_WITH_MPI
  MPI_Init(nullptr, nullptr);
  MPI_Comm_rank(MPI_COMM_WORLD, &world.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world.nranks);
  if (world.localRank < 0) world.localRank = world.rank;
  int ok = 1;
  if (world.rank == 0) ok = getUniqueId(&world.id) ? 1 : 0;
  MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
  if (!ok) {
    MPI_Finalize();
    return kExitError;
  }
  // MPI's only job: carry rank 0's unique id to every rank. All traffic after this is mixccl's.
  MPI_Bcast(&world.id, sizeof(world.id), MPI_BYTE, 0, MPI_COMM_WORLD);
  int rc = body(world);
  if (rc != kExitOk && rc != kExitWrongValues && rc != kExitUsage) {
    // This rank failed alone; the others may be waiting for it. MPI_Abort stops the whole job.
    MPI_Abort(MPI_COMM_WORLD, rc);
  }
  MPI_Finalize();
  return rc;
#else
  // Without MPI the ranks can still meet at a fixed address: every rank derives the same id from it.
  world.rank = envInt("OMPI_COMM_WORLD_RANK", "PMI_RANK", -1);
  world.nranks = envInt("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", -1);
  if (world.localRank < 0) world.localRank = world.rank;
  if (envOrNull("MIXCCL_COMM_ID") == nullptr && envOrNull("NCCL_COMM_ID") == nullptr) {
    std::fprintf(stderr,
                 "mixccl-perf: started by mpirun, but this build has no MPI to share the unique id. Either "
                 "rebuild with MPI (apt-get install libopenmpi-dev, then scripts/build.sh) or set "
                 "MIXCCL_COMM_ID=host:port of rank 0 (and MIXCCL_SECRET) for every rank.\n");
    return kExitError;
  }
  if (world.rank < 0 || world.nranks < 1) {
    std::fprintf(stderr, "mixccl-perf: started by mpirun, but its rank/size variables are unreadable\n");
    return kExitError;
  }
  if (!getUniqueId(&world.id)) return kExitError;
  return body(world);
#endif
}

// torchrun / Slurm style: RANK and WORLD_SIZE (LOCAL_RANK optional) name this process's place, and
// MIXCCL_COMM_ID (or NCCL_COMM_ID) names rank 0's rendezvous, so every rank derives the same id.
bool underEnvRendezvous() {
  return envOrNull("RANK") != nullptr && envOrNull("WORLD_SIZE") != nullptr &&
         (envOrNull("MIXCCL_COMM_ID") != nullptr || envOrNull("NCCL_COMM_ID") != nullptr);
}

int runFromEnvironment(const std::function<int(const World&)>& body) {
  World world;
  world.launcher = "environment (RANK, WORLD_SIZE, MIXCCL_COMM_ID)";
  world.rank = envInt("RANK", nullptr, -1);
  world.nranks = envInt("WORLD_SIZE", nullptr, -1);
  world.localRank = envInt("LOCAL_RANK", nullptr, world.rank);
  if (world.rank < 0 || world.nranks < 1 || world.rank >= world.nranks) {
    std::fprintf(stderr, "mixccl-perf: RANK=%s and WORLD_SIZE=%s do not name a rank of the job (want 0 <= RANK < "
                 "WORLD_SIZE)\n", envOrNull("RANK"), envOrNull("WORLD_SIZE"));
    return kExitError;
  }
  if (!getUniqueId(&world.id)) return kExitError;
  return body(world);
}

}  // namespace

int launchRanks(const Options& options, const std::function<int(const World&)>& body) {
  if (underEnvRendezvous() && !underMpirun()) {
    if (options.nprocs > 0) {
      std::fprintf(stderr, "mixccl-perf: RANK/WORLD_SIZE/MIXCCL_COMM_ID say the ranks were started outside; "
                           "leave out -np\n");
      return kExitError;
    }
    return runFromEnvironment(body);
  }
  if (underMpirun()) {
    if (options.nprocs > 0) {
      std::fprintf(stderr, "mixccl-perf: -np launches ranks itself; under mpirun leave it out (mpirun -np N "
                           "already started N ranks)\n");
      return kExitError;
    }
    return runUnderMpirun(body);
  }
  if (options.nprocs > 0) return runSelfLaunched(options, body);
  return runSingle(body);
}

}  // namespace mixcclperf
