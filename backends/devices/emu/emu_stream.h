// An emulated device stream: a FIFO of work run in order by one worker thread, so calls return
// before the work is done, exactly as a real accelerator's async calls do. Events mark a position
// in a stream's queue.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace mixccl::emu {

class EmuStream {
 public:
  // Work returns an empty string on success, else the error sentence.
  using Work = std::function<std::string()>;

  explicit EmuStream(int ordinal);
  ~EmuStream();  // drains the queue, then joins the worker
  EmuStream(const EmuStream&) = delete;
  EmuStream& operator=(const EmuStream&) = delete;

  int ordinal() const { return ordinal_; }
  // Appends work; returns its sequence number (1, 2, ...).
  uint64_t enqueue(Work work);
  uint64_t enqueued() const;
  bool reached(uint64_t seq) const;
  // Waits (at most timeoutSeconds) until the stream has run work up to seq. false on timeout.
  bool waitFor(uint64_t seq, int timeoutSeconds) const;
  // The first error any work reported (sticky, as on real devices), "" if none; clears it.
  std::string takeError();

 private:
  void loop();

  int ordinal_;
  mutable std::mutex mutex_;
  mutable std::condition_variable cv_;
  std::deque<Work> queue_;
  uint64_t enqueued_ = 0;
  uint64_t completed_ = 0;
  bool stopping_ = false;
  std::string error_;
  std::thread worker_;
};

// A recorded position: done once `stream` has completed work up to `seq`.
struct EmuEvent {
  int ordinal = 0;
  EmuStream* stream = nullptr;  // nullptr: never recorded (counts as done)
  uint64_t seq = 0;
};

}  // namespace mixccl::emu
