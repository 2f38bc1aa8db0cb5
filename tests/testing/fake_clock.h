#pragma once
// A rollcall::graph::Clock that moves only when a test moves it. Thread-safe.

#include <mutex>
#include <vector>

#include "absl/time/time.h"
#include "graph_client/clock.h"

namespace rollcall::testing {

class FakeClock final : public rollcall::graph::Clock {
 public:
  // Starts at an arbitrary fixed instant (2023-11-14T22:13:20Z) unless told otherwise.
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1700000000)) : now_(start) {}

  absl::Time Now() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return now_;
  }

  // Does not block: jumps time forward to `until` (never back) and records the wait, so code
  // that backs off runs instantly and tests can assert how long it chose to wait.
  void SleepUntil(absl::Time until) const override {
    std::lock_guard<std::mutex> lock(mu_);
    if (until > now_) {
      sleeps_.push_back(until - now_);
      now_ = until;
    }
  }

  // Every wait SleepUntil was asked for, in order.
  std::vector<absl::Duration> sleeps() const {
    std::lock_guard<std::mutex> lock(mu_);
    return sleeps_;
  }

  // Moves time forward (or back, for a negative `d`).
  void Advance(absl::Duration d) {
    std::lock_guard<std::mutex> lock(mu_);
    now_ += d;
  }

  void Set(absl::Time t) {
    std::lock_guard<std::mutex> lock(mu_);
    now_ = t;
  }

 private:
  mutable std::mutex mu_;
  mutable absl::Time now_;                     // guarded by mu_
  mutable std::vector<absl::Duration> sleeps_;  // guarded by mu_
};

}  // namespace rollcall::testing
