#include "backends/devices/emu/emu_stream.h"

#include <sys/prctl.h>

#include <chrono>

namespace mixccl::emu {

EmuStream::EmuStream(int ordinal) : ordinal_(ordinal), worker_([this] { loop(); }) {}

EmuStream::~EmuStream() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  worker_.join();
}

uint64_t EmuStream::enqueue(Work work) {
  uint64_t seq;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(std::move(work));
    seq = ++enqueued_;
  }
  cv_.notify_all();
  return seq;
}

uint64_t EmuStream::enqueued() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return enqueued_;
}

bool EmuStream::reached(uint64_t seq) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return completed_ >= seq;
}

bool EmuStream::waitFor(uint64_t seq, int timeoutSeconds) const {
  std::unique_lock<std::mutex> lock(mutex_);
  return cv_.wait_for(lock, std::chrono::seconds(timeoutSeconds), [&] { return completed_ >= seq; });
}

std::string EmuStream::takeError() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string e;
  e.swap(error_);
  return e;
}

void EmuStream::loop() {
  // MIXCCL_EMU_GBPS sleeps out each call's remaining time. Linux lets a sleep run late by the
  // thread's timer slack (50 us by default), which turned a 256 KiB copy meant to take 18 us at
  // 14 GB/s into ~70 us: the emulated chip ran at a fraction of the speed it was given. A slack of
  // 1 ns keeps the sleeps as exact as the timer allows.
  prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and everything ran
    Work w = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    std::string err = w();
    lock.lock();
    if (!err.empty() && error_.empty()) error_ = std::move(err);
    ++completed_;
    cv_.notify_all();
  }
}

}  // namespace mixccl::emu
