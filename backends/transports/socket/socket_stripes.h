// How one message is cut across a peer pair's connections (MIXCCL_NSOCKS). Both sides compute the
// same cut from the message size and the pair's connection count alone, so nothing but the sizes
// travels. A message is cut only when every part gets at least kMinStripeBytes (a small message on
// several connections costs more system calls than it saves), and every cut falls on a multiple of
// kStripeAlign, so parts start on element boundaries for any element size that divides it (every
// mixccl data type: 1, 2, 4 or 8 bytes).
#pragma once

#include <algorithm>
#include <cstddef>

namespace mixccl {

constexpr size_t kStripeAlign = 4096;
constexpr size_t kMinStripeBytes = 128 << 10;

// How many connections carry a message of `bytes` when the pair has `lanes` (>= 1) of them.
inline int stripeCount(size_t bytes, int lanes) {
  if (lanes <= 1 || bytes < 2 * kMinStripeBytes) return 1;
  return static_cast<int>(std::min<size_t>(static_cast<size_t>(lanes), bytes / kMinStripeBytes));
}

// The byte range [begin, end) of the message that connection `lane` (< stripeCount) carries.
struct Stripe {
  size_t begin = 0;
  size_t end = 0;
};

inline Stripe stripeOf(size_t bytes, int parts, int lane) {
  if (parts <= 1) return {0, bytes};
  const size_t units = (bytes + kStripeAlign - 1) / kStripeAlign;
  const size_t n = static_cast<size_t>(parts);
  const size_t i = static_cast<size_t>(lane);
  auto unitsBefore = [&](size_t k) { return k * (units / n) + std::min(k, units % n); };
  return {std::min(bytes, unitsBefore(i) * kStripeAlign), std::min(bytes, unitsBefore(i + 1) * kStripeAlign)};
}

}  // namespace mixccl
