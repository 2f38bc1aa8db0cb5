// tests/testing/fake_clock.h: waits on a CondVar end when a test moves time past their deadline,
// and when they are signalled, with no wake-up lost.

#include "tests/testing/fake_clock.h"

#include <thread>

#include "common/mutex.h"
#include "gtest/gtest.h"

namespace rollcall::testing {
namespace {

using common::CondVar;
using common::Mutex;
using common::MutexLock;

TEST(FakeClockTest, AWaitPastItsDeadlineReturnsAtOnce) {
  FakeClock clock;
  Mutex mu;
  CondVar cv(&mu);
  MutexLock lock(&mu);
  clock.WaitUntil(&cv, clock.Now());
  clock.WaitUntil(&cv, clock.Now() - absl::Hours(1));
}

TEST(FakeClockTest, MovingTimePastTheDeadlineEndsTheWait) {
  FakeClock clock;
  const absl::Time deadline = clock.Now() + absl::Seconds(30);
  Mutex mu;
  CondVar cv(&mu);
  bool waiting = false;  // guarded by mu
  bool done = false;     // guarded by mu
  std::thread waiter([&] {
    MutexLock lock(&mu);
    waiting = true;
    cv.SignalAll();
    while (clock.Now() < deadline) clock.WaitUntil(&cv, deadline);
    done = true;
    cv.SignalAll();
  });
  {
    MutexLock lock(&mu);
    while (!waiting) cv.Wait();
  }
  clock.Advance(absl::Seconds(10));  // not yet: the waiter re-checks and waits again
  {
    MutexLock lock(&mu);
    EXPECT_FALSE(done);
  }
  clock.Advance(absl::Seconds(20));
  {
    MutexLock lock(&mu);
    while (!done) cv.Wait();
  }
  waiter.join();
  EXPECT_EQ(clock.Now(), deadline);
}

TEST(FakeClockTest, ASignalEndsTheWaitWithoutMovingTime) {
  FakeClock clock;
  const absl::Time start = clock.Now();
  Mutex mu;
  CondVar cv(&mu);
  bool ready = false;  // guarded by mu
  std::thread signaller([&] {
    MutexLock lock(&mu);
    ready = true;
    cv.SignalAll();
  });
  {
    MutexLock lock(&mu);
    while (!ready) clock.WaitUntil(&cv, start + absl::Hours(1));
  }
  signaller.join();
  EXPECT_EQ(clock.Now(), start);
}

TEST(FakeClockTest, ManyWaitersAndWakersLoseNoWakeUp) {
  FakeClock clock;
  const absl::Time deadline = clock.Now() + absl::Seconds(100);
  constexpr int kWaiters = 8;
  std::vector<std::thread> waiters;
  for (int i = 0; i < kWaiters; ++i) {
    waiters.emplace_back([&] {
      // Each waiter's CondVar dies as soon as it returns: a waker must not touch it after.
      Mutex mu;
      CondVar cv(&mu);
      MutexLock lock(&mu);
      while (clock.Now() < deadline) clock.WaitUntil(&cv, deadline);
    });
  }
  for (int i = 0; i < 100; ++i) clock.Advance(absl::Seconds(1));
  for (std::thread& t : waiters) t.join();
  EXPECT_GE(clock.Now(), deadline);
}

}  // namespace
}  // namespace rollcall::testing
