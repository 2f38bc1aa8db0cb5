#pragma once
// The machinery every credential shares, over any TokenGrant. GraphClient's stub asks it for
// tokens from any thread.
//
// It caches its token and hands the same one to every caller until `refresh_margin` before it
// expires (never in the first half of a short lifetime; sooner when the platform suggested a
// refresh); then the next caller refreshes it. One refresh serves all concurrent waiters: N
// callers arriving together cause one token request. A waiter waits on the injected clock
// (Clock::WaitUntil) until the refresh ends or its own deadline passes.
//
// A refresh of a token that is still valid (inside the margin) is proactive: one attempt, made
// by one caller while every other caller keeps getting the old token, and at most one every
// 30 s. If it fails, the old token keeps being served until shortly before it really expires.
// A refresh without a usable token retries the grant's transient failures under `retry`,
// within the caller's deadline, and returns the last attempt's error.

#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "common/clock.h"
#include "common/mutex.h"
#include "graph_client/retry_policy.h"
#include "graph_client/token_credential.h"
#include "graph_client/token_grant.h"

namespace rollcall::graph {

struct CachingOptions {
  absl::Duration refresh_margin = absl::Minutes(5);
  RetryOptions retry;
};

class CachingTokenCredential final : public TokenCredential {
 public:
  // `grant` is never null; `clock` is never null and outlives the credential.
  CachingTokenCredential(std::unique_ptr<TokenGrant> grant, CachingOptions options,
                         const common::Clock* clock);

  absl::StatusOr<AccessToken> GetToken(absl::Time deadline) override;
  void Invalidate(const std::string& token) override;

 private:
  struct CachedToken {
    AccessToken token;
    absl::Time refresh_on;  // fresh while now < refresh_on
  };

  // Under mu_, what a caller does first: a result when it is done (a fresh token, the old one
  // during a proactive refresh, another caller's shared result, or its deadline passing), or
  // nullopt when it must fetch itself (fetching_ is then set, *proactive and *fallback say
  // whether a usable token is being replaced).
  std::optional<absl::StatusOr<AccessToken>> Admit(absl::Time deadline, bool* proactive,
                                                   std::optional<AccessToken>* fallback)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // A token from the grant, outside the lock. With `retry`, transient failures are tried again
  // under retry_ within `deadline`, and the last attempt's error is returned.
  absl::StatusOr<CachedToken> Fetch(absl::Time deadline, bool retry) ABSL_LOCKS_EXCLUDED(mu_);

  const std::unique_ptr<TokenGrant> grant_;
  const absl::Duration refresh_margin_;
  const common::Clock* const clock_;
  const RetryPolicy retry_;

  common::Mutex mu_;
  common::CondVar fetched_{&mu_};  // signalled when a fetch completes
  std::optional<CachedToken> cached_ ABSL_GUARDED_BY(mu_);
  bool fetching_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;  // completed fetches
  absl::StatusOr<AccessToken> last_result_ ABSL_GUARDED_BY(mu_);  // of the last completed fetch
  // Whether waiters on that fetch take last_result_ as their own.
  bool last_result_shared_ ABSL_GUARDED_BY(mu_) = false;
  // No proactive refresh starts before this (one per kProactiveRefreshInterval).
  absl::Time next_proactive_refresh_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace rollcall::graph
