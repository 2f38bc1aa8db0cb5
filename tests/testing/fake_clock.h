#pragma once
// A rollcall::graph::Clock that moves only when a test moves it. Thread-safe.

#include <mutex>

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
  absl::Time now_;  // guarded by mu_
};

}  // namespace rollcall::testing
