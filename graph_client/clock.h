#pragma once
// The time source of everything in Rollcall that expires or waits: tokens, cache entries,
// deadlines. Production code uses SystemClock(); tests inject a FakeClock
// (tests/testing/fake_clock.h) and move time by hand instead of sleeping.

#include "absl/time/time.h"

namespace rollcall::graph {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
  // Blocks the calling thread until Now() >= `until` (returns at once if it already is). The
  // retry loop waits through this, so a fake clock makes backoff instant and observable.
  virtual void SleepUntil(absl::Time until) const = 0;
};

// The wall clock. Never null; lives for the whole process.
const Clock* SystemClock();

}  // namespace rollcall::graph
