// A point in time after which a wait gives up. Every blocking wait in mixccl takes one.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace mixccl {

class Deadline {
 public:
  using Clock = std::chrono::steady_clock;
  static Deadline in(std::chrono::nanoseconds d) { return Deadline(Clock::now() + d); }
  static Deadline inSeconds(int s) { return in(std::chrono::seconds(s)); }

  bool expired() const { return Clock::now() >= at_; }
  // Time left, clamped to [0, cap].
  int64_t nsLeft(int64_t capNs = INT64_MAX) const {
    auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(at_ - Clock::now()).count();
    return std::clamp<int64_t>(left, 0, capNs);
  }
  int msLeft(int capMs = 1 << 30) const {
    return static_cast<int>((nsLeft(static_cast<int64_t>(capMs) * 1000000) + 999999) / 1000000);
  }

 private:
  explicit Deadline(Clock::time_point at) : at_(at) {}
  Clock::time_point at_;
};

}  // namespace mixccl
