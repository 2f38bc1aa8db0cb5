// The machinery every credential shares, over a scripted TokenGrant: what a new grant (a
// certificate, a workload identity) gets without writing any of it.

#include "graph_client/caching_token_credential.h"

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/error_details.h"
#include "common/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/graph_examples.h"
#include "tests/testing/status_details.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/notification.h"

namespace rollcall::graph {
namespace {

using ::rollcall::testing::FakeClock;
using ::rollcall::testing::Notification;
using ::testing::ElementsAre;

// Answers each Request with the next scripted result (or, while down, its failure); "token-N"
// tokens living `lifetime`.
class ScriptedGrant final : public TokenGrant {
 public:
  ScriptedGrant(const common::Clock* clock, absl::Duration lifetime)
      : clock_(clock), lifetime_(lifetime) {}

  absl::StatusOr<AccessToken> Request(absl::Time deadline) override {
    common::MutexLock lock(&mu_);
    ++requests_;
    if (hold_ != nullptr) {
      Notification* hold = hold_;
      mu_.Unlock();
      hold->WaitForNotification();
      mu_.Lock();
    }
    request_times_.push_back(clock_->Now());
    if (!failures_.empty()) {
      absl::Status failure = failures_.front();
      failures_.erase(failures_.begin());
      return failure;
    }
    if (down_.has_value()) return *down_;
    return AccessToken{absl::StrCat("token-", requests_), clock_->Now() + lifetime_};
  }

  void FailNext(absl::Status status) {
    common::MutexLock lock(&mu_);
    failures_.push_back(std::move(status));
  }
  // Every request fails with `failure` until SetDown(std::nullopt).
  void SetDown(std::optional<absl::Status> failure) {
    common::MutexLock lock(&mu_);
    down_ = std::move(failure);
  }
  void HoldWith(Notification* hold) {
    common::MutexLock lock(&mu_);
    hold_ = hold;
  }
  int requests() const {
    common::MutexLock lock(&mu_);
    return requests_;
  }
  // When each request was made, on the clock.
  std::vector<absl::Time> request_times() const {
    common::MutexLock lock(&mu_);
    return request_times_;
  }

 private:
  const common::Clock* const clock_;
  const absl::Duration lifetime_;
  mutable common::Mutex mu_;
  int requests_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<absl::Status> failures_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Status> down_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Time> request_times_ ABSL_GUARDED_BY(mu_);
  Notification* hold_ ABSL_GUARDED_BY(mu_) = nullptr;
};

absl::Status Throttled() {
  return MarkTransient(common::MakeError(absl::StatusCode::kUnavailable, "throttled",
                                         {"TOKEN_ENDPOINT_ERROR", {}, absl::Seconds(3)}));
}

class CachingCredentialTest : public ::testing::Test {
 protected:
  std::unique_ptr<CachingTokenCredential> Make(absl::Duration lifetime = absl::Hours(1)) {
    auto grant = std::make_unique<ScriptedGrant>(&clock_, lifetime);
    grant_ = grant.get();
    CachingOptions options;
    options.retry.jitter = [] { return 0.0; };
    return std::make_unique<CachingTokenCredential>(std::move(grant), options, &clock_);
  }

  FakeClock clock_;
  ScriptedGrant* grant_ = nullptr;
};

TEST_F(CachingCredentialTest, CachesUntilTheMarginThenRefreshesAheadOfExpiry) {
  auto credential = Make();
  const absl::Time deadline = clock_.Now() + absl::Hours(2);
  EXPECT_EQ(credential->GetToken(deadline)->token, "token-1");
  clock_.Advance(absl::Minutes(54));
  EXPECT_EQ(credential->GetToken(deadline)->token, "token-1");
  EXPECT_EQ(grant_->requests(), 1);
  clock_.Advance(absl::Minutes(2));  // inside the 5-minute margin: a proactive refresh
  EXPECT_EQ(credential->GetToken(deadline)->token, "token-2");
  EXPECT_EQ(grant_->requests(), 2);
}

TEST_F(CachingCredentialTest, RetriesTransientGrantFailuresAndHidesTheMark) {
  auto credential = Make();
  grant_->FailNext(Throttled());
  grant_->FailNext(Throttled());
  absl::StatusOr<AccessToken> token = credential->GetToken(clock_.Now() + absl::Minutes(1));
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->token, "token-3");
  EXPECT_THAT(clock_.sleeps(), ElementsAre(absl::Seconds(3), absl::Seconds(3)));

  auto other = Make();
  grant_->FailNext(common::MakeError(absl::StatusCode::kFailedPrecondition, "rejected",
                                     {"CREDENTIALS_REJECTED", {}, std::nullopt}));
  EXPECT_EQ(other->GetToken(clock_.Now() + absl::Minutes(1)).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(grant_->requests(), 1);  // not transient: not retried

  auto last = Make();
  for (int i = 0; i < 4; ++i) grant_->FailNext(Throttled());
  absl::Status status = last->GetToken(clock_.Now() + absl::Minutes(1)).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(IsTransient(status));  // the grant's private mark never reaches a caller
  EXPECT_EQ(grant_->requests(), 4);
}

TEST_F(CachingCredentialTest, ConcurrentCallersShareOneGrantRequest) {
  auto credential = Make();
  Notification release;
  grant_->HoldWith(&release);
  const absl::Time deadline = clock_.Now() + absl::Minutes(1);
  absl::StatusOr<AccessToken> first, second;
  std::thread a([&] { first = credential->GetToken(deadline); });
  while (grant_->requests() == 0) std::this_thread::yield();
  std::thread b([&] { second = credential->GetToken(deadline); });
  release.Notify();
  a.join();
  b.join();
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(first->token, "token-1");
  EXPECT_EQ(second->token, "token-1");
  EXPECT_EQ(grant_->requests(), 1);
}

TEST_F(CachingCredentialTest, AtMostOneProactiveRefreshPerThirtySeconds) {
  auto credential = Make();
  const absl::Time deadline = clock_.Now() + absl::Hours(2);
  ASSERT_TRUE(credential->GetToken(deadline).ok());
  clock_.Advance(absl::Minutes(56));
  grant_->FailNext(Throttled());
  // The proactive refresh fails: the old token is still served, and not asked again for 30 s.
  EXPECT_EQ(credential->GetToken(deadline)->token, "token-1");
  EXPECT_EQ(credential->GetToken(deadline)->token, "token-1");
  EXPECT_EQ(grant_->requests(), 2);
  clock_.Advance(absl::Seconds(30));
  EXPECT_EQ(credential->GetToken(deadline)->token, "token-3");
  EXPECT_EQ(grant_->requests(), 3);
}

// ---------------------------------------------------------------------------------------------
// Graph refusing tokens: Invalidate after a 401.

using Outcome = Invalidation::Outcome;

TEST_F(CachingCredentialTest, ARefusedReplacementIsKeptAndNothingIsFetchedPerCall) {
  auto credential = Make();
  const absl::Time deadline = clock_.Now() + absl::Hours(2);
  ASSERT_EQ(credential->GetToken(deadline)->token, "token-1");
  // The first refusal drops the token: one replacement is fetched.
  EXPECT_EQ(credential->Invalidate("token-1").outcome, Outcome::kDropped);
  EXPECT_EQ(credential->Invalidate("token-1").outcome, Outcome::kStale);  // already dropped
  ASSERT_EQ(credential->GetToken(deadline)->token, "token-2");
  EXPECT_EQ(credential->Invalidate("token-1").outcome, Outcome::kStale);  // already replaced

  // Graph refuses the replacement too: it is kept, and 30 s of refusals fetch nothing.
  const absl::Time refused = clock_.Now();
  for (int call = 0; call < 10; ++call) {
    const Invalidation invalidation = credential->Invalidate("token-2");
    EXPECT_EQ(invalidation.outcome, Outcome::kBackingOff) << call;
    EXPECT_EQ(invalidation.backoff_until, refused + absl::Seconds(30)) << call;
    EXPECT_EQ(invalidation.backoff, absl::Seconds(30)) << call;
    EXPECT_EQ(credential->GetToken(deadline)->token, "token-2") << call;
    clock_.Advance(absl::Seconds(2));
  }
  EXPECT_EQ(grant_->requests(), 2);
  EXPECT_TRUE(clock_.sleeps().empty());
}

TEST_F(CachingCredentialTest, EachWindowEndsWithOneFetchAndTheNextWindowIsTwiceAsLong) {
  auto credential = Make(absl::Hours(2));  // no refresh ahead of expiry in these 20 minutes
  const absl::Time deadline = clock_.Now() + absl::Hours(2);
  ASSERT_EQ(credential->GetToken(deadline)->token, "token-1");
  ASSERT_EQ(credential->Invalidate("token-1").outcome, Outcome::kDropped);
  std::string token = credential->GetToken(deadline)->token;  // token-2
  std::vector<absl::Duration> windows;
  for (int round = 0; round < 6; ++round) {
    const Invalidation invalidation = credential->Invalidate(token);
    ASSERT_EQ(invalidation.outcome, Outcome::kBackingOff) << round;
    windows.push_back(invalidation.backoff);
    EXPECT_EQ(invalidation.backoff_until, clock_.Now() + invalidation.backoff) << round;
    // Just before the window ends, a refusal still changes nothing ...
    clock_.Advance(invalidation.backoff - absl::Milliseconds(1));
    EXPECT_EQ(credential->Invalidate(token).outcome, Outcome::kBackingOff) << round;
    EXPECT_EQ(credential->GetToken(deadline)->token, token);
    // ... once it has, the next one drops the token: one more fetch.
    clock_.Advance(absl::Milliseconds(1));
    const int requests = grant_->requests();
    EXPECT_EQ(credential->Invalidate(token).outcome, Outcome::kDropped) << round;
    token = credential->GetToken(deadline)->token;
    EXPECT_EQ(grant_->requests(), requests + 1) << round;
  }
  EXPECT_THAT(windows, ElementsAre(absl::Seconds(30), absl::Minutes(1), absl::Minutes(2),
                                   absl::Minutes(4), absl::Minutes(5), absl::Minutes(5)));
  EXPECT_EQ(token, "token-8");
}

TEST_F(CachingCredentialTest, GraphAcceptingTheTokenEndsTheBackoff) {
  auto credential = Make();
  const absl::Time deadline = clock_.Now() + absl::Hours(2);
  ASSERT_EQ(credential->GetToken(deadline)->token, "token-1");
  ASSERT_EQ(credential->Invalidate("token-1").outcome, Outcome::kDropped);
  ASSERT_EQ(credential->GetToken(deadline)->token, "token-2");
  ASSERT_EQ(credential->Invalidate("token-2").outcome, Outcome::kBackingOff);
  clock_.Advance(absl::Seconds(30));
  ASSERT_EQ(credential->Invalidate("token-2").outcome, Outcome::kDropped);
  ASSERT_EQ(credential->GetToken(deadline)->token, "token-3");
  ASSERT_EQ(credential->Invalidate("token-3").backoff, absl::Minutes(1));  // the second window

  credential->Accepted("token-2");  // an older token says nothing of the cached one
  EXPECT_EQ(credential->Invalidate("token-3").outcome, Outcome::kBackingOff);

  // Graph takes the kept token (a call succeeds): a later 401 on it replaces it at once, and
  // the back-off starts over at 30 s.
  credential->Accepted("token-3");
  EXPECT_EQ(credential->Invalidate("token-3").outcome, Outcome::kDropped);
  ASSERT_EQ(credential->GetToken(deadline)->token, "token-4");
  EXPECT_EQ(credential->Invalidate("token-4").backoff, absl::Seconds(30));
  EXPECT_EQ(grant_->requests(), 4);

  // A replacement Graph accepts is an ordinary token: its first refusal drops it.
  credential->Accepted("token-4");
  EXPECT_EQ(credential->Invalidate("token-4").outcome, Outcome::kDropped);
  ASSERT_EQ(credential->GetToken(deadline)->token, "token-5");
  credential->Accepted("token-5");
  EXPECT_EQ(credential->Invalidate("token-5").outcome, Outcome::kDropped);
  EXPECT_EQ(credential->GetToken(deadline)->token, "token-6");
}

TEST_F(CachingCredentialTest, ATokenFetchedAheadOfExpiryEndsTheBackoff) {
  auto credential = Make();  // 1 h tokens, refreshed 5 minutes early
  const absl::Time deadline = clock_.Now() + absl::Hours(3);
  ASSERT_EQ(credential->GetToken(deadline)->token, "token-1");
  ASSERT_EQ(credential->Invalidate("token-1").outcome, Outcome::kDropped);
  ASSERT_EQ(credential->GetToken(deadline)->token, "token-2");
  ASSERT_EQ(credential->Invalidate("token-2").outcome, Outcome::kBackingOff);
  clock_.Advance(absl::Seconds(30));
  ASSERT_EQ(credential->Invalidate("token-2").outcome, Outcome::kDropped);
  ASSERT_EQ(credential->GetToken(deadline)->token, "token-3");
  ASSERT_EQ(credential->Invalidate("token-3").backoff, absl::Minutes(1));

  // token-3 is kept past its refresh point: the refresh is not a replacement.
  clock_.Advance(absl::Minutes(56));
  ASSERT_EQ(credential->GetToken(deadline)->token, "token-4");
  EXPECT_EQ(credential->Invalidate("token-4").outcome, Outcome::kDropped);
  ASSERT_EQ(credential->GetToken(deadline)->token, "token-5");
  EXPECT_EQ(credential->Invalidate("token-5").backoff, absl::Seconds(30));  // started over
  EXPECT_EQ(grant_->requests(), 5);
}

TEST_F(CachingCredentialTest, ARefusalAfterAFailedReplacementFetchStillCountsTheReplacement) {
  auto credential = Make();
  const absl::Time deadline = clock_.Now() + absl::Minutes(1);
  ASSERT_EQ(credential->GetToken(deadline)->token, "token-1");
  ASSERT_EQ(credential->Invalidate("token-1").outcome, Outcome::kDropped);
  grant_->FailNext(common::MakeError(absl::StatusCode::kFailedPrecondition, "AADSTS7000215",
                                     {"CREDENTIALS_REJECTED", {}, std::nullopt}));
  EXPECT_EQ(credential->GetToken(deadline).status().code(),
            absl::StatusCode::kFailedPrecondition);
  // The token that finally comes is still the replacement of a refused one.
  ASSERT_EQ(credential->GetToken(deadline)->token, "token-3");
  EXPECT_EQ(credential->Invalidate("token-3").outcome, Outcome::kBackingOff);
}

// ---------------------------------------------------------------------------------------------
// The background refresher.

absl::Status Down() {
  return MarkTransient(common::MakeError(absl::StatusCode::kUnavailable, "HTTP 503",
                                         {"TOKEN_ENDPOINT_ERROR", {}, std::nullopt}));
}

absl::Status Rejected() {
  return common::MakeError(absl::StatusCode::kFailedPrecondition, "AADSTS7000215",
                           {"CREDENTIALS_REJECTED", {}, std::nullopt});
}

// The fake clock, watching who waits on it: AwaitIdle returns once a thread (the refresher)
// waits for a time still ahead, i.e. has done everything that was due by now. Tests move the
// clock, then AwaitIdle, instead of sleeping.
class WatchedClock final : public common::Clock {
 public:
  explicit WatchedClock(FakeClock* clock) : clock_(clock) {}
  absl::Time Now() const override { return clock_->Now(); }
  void SleepUntil(absl::Time until) const override { clock_->SleepUntil(until); }
  void WaitUntil(common::CondVar* cv, absl::Time deadline) const override {
    {
      common::MutexLock lock(&mu_);
      waiting_[std::this_thread::get_id()] = deadline;
      changed_.SignalAll();
    }
    clock_->WaitUntil(cv, deadline);
    common::MutexLock lock(&mu_);
    waiting_.erase(std::this_thread::get_id());
    changed_.SignalAll();
  }
  void AwaitIdle() const {
    common::MutexLock lock(&mu_);
    for (;;) {
      const absl::Time now = clock_->Now();
      for (const auto& [thread, deadline] : waiting_) {
        if (deadline > now) return;
      }
      changed_.Wait();
    }
  }

 private:
  FakeClock* const clock_;
  mutable common::Mutex mu_;
  mutable common::CondVar changed_{&mu_};
  mutable std::map<std::thread::id, absl::Time> waiting_ ABSL_GUARDED_BY(mu_);
};

class RecordingObserver final : public CredentialObserver {
 public:
  void OnTokenUsable(bool usable) override {
    common::MutexLock lock(&mu_);
    calls_.push_back(usable);
  }
  std::vector<bool> calls() const {
    common::MutexLock lock(&mu_);
    return calls_;
  }

 private:
  mutable common::Mutex mu_;
  std::vector<bool> calls_ ABSL_GUARDED_BY(mu_);
};

class BackgroundRefreshTest : public ::testing::Test {
 protected:
  // A credential with the refresher on; `setup` scripts the grant before the refresher starts.
  std::unique_ptr<CachingTokenCredential> Start(
      absl::Duration lifetime = absl::Hours(1),
      const std::function<void(ScriptedGrant*)>& setup = nullptr) {
    auto grant = std::make_unique<ScriptedGrant>(&clock_, lifetime);
    grant_ = grant.get();
    if (setup) setup(grant_);
    CachingOptions options;
    options.retry.jitter = [] { return 0.0; };  // backoffs are exactly half their step
    options.background_refresh = true;
    options.observer = observer_;
    return std::make_unique<CachingTokenCredential>(std::move(grant), options, &watched_);
  }

  // Moves the clock `step` at a time until `total` has passed, letting the refresher do what
  // is due after each step, then runs `each`.
  void Walk(absl::Duration total, absl::Duration step, const std::function<void()>& each) {
    for (absl::Duration walked; walked < total; walked += step) {
      clock_.Advance(step);
      watched_.AwaitIdle();
      if (each) each();
    }
  }

  // The token a caller without a moment to spare gets: only ever a cached one.
  absl::StatusOr<AccessToken> Now(CachingTokenCredential& credential) {
    return credential.GetToken(clock_.Now());
  }

  FakeClock clock_;
  WatchedClock watched_{&clock_};
  std::shared_ptr<RecordingObserver> observer_ = std::make_shared<RecordingObserver>();
  ScriptedGrant* grant_ = nullptr;
};

TEST_F(BackgroundRefreshTest, TheFirstTokenIsFetchedAtStartWithoutACaller) {
  auto credential = Start();
  watched_.AwaitIdle();
  EXPECT_EQ(grant_->requests(), 1);
  EXPECT_THAT(observer_->calls(), ElementsAre(true));
  absl::StatusOr<AccessToken> token = Now(*credential);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->token, "token-1");
  EXPECT_EQ(grant_->requests(), 1);
}

TEST_F(BackgroundRefreshTest, ThreeSecondTokensAreRefreshedAtHalfLifeAndNobodyWaits) {
  auto credential = Start(absl::Seconds(3));
  watched_.AwaitIdle();
  const absl::Time start = clock_.Now();
  int served = 0;
  Walk(absl::Minutes(10), absl::Milliseconds(100), [&] {
    // A caller out of time is always served, and never by a request of its own.
    absl::StatusOr<AccessToken> token = Now(*credential);
    ASSERT_TRUE(token.ok()) << token.status() << " at " << (clock_.Now() - start);
    EXPECT_GT(token->expires_on, clock_.Now());
    ++served;
  });
  EXPECT_EQ(served, 6000);
  // One request every 1.5 s: at start, then 400 refreshes in 10 minutes.
  const std::vector<absl::Time> times = grant_->request_times();
  ASSERT_EQ(times.size(), 401u);
  for (std::size_t i = 1; i < times.size(); ++i) {
    EXPECT_EQ(times[i] - times[i - 1], absl::Milliseconds(1500)) << i;
  }
  EXPECT_THAT(observer_->calls(), ElementsAre(true));
  EXPECT_TRUE(clock_.sleeps().empty());  // nobody slept on the clock
}

TEST_F(BackgroundRefreshTest, FailedRefreshesKeepTheOldTokenAndBackOff) {
  auto credential = Start();  // refreshed at 55 minutes
  watched_.AwaitIdle();
  const absl::Time start = clock_.Now();
  grant_->SetDown(Down());
  clock_.Advance(absl::Minutes(55));
  watched_.AwaitIdle();
  Walk(absl::Minutes(1), absl::Milliseconds(100), [&] {
    absl::StatusOr<AccessToken> token = Now(*credential);
    ASSERT_TRUE(token.ok()) << token.status();
    EXPECT_EQ(token->token, "token-1");
  });
  // Attempts 0.5, 1, 2, 4, 8, 15, 15 s apart (jitter 0: half of 1 s doubling to 30 s).
  std::vector<absl::Duration> gaps;
  const std::vector<absl::Time> times = grant_->request_times();
  ASSERT_EQ(times.size(), 9u);
  EXPECT_EQ(times[1], start + absl::Minutes(55));
  for (std::size_t i = 2; i < times.size(); ++i) gaps.push_back(times[i] - times[i - 1]);
  EXPECT_THAT(gaps, ElementsAre(absl::Milliseconds(500), absl::Seconds(1), absl::Seconds(2),
                                absl::Seconds(4), absl::Seconds(8), absl::Seconds(15),
                                absl::Seconds(15)));
  EXPECT_THAT(observer_->calls(), ElementsAre(true));  // the old token was usable throughout

  // The endpoint is back: the next attempt (15 s after the last) gets a new token.
  grant_->SetDown(std::nullopt);
  Walk(absl::Seconds(15), absl::Milliseconds(500), nullptr);
  EXPECT_EQ(grant_->requests(), 10);
  EXPECT_EQ(Now(*credential)->token, "token-10");
  EXPECT_THAT(observer_->calls(), ElementsAre(true));
  EXPECT_TRUE(clock_.sleeps().empty());
}

TEST_F(BackgroundRefreshTest, ARetryAfterIsHonouredUpToThirtySeconds) {
  auto credential = Start();
  watched_.AwaitIdle();
  grant_->FailNext(Throttled());  // Retry-After: 3 s
  grant_->FailNext(MarkTransient(common::MakeError(
      absl::StatusCode::kUnavailable, "throttled", {"TOKEN_ENDPOINT_ERROR", {}, absl::Hours(1)})));
  clock_.Advance(absl::Minutes(55));
  watched_.AwaitIdle();
  Walk(absl::Minutes(1), absl::Seconds(1), nullptr);
  const std::vector<absl::Time> times = grant_->request_times();
  ASSERT_EQ(times.size(), 4u);
  EXPECT_EQ(times[2] - times[1], absl::Seconds(3));
  EXPECT_EQ(times[3] - times[2], absl::Seconds(30));
  EXPECT_EQ(Now(*credential)->token, "token-4");
}

TEST_F(BackgroundRefreshTest, AnExpiredTokenIsUnusableUntilTheEndpointRecovers) {
  // 60 s tokens: refreshed at 30 s, handed out until 50 s.
  auto credential = Start(absl::Seconds(60));
  watched_.AwaitIdle();
  grant_->SetDown(Down());
  Walk(absl::Seconds(50) - absl::Milliseconds(100), absl::Milliseconds(100), [&] {
    EXPECT_EQ(Now(*credential)->token, "token-1");
  });
  EXPECT_THAT(observer_->calls(), ElementsAre(true));

  clock_.Advance(absl::Milliseconds(100));  // 50 s: the token is no longer usable
  watched_.AwaitIdle();
  EXPECT_THAT(observer_->calls(), ElementsAre(true, false));
  // A caller without time to fetch gets DEADLINE_EXCEEDED, and sends no request.
  const int requests = grant_->requests();
  EXPECT_EQ(Now(*credential).status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(grant_->requests(), requests);
  // Attempts at 30, 30.5, 31.5, 33.5, 37.5, 45.5 and (not past the token's use) 50 s.
  EXPECT_EQ(requests, 1 + 7);

  grant_->SetDown(std::nullopt);
  Walk(absl::Seconds(15), absl::Milliseconds(100), nullptr);  // the next attempt, at 65 s
  EXPECT_THAT(observer_->calls(), ElementsAre(true, false, true));
  EXPECT_EQ(Now(*credential)->token, "token-9");
}

TEST_F(BackgroundRefreshTest, ARejectedCredentialIsUnusableThoughItsTokenIsStillServed) {
  auto credential = Start();
  watched_.AwaitIdle();
  grant_->FailNext(Rejected());  // say, the secret was rotated
  clock_.Advance(absl::Minutes(55));
  watched_.AwaitIdle();
  EXPECT_THAT(observer_->calls(), ElementsAre(true, false));
  EXPECT_EQ(Now(*credential)->token, "token-1");  // Graph still accepts it

  clock_.Advance(absl::Milliseconds(500));  // the backoff: now the endpoint accepts it again
  watched_.AwaitIdle();
  EXPECT_THAT(observer_->calls(), ElementsAre(true, false, true));
  EXPECT_EQ(Now(*credential)->token, "token-3");
}

TEST_F(BackgroundRefreshTest, CallersWithoutATokenShareTheRefreshersFetch) {
  Notification release;
  auto credential = Start(absl::Hours(1), [&](ScriptedGrant* grant) { grant->HoldWith(&release); });
  while (grant_->requests() == 0) std::this_thread::yield();  // the refresher's first request
  absl::StatusOr<AccessToken> first, second;
  std::thread a([&] { first = credential->GetToken(clock_.Now() + absl::Minutes(1)); });
  std::thread b([&] { second = credential->GetToken(clock_.Now() + absl::Minutes(1)); });
  release.Notify();
  a.join();
  b.join();
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(first->token, "token-1");
  EXPECT_EQ(second->token, "token-1");
  watched_.AwaitIdle();
  EXPECT_EQ(grant_->requests(), 1);
}

TEST_F(BackgroundRefreshTest, InvalidateFetchesANewTokenAtOnceWithoutFlappingReadiness) {
  auto credential = Start();
  watched_.AwaitIdle();
  credential->Invalidate("token-1");  // Graph said 401
  // Woken by Invalidate, not by the clock: wait for its request, then for it to settle.
  while (grant_->requests() < 2) std::this_thread::yield();
  watched_.AwaitIdle();
  EXPECT_EQ(grant_->requests(), 2);
  EXPECT_EQ(Now(*credential)->token, "token-2");
  EXPECT_THAT(observer_->calls(), ElementsAre(true));
}

TEST_F(BackgroundRefreshTest, ConcurrentCallersRefusedTogetherCauseOneReplacement) {
  auto credential = Start();
  watched_.AwaitIdle();
  ASSERT_EQ(grant_->requests(), 1);
  constexpr int kCallers = 10;
  std::vector<Outcome> last(kCallers, Outcome::kDropped);
  std::vector<int> attempts(kCallers, 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < kCallers; ++i) {
    threads.emplace_back([&, i] {
      // As AuthenticatingStub does when Graph refuses every token: a token, a 401, and one
      // repeat with a new token unless the credential backs off.
      for (int attempt = 0; attempt < 2 && last[i] != Outcome::kBackingOff; ++attempt) {
        absl::StatusOr<AccessToken> token = credential->GetToken(clock_.Now() + absl::Minutes(1));
        ASSERT_TRUE(token.ok()) << token.status();
        last[i] = credential->Invalidate(token->token).outcome;
        ++attempts[i];
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  watched_.AwaitIdle();
  // token-1 and its one replacement; every caller ends on the back-off.
  EXPECT_EQ(grant_->requests(), 2);
  for (int i = 0; i < kCallers; ++i) EXPECT_EQ(last[i], Outcome::kBackingOff) << i;
  EXPECT_EQ(Now(*credential)->token, "token-2");
  EXPECT_THAT(observer_->calls(), ElementsAre(true));  // readiness did not flap

  // Once the window has passed, one of them replaces the token once more, the refresher
  // fetching it.
  clock_.Advance(absl::Seconds(30));
  watched_.AwaitIdle();
  EXPECT_EQ(credential->Invalidate("token-2").outcome, Outcome::kDropped);
  absl::StatusOr<AccessToken> token = credential->GetToken(clock_.Now() + absl::Minutes(1));
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->token, "token-3");
  EXPECT_EQ(credential->Invalidate("token-3").backoff, absl::Minutes(1));
  watched_.AwaitIdle();
  EXPECT_EQ(grant_->requests(), 3);
}

TEST_F(BackgroundRefreshTest, TheDestructorStopsTheRefresherWhileItWaits) {
  // Waiting for a refresh 55 minutes away: the clock does not move, yet it stops.
  auto credential = Start();
  watched_.AwaitIdle();
  credential.reset();

  // Backing off with no token at all.
  credential = Start(absl::Hours(1), [](ScriptedGrant* grant) { grant->SetDown(Down()); });
  watched_.AwaitIdle();
  credential.reset();
  EXPECT_TRUE(observer_->calls() == std::vector<bool>{true});  // the first credential's only

  // Stopped before its first request even ends.
  credential = Start();
  credential.reset();
}

TEST_F(BackgroundRefreshTest, WithoutTheRefresherNothingIsFetchedUntilAsked) {
  auto grant = std::make_unique<ScriptedGrant>(&clock_, absl::Hours(1));
  grant_ = grant.get();
  CachingOptions options;
  options.observer = observer_;
  CachingTokenCredential credential(std::move(grant), options, &clock_);
  EXPECT_EQ(grant_->requests(), 0);
  EXPECT_EQ(credential.GetToken(clock_.Now() + absl::Minutes(1))->token, "token-1");
  EXPECT_TRUE(observer_->calls().empty());  // the observer needs the refresher
}

}  // namespace
}  // namespace rollcall::graph
