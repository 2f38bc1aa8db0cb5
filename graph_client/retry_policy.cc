#include "graph_client/retry_policy.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <utility>

namespace rollcall::graph {
namespace {

// Uniform in [0, 1) from a generator per thread: no lock, no sharing.
double ThreadLocalUniform() {
  thread_local std::mt19937_64 random = [] {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device()};
    return std::mt19937_64(seed);
  }();
  return std::uniform_real_distribution<double>(0.0, 1.0)(random);
}

}  // namespace

RetryPolicy::RetryPolicy(RetryOptions options, const common::Clock* clock)
    : options_(std::move(options)), clock_(clock) {
  options_.max_attempts = std::max(options_.max_attempts, 1);
  options_.initial_backoff = std::max(options_.initial_backoff, absl::ZeroDuration());
  options_.max_backoff = std::max(options_.max_backoff, absl::ZeroDuration());
  if (!options_.jitter) options_.jitter = &ThreadLocalUniform;
}

absl::Duration RetryPolicy::Backoff(int attempt, std::optional<absl::Duration> retry_after) const {
  if (retry_after.has_value()) return std::max(*retry_after, absl::ZeroDuration());
  absl::Duration step = options_.initial_backoff;
  for (int i = 1; i < attempt && step < options_.max_backoff; ++i) step *= 2;
  step = std::min(step, options_.max_backoff);
  double jitter = options_.jitter();
  if (!(jitter >= 0.0)) jitter = 0.0;  // NaN too
  if (jitter > 1.0) jitter = 1.0;
  return step / 2 + (step / 2) * jitter;
}

bool RetryPolicy::Fits(absl::Duration wait, absl::Time deadline) const {
  return clock_->Now() + wait + kMinAttemptTime <= deadline;
}

bool RetryPolicy::WaitBeforeRetry(int attempt, std::optional<absl::Duration> retry_after,
                                  absl::Time deadline) const {
  if (attempt >= options_.max_attempts) return false;
  // The server asked for a longer pause than this client will wait: retrying sooner would only
  // be throttled again, so the caller gets the error (with the server's delay) now.
  if (retry_after.has_value() && *retry_after > options_.max_backoff) return false;
  const absl::Duration wait = Backoff(attempt, retry_after);
  const absl::Time now = clock_->Now();
  if (now + wait + kMinAttemptTime > deadline) return false;
  clock_->SleepUntil(now + wait);
  return true;
}

}  // namespace rollcall::graph
