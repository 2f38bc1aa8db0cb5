#pragma once
// When an HTTP exchange that failed for a passing reason is tried again, and how long to wait
// first. The Graph stub's RetryingStub and the caching token credential share this one policy:
// a Retry-After from the server sets the wait, otherwise exponential backoff with jitter, and
// no wait or attempt runs past the caller's deadline. Waits go through a Clock, so tests fake
// them.

#include <functional>
#include <optional>

#include "absl/time/time.h"
#include "common/clock.h"

namespace rollcall::graph {

// How a client retries 429, 503, 504 and connections that failed before any response byte.
struct RetryOptions {
  // Attempts in all, the first included; 1 turns retries off (values below 1 count as 1). The
  // one repeat of a request with a new token after Graph's 401 is not counted here.
  int max_attempts = 4;
  absl::Duration initial_backoff = absl::Milliseconds(500);
  // Caps every backoff; a Retry-After longer than this ends the retries instead (the server's
  // delay is passed on to the caller rather than cut short).
  absl::Duration max_backoff = absl::Seconds(30);
  // A number in [0, 1) that spreads the backoff of concurrent callers; called from any thread
  // at once, so it must be thread-safe. Empty: a per-thread pseudo-random generator. Tests set
  // a constant to make waits exact.
  std::function<double()> jitter;
};

// The least time an attempt is given: a retry that would start with less than this left
// before the deadline is not made, and the caller gets the last error instead.
inline constexpr absl::Duration kMinAttemptTime = absl::Milliseconds(50);

// Immutable after construction; thread-safe.
class RetryPolicy {
 public:
  // `clock` is never null and outlives the policy.
  RetryPolicy(RetryOptions options, const common::Clock* clock);

  // The wait after the `attempt`-th attempt (1 for the first) failed:
  //   retry_after set:  that wait as the server gave it (fractions kept);
  //   otherwise:        "equal jitter" over the exponential step
  //                       step = min(max_backoff, initial_backoff * 2^(attempt-1)),
  //                       wait = step/2 + jitter() * step/2,
  //                     so concurrent callers spread out, yet no wait is shorter than half the
  //                     step (full jitter could send a burst of near-instant retries at a
  //                     struggling server).
  absl::Duration Backoff(int attempt, std::optional<absl::Duration> retry_after) const;

  // After the `attempt`-th attempt failed with an error worth retrying: when another attempt
  // is allowed (attempt < max_attempts), any Retry-After is at most max_backoff, and the wait
  // fits (see Fits), waits Backoff(...) on the clock and returns true. Otherwise returns false
  // at once, without waiting.
  bool WaitBeforeRetry(int attempt, std::optional<absl::Duration> retry_after,
                       absl::Time deadline) const;

  // Whether an attempt starting `wait` from the clock's now would still have kMinAttemptTime
  // before `deadline`.
  bool Fits(absl::Duration wait, absl::Time deadline) const;

  int max_attempts() const { return options_.max_attempts; }

 private:
  RetryOptions options_;  // normalised: max_attempts >= 1, durations >= 0, jitter set
  const common::Clock* const clock_;
};

}  // namespace rollcall::graph
