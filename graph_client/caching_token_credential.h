#pragma once
// The machinery every credential shares, over any TokenGrant. GraphClient's stub asks it for
// tokens from any thread.
//
// It caches its token. A token is *fresh* until its refresh point: `refresh_margin` before it
// expires, never in the first half of its lifetime (a 3 s token is refreshed at 1.5 s, a 60 s
// one at 30 s), sooner when the platform suggested a refresh (refresh_in). It stays *usable*
// (handed out) until shortly before it expires: 10 s before, or a quarter of its lifetime
// before when that is less (0.75 s for a 3 s token).
//
// With `background_refresh` (what MakeTokenCredential builds), a thread of the credential owns
// refreshing: it requests the first token at once (so readiness can turn on before any
// request), then waits on the injected clock until the token's refresh point and refreshes it
// (one attempt). When that fails it keeps the old token and tries again after an exponential
// backoff with equal jitter (steps of 1 s doubling to 30 s: waits of 0.5–1 s, 1–2 s, …, 15–30 s;
// a Retry-After is honoured up to 30 s), never later than the point the token stops being
// usable, and on after that (at most every 30 s) until it gets a token. GetToken then never
// blocks while a usable token is cached, even past its refresh point. Only without a usable
// token (the refresher failing until the token ran out, or Invalidate) does a caller fetch as
// below, sharing any fetch already in flight (the refresher's included). The destructor wakes
// the thread and joins it (waiting for a token request in flight, bounded by 30 s).
//
// Without it, the caller that finds the token past its refresh point refreshes it. One refresh
// serves all concurrent waiters: N callers arriving together cause one token request. A waiter
// waits on the injected clock (Clock::WaitUntil) until the refresh ends or its own deadline
// passes. A refresh of a token that is still usable is proactive: one attempt, made by one
// caller while every other caller keeps getting the old token, and at most one every 30 s. If
// it fails, the old token keeps being served until it stops being usable.
//
// In both modes a refresh without a usable token retries the grant's transient failures under
// `retry`, within the caller's deadline, and returns the last attempt's error.
//
// Graph refusing tokens (Invalidate, after a 401). The first refusal of the cached token drops
// it, so the next GetToken (or, with the refresher, the refresher at once) fetches a
// replacement. If Graph refuses that replacement too, fetching more will not help (the app's
// token is for the wrong audience or tenant, say): Invalidate then backs off. It keeps the token
// cached, fetches nothing and returns kBackingOff with the end of a window of 30 s, doubling
// with each replacement refused in a row up to 5 min. Refusals within the window change
// nothing; the first refusal after it drops the token again (one more fetch). The back-off ends
// (back to 30 s, and a refusal drops the token at once) when Graph accepts the cached token
// (Accepted) or when a token is fetched for another reason than a refusal (the first token, a
// refresh ahead of expiry). Everything is on the injected clock; N concurrent callers refused
// together cause at most one fetch.
//
// The observer (CredentialObserver, token_credential.h) is told of changes in whether a usable
// token is held; it needs the background refresher, and runs on its thread, never under mu_.
// Graph refusing tokens does not change it (the token endpoint still issues them).

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "common/clock.h"
#include "common/mutex.h"
#include "graph_client/retry_policy.h"
#include "graph_client/token_credential.h"
#include "graph_client/token_grant.h"

namespace rollcall::graph {

struct CachingOptions {
  absl::Duration refresh_margin = absl::Minutes(5);
  // Retries of a caller's fetch without a usable token; retry.jitter also spreads the
  // refresher's backoff.
  RetryOptions retry;
  // Start the background refresher (see above). MakeTokenCredential turns it on by default.
  bool background_refresh = false;
  // Told whether a usable token is held; may be null; only used with background_refresh.
  std::shared_ptr<CredentialObserver> observer;
};

class CachingTokenCredential final : public TokenCredential {
 public:
  // `grant` is never null; `clock` is never null and outlives the credential. With
  // options.background_refresh, starts the refresher, which requests the first token at once.
  CachingTokenCredential(std::unique_ptr<TokenGrant> grant, CachingOptions options,
                         const common::Clock* clock);
  // Stops the refresher (if any): wakes it and joins it. No GetToken may still be running.
  ~CachingTokenCredential() override;

  CachingTokenCredential(const CachingTokenCredential&) = delete;
  CachingTokenCredential& operator=(const CachingTokenCredential&) = delete;

  absl::StatusOr<AccessToken> GetToken(absl::Time deadline) override;
  // See "Graph refusing tokens" above. A drop also wakes the refresher, which fetches a new
  // token at once (unless its own backoff after failed token requests is running).
  Invalidation Invalidate(const std::string& token) override;
  void Accepted(const std::string& token) override;

 private:
  struct CachedToken {
    AccessToken token;
    absl::Time refresh_on;    // fresh while now < refresh_on
    absl::Time usable_until;  // handed out while now < usable_until
    // Fetched because Invalidate dropped the token before it, and not yet accepted by Graph
    // nor refused: a refusal of it starts (or lengthens) the back-off.
    bool replacement = false;
  };

  // Under mu_, what a caller does first: a result when it is done (a fresh or, with the
  // refresher, usable token, the old one during a proactive refresh, another fetch's shared
  // result, or its deadline passing), or nullopt when it must fetch itself (fetching_ is then
  // set, *proactive says whether a usable token is being replaced and *fallback holds it).
  std::optional<absl::StatusOr<AccessToken>> Admit(absl::Time deadline, bool* proactive,
                                                   std::optional<CachedToken>* fallback)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // A token from the grant, outside the lock. With `retry`, transient failures are tried again
  // under retry_ within `deadline`, and the last attempt's error is returned. The error keeps
  // the grant's transient mark (Publish removes it).
  absl::StatusOr<CachedToken> Fetch(absl::Time deadline, bool retry) ABSL_LOCKS_EXCLUDED(mu_);

  // Which failed fetches' errors waiters take as their own (a token is always shared).
  enum class Sharing {
    kNone,            // a proactive refresh: waiters look again
    kAllButDeadline,  // a caller's fetch: all but running out of that caller's time
    kPermanent,       // the refresher's one attempt: only errors that trying again won't cure
  };

  // Under mu_, ends the fetch in flight with `fetched` (caching a token, or noting a refused
  // credential) and wakes everyone waiting. Returns what the fetch's caller gets, without the
  // grant's transient mark.
  absl::StatusOr<AccessToken> Publish(absl::StatusOr<CachedToken> fetched, Sharing sharing)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // The background refresher's thread.
  void RefreshLoop() ABSL_LOCKS_EXCLUDED(mu_);
  // Whether a usable token is held at `now`, as the observer is told.
  bool Usable(absl::Time now) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Under mu_, after any change to the refusal state: whether Accepted has anything to end.
  void UpdateRefusalWatch() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::unique_ptr<TokenGrant> grant_;
  const absl::Duration refresh_margin_;
  const common::Clock* const clock_;
  const RetryPolicy retry_;
  const RetryPolicy refresh_backoff_;  // the refresher's waits after failed attempts
  const bool background_refresh_;
  const std::shared_ptr<CredentialObserver> observer_;

  common::Mutex mu_;
  // Signalled when a fetch completes, and to wake the refresher (stop, Invalidate).
  common::CondVar fetched_{&mu_};
  std::optional<CachedToken> cached_ ABSL_GUARDED_BY(mu_);
  bool fetching_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;  // completed fetches
  absl::StatusOr<AccessToken> last_result_ ABSL_GUARDED_BY(mu_);  // of the last completed fetch
  // Whether waiters on that fetch take last_result_ as their own.
  bool last_result_shared_ ABSL_GUARDED_BY(mu_) = false;
  // No proactive refresh starts before this (one per kProactiveRefreshInterval).
  absl::Time next_proactive_refresh_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  // The last fetch failed with CREDENTIALS_REJECTED (cleared by a token).
  bool rejected_ ABSL_GUARDED_BY(mu_) = false;
  // The refresher's next attempt is not before this (its backoff after a failure).
  absl::Time retry_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int refresh_failures_ ABSL_GUARDED_BY(mu_) = 0;  // the refresher's, since the last token
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Graph refusing tokens (see the file comment). Invalidate dropped the cached token: the next
  // token fetched is a replacement.
  bool replacing_ ABSL_GUARDED_BY(mu_) = false;
  // Replacements refused in a row (each starts a window twice as long, up to the cap), and the
  // current window: while now < refused_until_, Invalidate keeps the cached token.
  int refusals_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time refused_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Duration refused_backoff_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
  // Whether Accepted may have something to end (replacing_, a replacement cached, or
  // refusals_): read without mu_ so that Accepted costs one load on every Graph answer.
  // Written only under mu_.
  std::atomic<bool> watching_refusals_{false};

  std::thread refresher_;  // last: started once everything above is set up
};

}  // namespace rollcall::graph
