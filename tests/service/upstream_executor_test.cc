// UpstreamExecutor (moved from report_cache_test.cc).

#include "service/upstream_executor.h"

#include <atomic>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/service/held_thread.h"
#include "tests/testing/blocking_counter.h"
#include "tests/testing/notification.h"

namespace rollcall::service {
namespace {

using rollcall::testing::BlockingCounter;
using rollcall::testing::Notification;
using test::HeldThread;

constexpr absl::Duration kWait = absl::Seconds(30);  // generous: only a failing test waits it

TEST(UpstreamExecutorTest, RunsQueuedTasksBeforeShutdownReturns) {
  UpstreamExecutor executor(2, 100);
  std::atomic<int> ran{0};
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(executor.Schedule([&] { ran.fetch_add(1); }));
  EXPECT_TRUE(executor.Shutdown());
  EXPECT_EQ(ran.load(), 50);
  EXPECT_FALSE(executor.Schedule([&] { ran.fetch_add(1); }));
  EXPECT_TRUE(executor.Shutdown());  // idempotent
  EXPECT_EQ(executor.rejected(), 1u);
}

// Threads + max_queued tasks may be accepted and unfinished at once, however fast the workers
// pick tasks up: a task queued for an idle worker never makes the next look refused.
TEST(UpstreamExecutorTest, BoundCountsRunningAndQueuedTasks) {
  UpstreamExecutor executor(1, 1);
  Notification release;
  Notification running;
  BlockingCounter finished(2);
  ASSERT_TRUE(executor.Schedule([&] {
    running.Notify();
    release.WaitForNotification();
    finished.DecrementCount();
  }));
  // Accepted whether or not the worker has taken the first task yet.
  ASSERT_TRUE(executor.Schedule([&] { finished.DecrementCount(); }));
  EXPECT_FALSE(executor.Schedule([] {}));
  ASSERT_TRUE(running.WaitForNotificationWithTimeout(kWait));
  EXPECT_EQ(executor.running(), 1u);
  EXPECT_EQ(executor.queued(), 1u);
  EXPECT_FALSE(executor.Schedule([] {}));
  EXPECT_EQ(executor.rejected(), 2u);
  release.Notify();
  finished.Wait();
  EXPECT_TRUE(executor.Shutdown());
}

TEST(UpstreamExecutorTest, ZeroQueueAcceptsOnlyWhatAThreadCanRunNow) {
  UpstreamExecutor executor(2, 0);
  Notification release;
  BlockingCounter finished(2);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(executor.Schedule([&] {
      release.WaitForNotification();
      finished.DecrementCount();
    }));
  }
  EXPECT_FALSE(executor.Schedule([] {}));
  release.Notify();
  finished.Wait();
  EXPECT_TRUE(executor.Shutdown());
}

TEST(UpstreamExecutorTest, ShutdownWaitsUntilItsDeadlineOnly) {
  UpstreamExecutor executor(1, 0);
  HeldThread held(&executor);
  EXPECT_FALSE(executor.Shutdown(absl::Now()));  // the task still runs
  EXPECT_FALSE(executor.Schedule([] {}));        // but nothing new is taken
  held.Release();
  EXPECT_TRUE(executor.Shutdown());
}

}  // namespace
}  // namespace rollcall::service
