#pragma once
// The time source of everything in Rollcall that expires or waits: tokens, cache entries,
// deadlines, backoff. Production code uses SystemClock(); tests inject a FakeClock
// (tests/testing/fake_clock.h) and move time by hand instead of sleeping. Deadlines that arrive
// in another clock (a gRPC call's deadline, a transport's timeout) are converted at the edge,
// against this clock's Now(), so a fake clock set decades from the wall clock still works.

#include "absl/time/time.h"
#include "common/mutex.h"

namespace rollcall::common {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
  // Blocks the calling thread until Now() >= `until` (returns at once if it already is). The
  // retry loop waits through this, so a fake clock makes backoff instant and observable.
  virtual void SleepUntil(absl::Time until) const = 0;
  // Waits on `cv` (whose mutex the caller holds) until it is signalled, spuriously woken, or
  // Now() reaches `deadline`; the caller re-checks its condition and Now() after each return.
  // A fake clock wakes the waiter when a test moves time past `deadline`.
  // (Not annotated, like CondVar's waits: the analysis cannot tie cv->mutex() to the lock the
  // caller holds under its own name.)
  virtual void WaitUntil(CondVar* cv, absl::Time deadline) const = 0;
};

// The wall clock. Never null; lives for the whole process.
const Clock* SystemClock();

}  // namespace rollcall::common
