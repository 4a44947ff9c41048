// One named POSIX shared-memory segment, mapped read-write. The creator unlinks the name as soon as
// every peer has mapped it (or when it is destroyed), so a killed job leaves nothing in /dev/shm.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "core/status.h"

namespace mixccl {

class ShmSegment {
 public:
  // Creates `name` (replacing a stale one left by a crashed run, with a warning), sizes it to
  // `bytes` with the space reserved up front, and maps it. The memory starts zeroed.
  static Status create(const std::string& name, size_t bytes, std::unique_ptr<ShmSegment>* out);
  // Maps an existing segment, whatever its size.
  static Status open(const std::string& name, std::unique_ptr<ShmSegment>* out);

  ~ShmSegment();
  ShmSegment(const ShmSegment&) = delete;
  ShmSegment& operator=(const ShmSegment&) = delete;

  // Removes the name (the mappings stay valid). Only the creator does this; idempotent.
  void unlinkName();

  void* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& name() const { return name_; }

 private:
  ShmSegment(std::string name, void* data, size_t size, bool owner)
      : name_(std::move(name)), data_(data), size_(size), nameOwned_(owner) {}

  std::string name_;
  void* data_;
  size_t size_;
  bool nameOwned_;
};

}  // namespace mixccl
