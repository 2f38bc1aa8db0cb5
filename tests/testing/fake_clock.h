#pragma once
// A rollcall::common::Clock that moves only when a test moves it. Thread-safe.

#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/mutex.h"

namespace rollcall::testing {

class FakeClock final : public rollcall::common::Clock {
 public:
  // Starts at an arbitrary fixed instant (2023-11-14T22:13:20Z) unless told otherwise.
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1700000000)) : now_(start) {}

  absl::Time Now() const override {
    common::MutexLock lock(&mu_);
    return now_;
  }

  // Does not block: jumps time forward to `until` (never back) and records the wait, so code
  // that backs off runs instantly and tests can assert how long it chose to wait.
  void SleepUntil(absl::Time until) const override {
    {
      common::MutexLock lock(&mu_);
      if (until <= now_) return;
      sleeps_.push_back(until - now_);
      now_ = until;
    }
    WakeWaiters();
  }

  // Waits for a signal or for a test to move time to `deadline`: Advance, Set and SleepUntil
  // wake every waiter, which then re-checks. The waiter holds its own mutex from its check of
  // Now() to the wait, and a waker takes that mutex to signal, so no wake-up is lost. Before it
  // returns, the waiter lets go of its mutex until no waker still holds a pointer to `cv` (its
  // caller may destroy `cv` at once), then takes it again, as after any wake-up.
  // Lets go of and retakes the caller's mutex, which the analysis knows only by the caller's
  // name for it: unchecked.
  void WaitUntil(common::CondVar* cv, absl::Time deadline) const override
      ABSL_NO_THREAD_SAFETY_ANALYSIS {
    {
      common::MutexLock lock(&mu_);
      if (now_ >= deadline) return;
      ++waiters_[cv];
    }
    cv->Wait();
    cv->mutex()->Unlock();
    {
      common::MutexLock lock(&mu_);
      if (--waiters_[cv] == 0) waiters_.erase(cv);
      while (signalling_ > 0) signalled_.Wait();
    }
    cv->mutex()->Lock();
  }

  // Every wait SleepUntil was asked for, in order.
  std::vector<absl::Duration> sleeps() const {
    common::MutexLock lock(&mu_);
    return sleeps_;
  }

  // Moves time forward (or back, for a negative `d`).
  void Advance(absl::Duration d) {
    {
      common::MutexLock lock(&mu_);
      now_ += d;
    }
    WakeWaiters();
  }

  void Set(absl::Time t) {
    {
      common::MutexLock lock(&mu_);
      now_ = t;
    }
    WakeWaiters();
  }

 private:
  void WakeWaiters() const {
    std::vector<common::CondVar*> waiters;
    {
      common::MutexLock lock(&mu_);
      for (const auto& [cv, count] : waiters_) waiters.push_back(cv);
      if (waiters.empty()) return;
      ++signalling_;
    }
    for (common::CondVar* cv : waiters) {
      common::MutexLock lock(cv->mutex());
      cv->SignalAll();
    }
    common::MutexLock lock(&mu_);
    if (--signalling_ == 0) signalled_.SignalAll();
  }

  mutable common::Mutex mu_;
  mutable absl::Time now_ ABSL_GUARDED_BY(mu_);
  mutable std::vector<absl::Duration> sleeps_ ABSL_GUARDED_BY(mu_);
  // Threads in WaitUntil, by the CondVar each waits on.
  mutable absl::flat_hash_map<common::CondVar*, int> waiters_ ABSL_GUARDED_BY(mu_);
  // WakeWaiters calls still signalling the CondVars they copied from waiters_.
  mutable int signalling_ ABSL_GUARDED_BY(mu_) = 0;
  mutable common::CondVar signalled_{&mu_};
};

}  // namespace rollcall::testing
