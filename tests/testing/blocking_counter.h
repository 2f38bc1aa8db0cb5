#pragma once
// A count-down latch for tests, on the project's one mutex type (common/mutex.h), in place of
// absl::BlockingCounter (an absl::Mutex inside, which ThreadSanitizer cannot see through in
// Debian's uninstrumented Abseil, and -Wthread-safety does not check here).

#include "absl/base/thread_annotations.h"
#include "common/mutex.h"

namespace rollcall::testing {

class BlockingCounter {
 public:
  explicit BlockingCounter(int initial_count) : count_(initial_count) {}
  BlockingCounter(const BlockingCounter&) = delete;
  BlockingCounter& operator=(const BlockingCounter&) = delete;

  // Counts one down; true for the call that reaches zero.
  bool DecrementCount() {
    common::MutexLock lock(&mu_);
    --count_;
    if (count_ != 0) return false;
    cv_.SignalAll();
    return true;
  }

  // Blocks until the count reaches zero.
  void Wait() {
    common::MutexLock lock(&mu_);
    while (count_ > 0) cv_.Wait();
  }

 private:
  common::Mutex mu_;
  common::CondVar cv_{&mu_};
  int count_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rollcall::testing
