#pragma once
// StripedCounters: a fixed set of event counters that many threads bump at once without
// sharing a cache line. Each thread adds to one of kStripes stripes (picked once per thread,
// round robin); a read sums the stripes. Adds are relaxed atomic increments: never a lock,
// never a wait. Reads are a snapshot of each counter, not of the set as a whole.
//
// Thread-safe. `Index` is an enum (or integer) below kCount.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace rollcall::service {

namespace striped_internal {
// This thread's stripe, from 0; assigned at its first add.
std::size_t AssignStripe();
inline std::size_t ThisThreadStripe() {
  // Constant-initialized (no guard on each access): 0 means "not assigned yet".
  static thread_local std::size_t stripe_plus_one = 0;
  if (stripe_plus_one == 0) stripe_plus_one = AssignStripe() + 1;
  return stripe_plus_one - 1;
}
}  // namespace striped_internal

template <std::size_t kCount>
class StripedCounters {
 public:
  static constexpr std::size_t kStripes = 8;

  template <typename Index>
  void Add(Index counter, uint64_t n = 1) {
    stripes_[striped_internal::ThisThreadStripe() % kStripes]
        .values[static_cast<std::size_t>(counter)]
        .fetch_add(n, std::memory_order_relaxed);
  }

  template <typename Index>
  uint64_t Get(Index counter) const {
    uint64_t sum = 0;
    for (const Stripe& stripe : stripes_) {
      sum += stripe.values[static_cast<std::size_t>(counter)].load(std::memory_order_relaxed);
    }
    return sum;
  }

 private:
  struct alignas(64) Stripe {
    std::array<std::atomic<uint64_t>, kCount> values{};
  };
  std::array<Stripe, kStripes> stripes_{};
};

}  // namespace rollcall::service
