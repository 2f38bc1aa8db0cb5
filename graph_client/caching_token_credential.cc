#include "graph_client/caching_token_credential.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "common/error_details.h"

namespace rollcall::graph {
namespace {

// A proactive refresh (of a token still valid) is tried at most this often, so an outage of
// the token endpoint costs one failed request per interval, not one per call.
constexpr absl::Duration kProactiveRefreshInterval = absl::Seconds(30);

// A cached token is handed out while it has more than this left (or a quarter of its lifetime,
// when that is less); less, and it could expire on its way to Graph.
constexpr absl::Duration kMinUsableLifetime = absl::Seconds(10);

// The refresher's backoff after a failed attempt: equal jitter over steps of 1 s doubling to
// 30 s (RetryPolicy::Backoff); a Retry-After is honoured up to the largest step.
constexpr absl::Duration kRefreshBackoffInitial = absl::Seconds(1);
constexpr absl::Duration kRefreshBackoffMax = absl::Seconds(30);
// Time the refresher gives one token request.
constexpr absl::Duration kRefreshAttemptTimeout = absl::Seconds(30);
// The refresher starts no two attempts closer than this, however short the token's lifetime.
constexpr absl::Duration kMinRefreshInterval = absl::Seconds(1);

// Once Graph refuses a token fetched to replace a refused one, refusals fetch no new token
// for this long, doubling with each replacement refused in a row, up to the cap.
constexpr absl::Duration kRefusalBackoffInitial = absl::Seconds(30);
constexpr absl::Duration kRefusalBackoffMax = absl::Minutes(5);

absl::Duration RefusalBackoff(int refusals) {
  absl::Duration backoff = kRefusalBackoffInitial;
  for (int i = 1; i < refusals && backoff < kRefusalBackoffMax; ++i) backoff *= 2;
  return std::min(backoff, kRefusalBackoffMax);
}

absl::Status DeadlineError(absl::string_view message) {
  return common::MakeError(absl::StatusCode::kDeadlineExceeded, message,
                           {std::string(common::reason::kTokenEndpointError), {}, std::nullopt});
}

RetryOptions RefreshBackoffOptions(const RetryOptions& retry) {
  RetryOptions options;
  options.initial_backoff = kRefreshBackoffInitial;
  options.max_backoff = kRefreshBackoffMax;
  options.jitter = retry.jitter;
  return options;
}

}  // namespace

CachingTokenCredential::CachingTokenCredential(std::unique_ptr<TokenGrant> grant,
                                               CachingOptions options,
                                               const common::Clock* clock)
    : grant_(std::move(grant)),
      refresh_margin_(options.refresh_margin),
      clock_(clock),
      retry_(options.retry, clock),
      refresh_backoff_(RefreshBackoffOptions(options.retry), clock),
      background_refresh_(options.background_refresh),
      observer_(std::move(options.observer)) {
  if (background_refresh_) refresher_ = std::thread([this] { RefreshLoop(); });
}

CachingTokenCredential::~CachingTokenCredential() {
  if (!refresher_.joinable()) return;
  {
    common::MutexLock lock(&mu_);
    stopping_ = true;
    fetched_.SignalAll();
  }
  refresher_.join();
}

absl::StatusOr<AccessToken> CachingTokenCredential::GetToken(absl::Time deadline) {
  bool proactive = false;  // the fetch below replaces a token that is still usable
  std::optional<CachedToken> fallback;
  {
    common::MutexLock lock(&mu_);
    std::optional<absl::StatusOr<AccessToken>> done = Admit(deadline, &proactive, &fallback);
    if (done.has_value()) return *std::move(done);
  }

  absl::StatusOr<CachedToken> fetched = Fetch(deadline, /*retry=*/!proactive);

  common::MutexLock lock(&mu_);
  absl::StatusOr<AccessToken> result =
      Publish(std::move(fetched), proactive ? Sharing::kNone : Sharing::kAllButDeadline);
  if (!result.ok() && fallback.has_value() && cached_.has_value() &&
      cached_->token.token == fallback->token.token && clock_->Now() < fallback->usable_until) {
    // The proactive refresh failed (as MSAL and azure-identity do): keep serving the old token,
    // which Graph still accepts, until it nearly expires.
    return fallback->token;
  }
  return result;
}

std::optional<absl::StatusOr<AccessToken>> CachingTokenCredential::Admit(
    absl::Time deadline, bool* proactive, std::optional<CachedToken>* fallback) {
  for (;;) {
    const absl::Time now = clock_->Now();
    if (cached_.has_value() && now < cached_->refresh_on) return cached_->token;
    const bool usable = cached_.has_value() && now < cached_->usable_until;
    // The refresher owns refreshing: a usable token is handed out, nobody waits.
    if (background_refresh_ && usable) return cached_->token;
    // Due for refresh but still usable: one caller with time to spare refreshes (at most
    // once an interval) and nobody waits for it.
    *proactive = usable;
    if (*proactive && (fetching_ || now < next_proactive_refresh_ || now >= deadline)) {
      return cached_->token;
    }
    if (now >= deadline) {
      return DeadlineError("the deadline passed before an access token was available");
    }
    if (!fetching_) break;

    // Another caller (or the refresher) is fetching: wait for its result, or for our deadline
    // on clock_.
    const uint64_t generation = generation_;
    while (fetching_ && generation_ == generation) {
      if (clock_->Now() >= deadline) {
        return DeadlineError("the deadline passed while waiting for an access token");
      }
      clock_->WaitUntil(&fetched_, deadline);
    }
    // That fetch's result is ours too, unless it says nothing about this caller's chances
    // (it only ran out of its own caller's time, or was a one-attempt refresh that failed for
    // a passing reason): then look again (this caller may have time left).
    if (generation_ != generation && last_result_shared_) return last_result_;
  }

  fetching_ = true;
  if (*proactive) {
    next_proactive_refresh_ = clock_->Now() + kProactiveRefreshInterval;
    *fallback = cached_;
  }
  return std::nullopt;
}

absl::StatusOr<CachingTokenCredential::CachedToken> CachingTokenCredential::Fetch(
    absl::Time deadline, bool retry) {
  for (int attempt = 1;; ++attempt) {
    const absl::Time sent = clock_->Now();  // lifetimes count from before the request
    absl::StatusOr<AccessToken> token = grant_->Request(deadline);
    if (token.ok()) {
      // Refresh `refresh_margin` early, but never in the first half of a short lifetime, so a
      // 60 s token is not stale as soon as it arrives; sooner if the platform says so.
      const absl::Duration lifetime = std::max(token->expires_on - sent, absl::ZeroDuration());
      absl::Time refresh_on = token->expires_on - std::min(refresh_margin_, lifetime / 2);
      if (token->refresh_on.has_value()) refresh_on = std::min(refresh_on, *token->refresh_on);
      const absl::Time usable_until =
          token->expires_on - std::min(kMinUsableLifetime, lifetime / 4);
      return CachedToken{*std::move(token), refresh_on, usable_until};
    }
    if (!retry || !IsTransient(token.status()) ||
        !retry_.WaitBeforeRetry(attempt, common::GetErrorDetails(token.status()).retry_after,
                                deadline)) {
      return token.status();
    }
  }
}

absl::StatusOr<AccessToken> CachingTokenCredential::Publish(absl::StatusOr<CachedToken> fetched,
                                                           Sharing sharing) {
  fetching_ = false;
  ++generation_;
  fetched_.SignalAll();
  if (fetched.ok()) {
    rejected_ = false;
    retry_at_ = absl::InfinitePast();
    refresh_failures_ = 0;
    cached_ = *std::move(fetched);
    // A token fetched because Invalidate dropped the last one is on probation; one fetched for
    // any other reason (the first, a refresh) ends the back-off.
    cached_->replacement = replacing_;
    replacing_ = false;
    if (!cached_->replacement) {
      refusals_ = 0;
      refused_until_ = absl::InfinitePast();
    }
    UpdateRefusalWatch();
    last_result_ = cached_->token;
    last_result_shared_ = true;
    return last_result_;
  }
  const absl::Status& status = fetched.status();
  if (common::GetErrorDetails(status).reason == common::reason::kCredentialsRejected) {
    rejected_ = true;
  }
  switch (sharing) {
    case Sharing::kNone:
      last_result_shared_ = false;
      break;
    case Sharing::kAllButDeadline:
      last_result_shared_ = status.code() != absl::StatusCode::kDeadlineExceeded;
      break;
    case Sharing::kPermanent:
      last_result_shared_ =
          !IsTransient(status) && status.code() != absl::StatusCode::kDeadlineExceeded;
      break;
  }
  last_result_ = WithoutTransientMark(status);
  return last_result_;
}

bool CachingTokenCredential::Usable(absl::Time now) const {
  return cached_.has_value() && now < cached_->usable_until && !rejected_;
}

void CachingTokenCredential::RefreshLoop() {
  bool reported = false;  // what the observer was last told; unusable before its first call
  mu_.Lock();
  while (!stopping_) {
    const absl::Time now = clock_->Now();
    if (fetching_) {
      // A caller's fetch (there is no usable token): its outcome decides what is due.
      clock_->WaitUntil(&fetched_, absl::InfiniteFuture());
      continue;
    }
    absl::Time due = retry_at_;
    if (cached_.has_value()) due = std::max(due, cached_->refresh_on);
    if (now >= due) {
      // One attempt; callers without a usable token wait for it (and take its result unless
      // it failed for a passing reason: then they try themselves, with retries).
      fetching_ = true;
      mu_.Unlock();
      absl::StatusOr<CachedToken> fetched = Fetch(now + kRefreshAttemptTimeout, /*retry=*/false);
      mu_.Lock();
      std::optional<absl::Duration> retry_after;
      if (!fetched.ok()) retry_after = common::GetErrorDetails(fetched.status()).retry_after;
      const bool ok = Publish(std::move(fetched), Sharing::kPermanent).ok();
      if (ok) {
        // However short the token's life, it is not refreshed again at once.
        cached_->refresh_on = std::max(cached_->refresh_on, now + kMinRefreshInterval);
        continue;
      }
      // Keep the token (if any) and try again after a backoff, but not after it stops being
      // usable.
      const absl::Time after = clock_->Now();
      absl::Duration wait = refresh_backoff_.Backoff(++refresh_failures_, std::nullopt);
      if (retry_after.has_value()) {
        wait = std::max(wait, std::min(*retry_after, kRefreshBackoffMax));
      }
      retry_at_ = after + wait;
      if (cached_.has_value() && after < cached_->usable_until) {
        retry_at_ = std::min(retry_at_, cached_->usable_until);
      }
      continue;
    }
    const bool usable = Usable(now);
    if (usable != reported) {
      reported = usable;
      if (observer_ != nullptr) {
        mu_.Unlock();
        observer_->OnTokenUsable(usable);
        mu_.Lock();
      }
      continue;
    }
    // Until the next attempt, or the token stops being usable (the observer is told then),
    // or a fetch completes, Invalidate or the destructor wakes us.
    clock_->WaitUntil(&fetched_, usable ? std::min(due, cached_->usable_until) : due);
  }
  mu_.Unlock();
}

void CachingTokenCredential::UpdateRefusalWatch() {
  watching_refusals_.store(
      replacing_ || refusals_ > 0 || (cached_.has_value() && cached_->replacement),
      std::memory_order_relaxed);
}

Invalidation CachingTokenCredential::Invalidate(const std::string& token) {
  common::MutexLock lock(&mu_);
  if (!cached_.has_value() || cached_->token.token != token) {
    return {Invalidation::Outcome::kStale};
  }
  const absl::Time now = clock_->Now();
  if (cached_->replacement) {
    // Graph refused the token fetched to replace a refused one: another would fare no better.
    // Keep it, and fetch none for a while.
    cached_->replacement = false;  // after the window, a refusal drops it again
    ++refusals_;
    refused_backoff_ = RefusalBackoff(refusals_);
    refused_until_ = now + refused_backoff_;
    UpdateRefusalWatch();
  }
  if (now < refused_until_) {
    return {Invalidation::Outcome::kBackingOff, refused_until_, refused_backoff_};
  }
  cached_.reset();
  replacing_ = true;
  UpdateRefusalWatch();
  fetched_.SignalAll();  // the refresher fetches anew
  return {Invalidation::Outcome::kDropped};
}

void CachingTokenCredential::Accepted(const std::string& token) {
  // Mutex-free on the common path: a Graph answer while nothing is on probation or backing off.
  if (!watching_refusals_.load(std::memory_order_relaxed)) return;
  common::MutexLock lock(&mu_);
  if (!cached_.has_value() || cached_->token.token != token) return;  // an older token
  cached_->replacement = false;
  refusals_ = 0;
  refused_until_ = absl::InfinitePast();
  UpdateRefusalWatch();
}

}  // namespace rollcall::graph
