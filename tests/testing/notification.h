#pragma once
// A one-shot event for tests, on the project's one mutex type (common/mutex.h). It replaces
// absl::Notification in the tests: Debian's Abseil is not built for ThreadSanitizer, which then
// cannot see the ordering an absl::Notification gives, and -Wthread-safety checks this one.

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/mutex.h"

namespace rollcall::testing {

class Notification {
 public:
  Notification() = default;
  Notification(const Notification&) = delete;
  Notification& operator=(const Notification&) = delete;

  // Wakes every waiter, now and later. A second call does nothing.
  void Notify() {
    common::MutexLock lock(&mu_);
    notified_ = true;
    cv_.SignalAll();
  }

  bool HasBeenNotified() const {
    common::MutexLock lock(&mu_);
    return notified_;
  }

  void WaitForNotification() const {
    common::MutexLock lock(&mu_);
    while (!notified_) cv_.Wait();
  }

  // As WaitForNotification, but false once `timeout` of real time has passed without a Notify.
  // Real time on purpose, through the wall clock: it is a safety net, so that a broken test
  // fails instead of hanging, and a passing test never waits it out (a test's FakeClock would
  // never move it). Don't use it to wait for something to *not* happen.
  bool WaitForNotificationWithTimeout(absl::Duration timeout) const {
    const common::Clock* const wall = common::SystemClock();
    const absl::Time deadline = wall->Now() + timeout;
    common::MutexLock lock(&mu_);
    while (!notified_) {
      if (wall->Now() >= deadline) return false;
      wall->WaitUntil(&cv_, deadline);
    }
    return true;
  }

 private:
  mutable common::Mutex mu_;
  mutable common::CondVar cv_{&mu_};
  bool notified_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace rollcall::testing
