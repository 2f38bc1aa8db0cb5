#pragma once
// The one mutex type of Rollcall: std::mutex with clang's thread-safety attributes, so that
// -Wthread-safety (an error in scripts/test's clang stage) checks every ROLLCALL_GUARDED_BY
// member and every *_LOCKS_REQUIRED function. A CondVar waits on it; waits with a deadline go
// through a Clock (clock.h), so that tests move time instead of sleeping.

#include <condition_variable>
#include <mutex>

#include "absl/base/thread_annotations.h"

namespace rollcall::common {

class CondVar;

class ABSL_LOCKABLE Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }
  // Tells the analysis that the caller holds the lock (checked only by the analysis).
  void AssertHeld() const ABSL_ASSERT_EXCLUSIVE_LOCK() {}

 private:
  friend class CondVar;
  std::mutex mu_;
};

// Holds `mu` for its scope.
class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

// A condition variable bound to one Mutex, which every call must hold. Like absl::CondVar, its
// waits carry no lock annotation: the analysis cannot tell that the mutex bound here is the
// caller's (it sees `cv.mu_` and `mu_` as two locks), so an annotation would fail every caller.
// The members a waiter reads are still checked through the caller's own MutexLock.
class CondVar {
 public:
  explicit CondVar(Mutex* mu) : mu_(mu) {}
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;

  // Releases the mutex, waits for a Signal/SignalAll (or a spurious wake-up), takes it again.
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_->mu_, std::adopt_lock);
    cv_.wait(lock);
    lock.release();
  }
  // As Wait, but returns by the real-time instant `until` at the latest. Only a Clock's
  // WaitUntil calls this: code that waits for a deadline asks its Clock.
  template <typename TimePoint>
  void WaitUntilRealTime(const TimePoint& until) {
    std::unique_lock<std::mutex> lock(mu_->mu_, std::adopt_lock);
    cv_.wait_until(lock, until);
    lock.release();
  }
  void Signal() { cv_.notify_one(); }
  void SignalAll() { cv_.notify_all(); }

  Mutex* mutex() const ABSL_LOCK_RETURNED(mu_) { return mu_; }

 private:
  Mutex* const mu_;
  std::condition_variable cv_;
};

}  // namespace rollcall::common
