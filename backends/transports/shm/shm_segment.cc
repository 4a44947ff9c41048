#include "backends/transports/shm/shm_segment.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/log.h"

namespace mixccl {
namespace {

// Closes the descriptor on every path; the mapping outlives it.
struct FdCloser {
  int fd;
  ~FdCloser() { if (fd >= 0) ::close(fd); }
};

}  // namespace

Status ShmSegment::create(const std::string& name, size_t bytes, std::unique_ptr<ShmSegment>* out) {
  int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  if (fd < 0 && errno == EEXIST) {
    // Names carry the communicator hash, so an existing one is debris from a run that died
    // between creating and unlinking it.
    MIXCCL_WARN("shared memory segment %s already exists (left over from a crashed run?); replacing it",
                name.c_str());
    shm_unlink(name.c_str());
    fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  }
  if (fd < 0) return systemErrorStatus("cannot create shared memory segment %s", name.c_str());
  FdCloser closer{fd};
  auto fail = [&](Status s) {
    shm_unlink(name.c_str());
    return s;
  };
  if (ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    return fail(systemErrorStatus("cannot size shared memory segment %s to %zu bytes", name.c_str(), bytes));
  }
  // tmpfs allocates lazily: without reserving now, a full /dev/shm shows up later as SIGBUS in the
  // middle of a collective instead of as an error here.
  int err = posix_fallocate(fd, 0, static_cast<off_t>(bytes));
  if (err == ENOSPC) {
    return fail(errorStatus(mixcclSystemError,
                            "not enough space in /dev/shm for shared memory segment %s (%zu bytes); "
                            "enlarge /dev/shm or lower MIXCCL_SHM_SLOTS / MIXCCL_SHM_SLOT_BYTES",
                            name.c_str(), bytes));
  }
  if (err != 0 && err != EOPNOTSUPP && err != EINVAL) {
    errno = err;
    return fail(systemErrorStatus("cannot reserve %zu bytes for shared memory segment %s", bytes, name.c_str()));
  }
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    return fail(systemErrorStatus("cannot map shared memory segment %s (%zu bytes)", name.c_str(), bytes));
  }
  out->reset(new ShmSegment(name, p, bytes, true));
  return Status::ok();
}

Status ShmSegment::open(const std::string& name, std::unique_ptr<ShmSegment>* out) {
  int fd = shm_open(name.c_str(), O_RDWR, 0);
  if (fd < 0) return systemErrorStatus("cannot open peer's shared memory segment %s", name.c_str());
  FdCloser closer{fd};
  struct stat st{};
  if (fstat(fd, &st) != 0) return systemErrorStatus("cannot stat shared memory segment %s", name.c_str());
  size_t bytes = static_cast<size_t>(st.st_size);
  if (bytes == 0) {
    return errorStatus(mixcclInternalError, "peer's shared memory segment %s is empty", name.c_str());
  }
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    return systemErrorStatus("cannot map peer's shared memory segment %s (%zu bytes)", name.c_str(), bytes);
  }
  out->reset(new ShmSegment(name, p, bytes, false));
  return Status::ok();
}

void ShmSegment::unlinkName() {
  if (!nameOwned_) return;
  nameOwned_ = false;
  if (shm_unlink(name_.c_str()) != 0 && errno != ENOENT) {
    MIXCCL_WARN("cannot remove shared memory segment %s: %s", name_.c_str(), std::strerror(errno));
  }
}

ShmSegment::~ShmSegment() {
  unlinkName();
  munmap(data_, size_);
}

}  // namespace mixccl
