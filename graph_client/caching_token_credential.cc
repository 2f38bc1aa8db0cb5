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

// A cached token is handed out while it has more than this left; less, and it could expire
// on its way to Graph.
constexpr absl::Duration kMinUsableLifetime = absl::Seconds(10);

absl::Status DeadlineError(absl::string_view message) {
  return common::MakeError(absl::StatusCode::kDeadlineExceeded, message,
                           {std::string(common::reason::kTokenEndpointError), {}, std::nullopt});
}

}  // namespace

CachingTokenCredential::CachingTokenCredential(std::unique_ptr<TokenGrant> grant,
                                               CachingOptions options,
                                               const common::Clock* clock)
    : grant_(std::move(grant)),
      refresh_margin_(options.refresh_margin),
      clock_(clock),
      retry_(std::move(options.retry), clock) {}

absl::StatusOr<AccessToken> CachingTokenCredential::GetToken(absl::Time deadline) {
  bool proactive = false;  // the fetch below replaces a token that is still usable
  std::optional<AccessToken> fallback;
  {
    common::MutexLock lock(&mu_);
    std::optional<absl::StatusOr<AccessToken>> done = Admit(deadline, &proactive, &fallback);
    if (done.has_value()) return *std::move(done);
  }

  absl::StatusOr<CachedToken> fetched = Fetch(deadline, /*retry=*/!proactive);

  common::MutexLock lock(&mu_);
  fetching_ = false;
  ++generation_;
  absl::StatusOr<AccessToken> result =
      fetched.ok() ? absl::StatusOr<AccessToken>(fetched->token) : fetched.status();
  if (fetched.ok()) cached_ = *std::move(fetched);
  last_result_ = result;
  last_result_shared_ = result.ok() || (!proactive && result.status().code() !=
                                                          absl::StatusCode::kDeadlineExceeded);
  fetched_.SignalAll();
  if (!result.ok() && fallback.has_value() && cached_.has_value() &&
      cached_->token.token == fallback->token &&
      clock_->Now() < fallback->expires_on - kMinUsableLifetime) {
    // The proactive refresh failed (as MSAL and azure-identity do): keep serving the old token,
    // which Graph still accepts, until it nearly expires.
    return *fallback;
  }
  return result;
}

std::optional<absl::StatusOr<AccessToken>> CachingTokenCredential::Admit(
    absl::Time deadline, bool* proactive, std::optional<AccessToken>* fallback) {
  for (;;) {
    const absl::Time now = clock_->Now();
    if (cached_.has_value() && now < cached_->refresh_on) return cached_->token;
    // Due for refresh but still usable: one caller with time to spare refreshes (at most
    // once an interval) and nobody waits for it.
    *proactive = cached_.has_value() && now < cached_->token.expires_on - kMinUsableLifetime;
    if (*proactive && (fetching_ || now < next_proactive_refresh_ || now >= deadline)) {
      return cached_->token;
    }
    if (now >= deadline) {
      return DeadlineError("the deadline passed before an access token was available");
    }
    if (!fetching_) break;

    // Another caller is fetching: wait for its result, or for our deadline on clock_.
    const uint64_t generation = generation_;
    while (fetching_ && generation_ == generation) {
      if (clock_->Now() >= deadline) {
        return DeadlineError("the deadline passed while waiting for an access token");
      }
      clock_->WaitUntil(&fetched_, deadline);
    }
    // That fetch's result is ours too, unless it says nothing about this caller's chances
    // (it only ran out of its own caller's time, or was a one-attempt proactive refresh):
    // then look again (this caller may have time left).
    if (generation_ != generation && last_result_shared_) return last_result_;
  }

  fetching_ = true;
  if (*proactive) {
    next_proactive_refresh_ = clock_->Now() + kProactiveRefreshInterval;
    *fallback = cached_->token;
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
      const absl::Duration lifetime = token->expires_on - sent;
      absl::Time refresh_on = token->expires_on - std::min(refresh_margin_, lifetime / 2);
      if (token->refresh_on.has_value()) refresh_on = std::min(refresh_on, *token->refresh_on);
      return CachedToken{*std::move(token), refresh_on};
    }
    if (!retry || !IsTransient(token.status()) ||
        !retry_.WaitBeforeRetry(attempt, common::GetErrorDetails(token.status()).retry_after,
                                deadline)) {
      return WithoutTransientMark(token.status());
    }
  }
}

void CachingTokenCredential::Invalidate(const std::string& token) {
  common::MutexLock lock(&mu_);
  if (cached_.has_value() && cached_->token.token == token) cached_.reset();
}

}  // namespace rollcall::graph
