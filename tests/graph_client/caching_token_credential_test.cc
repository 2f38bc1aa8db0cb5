// The machinery every credential shares, over a scripted TokenGrant: what a new grant (a
// certificate, a workload identity) gets without writing any of it.

#include "graph_client/caching_token_credential.h"

#include <memory>
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

// Answers each Request with the next scripted result; "token-N" tokens living `lifetime`.
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
    if (!failures_.empty()) {
      absl::Status failure = failures_.front();
      failures_.erase(failures_.begin());
      return failure;
    }
    return AccessToken{absl::StrCat("token-", requests_), clock_->Now() + lifetime_};
  }

  void FailNext(absl::Status status) {
    common::MutexLock lock(&mu_);
    failures_.push_back(std::move(status));
  }
  void HoldWith(Notification* hold) {
    common::MutexLock lock(&mu_);
    hold_ = hold;
  }
  int requests() const {
    common::MutexLock lock(&mu_);
    return requests_;
  }

 private:
  const common::Clock* const clock_;
  const absl::Duration lifetime_;
  mutable common::Mutex mu_;
  int requests_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<absl::Status> failures_ ABSL_GUARDED_BY(mu_);
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

}  // namespace
}  // namespace rollcall::graph
