#pragma once
// A test helper for the upstream executor.

#include <memory>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "service/upstream_executor.h"
#include "tests/testing/notification.h"

namespace rollcall::service::test {

// Holds one of an executor's threads with a task until Release() (or destruction), so that
// what is scheduled next waits in its queue.
class HeldThread {
 public:
  explicit HeldThread(UpstreamExecutor* executor) {
    EXPECT_TRUE(executor->Schedule([state = state_] {
      state->running.Notify();
      state->release.WaitForNotification();
    }));
    EXPECT_TRUE(state_->running.WaitForNotificationWithTimeout(absl::Seconds(30)));
  }
  ~HeldThread() { Release(); }
  void Release() {
    if (!state_->release.HasBeenNotified()) state_->release.Notify();
  }

 private:
  struct State {
    rollcall::testing::Notification running;
    rollcall::testing::Notification release;
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

}  // namespace rollcall::service::test
