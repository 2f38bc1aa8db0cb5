// RetryPolicy: the waits it chooses and when it gives up, on a fake clock.

#include "graph_client/retry_policy.h"

#include <cmath>
#include <limits>
#include <optional>
#include <vector>

#include "gtest/gtest.h"
#include "tests/testing/fake_clock.h"

namespace rollcall::graph {
namespace {

using ::rollcall::testing::FakeClock;

RetryOptions Options(double jitter, int max_attempts = 4) {
  return {max_attempts, absl::Milliseconds(500), absl::Seconds(30), [jitter] { return jitter; }};
}

TEST(RetryPolicy, BackoffIsEqualJitterOverAnExponentialStep) {
  FakeClock clock;
  const RetryPolicy low(Options(0.0), &clock);
  const RetryPolicy mid(Options(0.5), &clock);
  const std::vector<absl::Duration> steps = {absl::Milliseconds(500), absl::Seconds(1),
                                             absl::Seconds(2),        absl::Seconds(4),
                                             absl::Seconds(8),        absl::Seconds(16),
                                             absl::Seconds(30),       absl::Seconds(30)};
  for (int attempt = 1; attempt <= static_cast<int>(steps.size()); ++attempt) {
    SCOPED_TRACE(attempt);
    const absl::Duration step = steps[attempt - 1];
    EXPECT_EQ(low.Backoff(attempt, std::nullopt), step / 2);
    EXPECT_EQ(mid.Backoff(attempt, std::nullopt), step * 3 / 4);
  }
  // No overflow however many attempts.
  EXPECT_EQ(low.Backoff(std::numeric_limits<int>::max(), std::nullopt), absl::Seconds(15));
}

TEST(RetryPolicy, JitterOutsideItsRangeIsClamped) {
  FakeClock clock;
  EXPECT_EQ(RetryPolicy(Options(-3), &clock).Backoff(1, std::nullopt), absl::Milliseconds(250));
  EXPECT_EQ(RetryPolicy(Options(7), &clock).Backoff(1, std::nullopt), absl::Milliseconds(500));
  EXPECT_EQ(RetryPolicy(Options(std::nan("")), &clock).Backoff(1, std::nullopt),
            absl::Milliseconds(250));
}

TEST(RetryPolicy, TheDefaultJitterStaysInTheStep) {
  FakeClock clock;
  RetryOptions options;  // jitter empty: the built-in generator
  const RetryPolicy policy(options, &clock);
  for (int i = 0; i < 1000; ++i) {
    const absl::Duration wait = policy.Backoff(2, std::nullopt);  // step 1 s
    ASSERT_GE(wait, absl::Milliseconds(500));
    ASSERT_LE(wait, absl::Seconds(1));
  }
}

TEST(RetryPolicy, RetryAfterIsUsedAsGiven) {
  FakeClock clock;
  const RetryPolicy policy(Options(0.9), &clock);
  EXPECT_EQ(policy.Backoff(3, absl::Milliseconds(2128)), absl::Milliseconds(2128));
  EXPECT_EQ(policy.Backoff(1, absl::ZeroDuration()), absl::ZeroDuration());
  EXPECT_EQ(policy.Backoff(1, absl::Hours(1)), absl::Hours(1));
}

TEST(RetryPolicy, ARetryAfterLongerThanMaxBackoffIsNotWaitedFor) {
  FakeClock clock;
  const RetryPolicy policy(Options(0.9), &clock);  // max_backoff 30 s
  const absl::Time deadline = clock.Now() + absl::Hours(2);
  EXPECT_FALSE(policy.WaitBeforeRetry(1, absl::Seconds(31), deadline));
  EXPECT_TRUE(clock.sleeps().empty());
  EXPECT_TRUE(policy.WaitBeforeRetry(1, absl::Seconds(30), deadline));
  EXPECT_EQ(clock.sleeps(), std::vector<absl::Duration>{absl::Seconds(30)});
}

TEST(RetryPolicy, WaitsOnTheClockWhileAttemptsAndTimeRemain) {
  FakeClock clock;
  const RetryPolicy policy(Options(0.0, 3), &clock);
  const absl::Time deadline = clock.Now() + absl::Minutes(1);
  EXPECT_TRUE(policy.WaitBeforeRetry(1, std::nullopt, deadline));
  EXPECT_TRUE(policy.WaitBeforeRetry(2, absl::Seconds(3), deadline));
  EXPECT_FALSE(policy.WaitBeforeRetry(3, std::nullopt, deadline));  // 3 attempts made
  EXPECT_EQ(clock.sleeps(),
            (std::vector<absl::Duration>{absl::Milliseconds(250), absl::Seconds(3)}));
}

TEST(RetryPolicy, NeverWaitsPastTheDeadlineNorWithoutTimeForAnAttempt) {
  FakeClock clock;
  const RetryPolicy policy(Options(0.0), &clock);
  const absl::Time now = clock.Now();
  EXPECT_FALSE(policy.WaitBeforeRetry(1, absl::Seconds(2), now + absl::Seconds(1)));
  EXPECT_FALSE(
      policy.WaitBeforeRetry(1, absl::Seconds(1), now + absl::Seconds(1) + kMinAttemptTime -
                                                      absl::Nanoseconds(1)));
  EXPECT_TRUE(clock.sleeps().empty());
  EXPECT_EQ(clock.Now(), now);
  EXPECT_TRUE(
      policy.WaitBeforeRetry(1, absl::Seconds(1), now + absl::Seconds(1) + kMinAttemptTime));
  EXPECT_EQ(clock.Now(), now + absl::Seconds(1));

  EXPECT_TRUE(policy.Fits(absl::ZeroDuration(), absl::InfiniteFuture()));
  EXPECT_FALSE(policy.Fits(absl::ZeroDuration(), clock.Now() + kMinAttemptTime / 2));
}

TEST(RetryPolicy, OddOptionsAreNormalised) {
  FakeClock clock;
  const RetryPolicy none({0, -absl::Seconds(1), -absl::Seconds(1), {}}, &clock);
  EXPECT_EQ(none.max_attempts(), 1);
  EXPECT_FALSE(none.WaitBeforeRetry(1, std::nullopt, absl::InfiniteFuture()));
  EXPECT_EQ(none.Backoff(5, std::nullopt), absl::ZeroDuration());
}

}  // namespace
}  // namespace rollcall::graph
