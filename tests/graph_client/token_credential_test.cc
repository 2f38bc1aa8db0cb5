// ClientSecretCredential with a scripted transport and a hand-moved clock.

#include "graph_client/token_credential.h"

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "common/error_details.h"
#include "common/mutex.h"
#include "gtest/gtest.h"
#include "tests/testing/graph_examples.h"
#include "tests/testing/status_details.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/fake_http_transport.h"
#include "tests/testing/notification.h"

namespace rollcall::graph {
namespace {

using ::rollcall::testing::FakeClock;
using ::rollcall::testing::FakeHttpTransport;
using ::rollcall::testing::Message;
using ::rollcall::testing::Meta;
using ::rollcall::testing::Notification;
using ::rollcall::testing::ReadExample;
using ::rollcall::testing::Reason;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kSecret[] = "s3cr3t~Value&with=odd+chars %/";

std::string TokenBody(const std::string& token, int expires_in) {
  return R"({"token_type":"Bearer","expires_in":)" + std::to_string(expires_in) +
         R"(,"access_token":")" + token + "\"}";
}

class CredentialTest : public ::testing::Test {
 protected:
  TokenCredentialConfig Options() const {
    TokenCredentialConfig options;
    options.tenant_id = "contoso.onmicrosoft.com";
    options.client_id = "00001111-aaaa-2222-bbbb-3333cccc4444";
    options.client_secret = kSecret;
    options.retry.jitter = [] { return 0.0; };  // waits are exactly half the backoff step
    // These tests drive refreshes through GetToken: the background refresher would send token
    // requests of its own (caching_token_credential_test.cc tests it).
    options.background_refresh = false;
    return options;
  }

  // A credential that makes one attempt per token request: for tests of error mapping.
  std::unique_ptr<TokenCredential> MakeWithoutRetries() {
    auto options = Options();
    options.retry.max_attempts = 1;
    return Make(options);
  }

  std::unique_ptr<TokenCredential> Make(const TokenCredentialConfig& options) {
    auto credential = MakeTokenCredential(options, transport_, &clock_);
    EXPECT_TRUE(credential.ok()) << credential.status();
    return credential.ok() ? *std::move(credential) : nullptr;
  }
  std::unique_ptr<TokenCredential> Make() { return Make(Options()); }

  absl::Time Later() const { return clock_.Now() + absl::Minutes(1); }

  // No status a credential returns may carry the secret.
  static void ExpectNoSecret(const absl::Status& status) {
    EXPECT_THAT(Message(status), Not(HasSubstr(kSecret)));
    EXPECT_THAT(Message(status), Not(HasSubstr("s3cr3t")));
    for (const auto& [key, value] : common::GetErrorDetails(status).metadata) {
      EXPECT_THAT(value, Not(HasSubstr("s3cr3t"))) << key;
    }
  }

  FakeClock clock_;
  std::shared_ptr<FakeHttpTransport> transport_ = std::make_shared<FakeHttpTransport>();
};

// ---------------------------------------------------------------------------------------------
// Configuration and the request.

TEST_F(CredentialTest, MissingSettingsNameTheVariables) {
  struct Case {
    std::string tenant, client, secret;
    std::vector<std::string> named;
  };
  for (const Case& c : std::vector<Case>{
           {"", "c", "s", {"AZURE_TENANT_ID"}},
           {"t", "", "s", {"AZURE_CLIENT_ID"}},
           {"t", "c", "", {"AZURE_CLIENT_SECRET"}},
           {"", "", "", {"AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"}}}) {
    TokenCredentialConfig options;
    options.tenant_id = c.tenant;
    options.client_id = c.client;
    options.client_secret = c.secret;
    auto credential = MakeTokenCredential(options, transport_, &clock_);
    ASSERT_EQ(credential.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(Reason(credential.status()), "CREDENTIALS_MISSING");
    for (const std::string& name : c.named) {
      EXPECT_THAT(Message(credential.status()), HasSubstr(name));
    }
  }
  EXPECT_EQ(transport_->request_count(), 0u);
}

TEST_F(CredentialTest, PostsTheFormToTheTenantsTokenEndpoint) {
  for (const char* authority : {"https://login.microsoftonline.com/",
                                "https://login.microsoftonline.com",
                                "https://login.microsoftonline.com//"}) {
    SCOPED_TRACE(authority);
    auto options = Options();
    options.authority_host = authority;
    auto credential = Make(options);
    transport_->Enqueue(FakeHttpTransport::Json(200, TokenBody("t", 3600)));
    ASSERT_TRUE(credential->GetToken(Later()).ok());
    const HttpRequest request = transport_->requests().back();
    EXPECT_EQ(request.method, "POST");
    EXPECT_EQ(request.url,
              "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token");
    EXPECT_EQ(FakeHttpTransport::HeaderOf(request, "content-type"),
              "application/x-www-form-urlencoded");
    EXPECT_EQ(request.deadline, Later());
    const std::vector<std::string> fields = absl::StrSplit(request.body, '&');
    EXPECT_THAT(fields, ::testing::ElementsAre(
                            "client_id=00001111-aaaa-2222-bbbb-3333cccc4444",
                            "scope=https%3A%2F%2Fgraph.microsoft.com%2F.default",
                            "client_secret=s3cr3t~Value%26with%3Dodd%2Bchars%20%25%2F",
                            "grant_type=client_credentials"));
  }
}

TEST_F(CredentialTest, TokenRequestsAreReportedToTheObserver) {
  class Recorder final : public GraphCallObserver {
   public:
    void OnGraphCall(const GraphCallRecord& record) override {
      common::MutexLock lock(&mu_);
      calls.emplace_back(std::string(record.endpoint), record.http_status, record.latency);
    }
    std::vector<std::tuple<std::string, long, absl::Duration>> Calls() {
      common::MutexLock lock(&mu_);
      return calls;
    }

   private:
    common::Mutex mu_;
    std::vector<std::tuple<std::string, long, absl::Duration>> calls ABSL_GUARDED_BY(mu_);
  };
  auto recorder = std::make_shared<Recorder>();
  auto options = Options();
  options.observer = recorder;
  options.retry.max_attempts = 1;
  auto credential = Make(options);
  transport_->Enqueue(FakeHttpTransport::Json(503, "{}"));
  transport_->SetHandler([this](const HttpRequest&) -> absl::StatusOr<HttpResponse> {
    clock_.Advance(absl::Milliseconds(120));
    return FakeHttpTransport::Json(200, TokenBody("t", 3600));
  });
  EXPECT_FALSE(credential->GetToken(Later()).ok());
  ASSERT_TRUE(credential->GetToken(Later()).ok());
  using Call = std::tuple<std::string, long, absl::Duration>;
  EXPECT_EQ(recorder->Calls(), (std::vector<Call>{{"token", 503, absl::ZeroDuration()},
                                                  {"token", 200, absl::Milliseconds(120)}}));
}

TEST_F(CredentialTest, TenantIsOnePathSegment) {
  auto options = Options();
  options.tenant_id = "../evil?x#";
  auto credential = Make(options);
  transport_->Enqueue(FakeHttpTransport::Json(200, TokenBody("t", 3600)));
  ASSERT_TRUE(credential->GetToken(Later()).ok());
  EXPECT_EQ(transport_->requests()[0].url,
            "https://login.microsoftonline.com/..%2Fevil%3Fx%23/oauth2/v2.0/token");
}

// ---------------------------------------------------------------------------------------------
// Caching and refresh.

TEST_F(CredentialTest, ReusesTheTokenUntilTheMarginThenRefreshes) {
  auto credential = Make();  // refresh_margin 5 minutes
  transport_->Enqueue(FakeHttpTransport::Json(200, TokenBody("first", 3600)));
  transport_->Enqueue(FakeHttpTransport::Json(200, TokenBody("second", 3600)));
  const absl::Time start = clock_.Now();

  absl::StatusOr<AccessToken> token = credential->GetToken(Later());
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->token, "first");
  EXPECT_EQ(token->expires_on, start + absl::Hours(1));

  clock_.Advance(absl::Minutes(55) - absl::Seconds(1));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(credential->GetToken(Later())->token, "first");
  EXPECT_EQ(transport_->request_count(), 1u);

  clock_.Advance(absl::Seconds(1));  // exactly expires_on - margin: no longer fresh
  token = credential->GetToken(Later());
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->token, "second");
  EXPECT_EQ(transport_->request_count(), 2u);
  EXPECT_EQ(credential->GetToken(Later())->token, "second");
  EXPECT_EQ(transport_->request_count(), 2u);
}

TEST_F(CredentialTest, ShortLifetimesAreNotAlwaysStale) {
  auto credential = Make();  // a 5-minute margin against a 60 s token: clamped to 30 s
  transport_->Enqueue(FakeHttpTransport::Json(200, TokenBody("short", 60)));
  transport_->Enqueue(FakeHttpTransport::Json(200, TokenBody("next", 60)));
  EXPECT_EQ(credential->GetToken(Later())->token, "short");
  EXPECT_EQ(credential->GetToken(Later())->token, "short");
  clock_.Advance(absl::Seconds(29));
  EXPECT_EQ(credential->GetToken(Later())->token, "short");
  EXPECT_EQ(transport_->request_count(), 1u);
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(credential->GetToken(Later())->token, "next");
}

TEST_F(CredentialTest, RefreshInBringsTheRefreshForward) {
  auto credential = Make();
  transport_->Enqueue(FakeHttpTransport::Json(
      200, R"({"access_token":"long","expires_in":86399,"refresh_in":600})"));
  transport_->Enqueue(FakeHttpTransport::Json(200, TokenBody("renewed", 3600)));
  EXPECT_EQ(credential->GetToken(Later())->token, "long");
  clock_.Advance(absl::Seconds(599));
  EXPECT_EQ(credential->GetToken(Later())->token, "long");
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(credential->GetToken(Later())->token, "renewed");
}

TEST_F(CredentialTest, InvalidateDropsOnlyTheCachedToken) {
  auto credential = Make();
  transport_->Enqueue(FakeHttpTransport::Json(200, TokenBody("first", 3600)));
  transport_->Enqueue(FakeHttpTransport::Json(200, TokenBody("second", 3600)));
  EXPECT_EQ(credential->GetToken(Later())->token, "first");
  credential->Invalidate("some-older-token");
  EXPECT_EQ(credential->GetToken(Later())->token, "first");
  credential->Invalidate("first");
  EXPECT_EQ(credential->GetToken(Later())->token, "second");
  EXPECT_EQ(transport_->request_count(), 2u);
}

TEST_F(CredentialTest, ErrorsAreNotCached) {
  auto credential = MakeWithoutRetries();
  transport_->Enqueue(FakeHttpTransport::Json(503, "{}"));
  transport_->Enqueue(FakeHttpTransport::Json(200, TokenBody("t", 3600)));
  EXPECT_EQ(credential->GetToken(Later()).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(credential->GetToken(Later())->token, "t");
}

TEST_F(CredentialTest, ByDefaultTheFirstTokenIsFetchedInTheBackground) {
  class Ready final : public CredentialObserver {
   public:
    void OnTokenUsable(bool usable) override {
      if (usable) ready.Notify();
    }
    Notification ready;
  };
  auto observer = std::make_shared<Ready>();
  TokenCredentialConfig options = Options();
  options.background_refresh = TokenCredentialConfig().background_refresh;  // the default: on
  options.credential_observer = observer;
  transport_->Enqueue(FakeHttpTransport::Json(200, TokenBody("early", 3600)));
  auto credential = Make(options);
  observer->ready.WaitForNotification();  // no caller asked
  EXPECT_EQ(transport_->request_count(), 1u);
  // Even a caller out of time gets it.
  EXPECT_EQ(credential->GetToken(clock_.Now())->token, "early");
  EXPECT_EQ(transport_->request_count(), 1u);
}

// ---------------------------------------------------------------------------------------------
// Deadlines and single flight.

TEST_F(CredentialTest, PastDeadlineWithoutATokenMakesNoRequest) {
  auto credential = Make();
  absl::StatusOr<AccessToken> token = credential->GetToken(clock_.Now());
  EXPECT_EQ(token.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(transport_->request_count(), 0u);

  // A fresh cached token is returned whatever the deadline.
  transport_->Enqueue(FakeHttpTransport::Json(200, TokenBody("t", 3600)));
  ASSERT_TRUE(credential->GetToken(Later()).ok());
  EXPECT_EQ(credential->GetToken(clock_.Now() - absl::Seconds(1))->token, "t");
}

// Holds every token request until `arrivals` callers have arrived, then answers with `reply`.
class ArrivalGate {
 public:
  explicit ArrivalGate(int arrivals) : expected_(arrivals) {}
  void Arrive() {
    common::MutexLock lock(&mu_);
    ++arrived_;
    cv_.SignalAll();
  }
  void WaitForAll() {
    common::MutexLock lock(&mu_);
    while (arrived_ < expected_) cv_.Wait();
  }

 private:
  common::Mutex mu_;
  common::CondVar cv_{&mu_};
  int arrived_ ABSL_GUARDED_BY(mu_) = 0;
  const int expected_;
};

TEST_F(CredentialTest, FiftyConcurrentCallersMakeOneRequest) {
  constexpr int kCallers = 50;
  auto credential = Make();
  ArrivalGate gate(kCallers);
  transport_->SetHandler([&](const HttpRequest&) -> absl::StatusOr<HttpResponse> {
    gate.WaitForAll();  // every caller has called GetToken (or is about to) before we answer
    return FakeHttpTransport::Json(200, TokenBody("shared", 3600));
  });

  std::vector<absl::StatusOr<AccessToken>> results(kCallers);
  std::vector<std::thread> threads;
  for (int i = 0; i < kCallers; ++i) {
    threads.emplace_back([&, i] {
      gate.Arrive();
      results[i] = credential->GetToken(clock_.Now() + absl::Hours(1));
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(transport_->request_count(), 1u);
  for (const auto& result : results) {
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->token, "shared");
  }
}

// The fake clock, counting the distinct threads that wait on it for another caller's fetch:
// a test holds the fetch until every other caller is waiting for it.
class WaiterCountingClock final : public common::Clock {
 public:
  explicit WaiterCountingClock(FakeClock* clock) : clock_(clock) {}
  absl::Time Now() const override { return clock_->Now(); }
  void SleepUntil(absl::Time until) const override { clock_->SleepUntil(until); }
  // The caller holds the credential's mutex (cv's) from here until the wait lets go of it, so
  // the fetch cannot publish its result before this waiter is really waiting.
  void WaitUntil(common::CondVar* cv, absl::Time deadline) const override {
    {
      common::MutexLock lock(&mu_);
      waiters_.insert(std::this_thread::get_id());
      changed_.SignalAll();
    }
    clock_->WaitUntil(cv, deadline);
  }
  void AwaitWaiters(std::size_t n) const {
    common::MutexLock lock(&mu_);
    while (waiters_.size() < n) changed_.Wait();
  }

 private:
  FakeClock* const clock_;
  mutable common::Mutex mu_;
  mutable common::CondVar changed_{&mu_};
  mutable std::set<std::thread::id> waiters_ ABSL_GUARDED_BY(mu_);
};

TEST_F(CredentialTest, ConcurrentCallersShareTheFetchError) {
  constexpr int kCallers = 50;
  WaiterCountingClock clock(&clock_);
  TokenCredentialConfig options = Options();
  options.retry.max_attempts = 1;  // one fetch is one request
  auto made = MakeTokenCredential(options, transport_, &clock);
  ASSERT_TRUE(made.ok()) << made.status();
  std::unique_ptr<TokenCredential> credential = *std::move(made);
  // The one fetch is answered only once the other 49 callers all wait for it: none can come
  // late, after the failure, and start a fetch of its own.
  transport_->SetHandler([&](const HttpRequest&) -> absl::StatusOr<HttpResponse> {
    clock.AwaitWaiters(kCallers - 1);
    return FakeHttpTransport::Json(500, "{}");
  });
  std::vector<absl::Status> results(kCallers);
  std::vector<std::thread> threads;
  for (int i = 0; i < kCallers; ++i) {
    threads.emplace_back(
        [&, i] { results[i] = credential->GetToken(clock_.Now() + absl::Hours(1)).status(); });
  }
  for (auto& t : threads) t.join();
  for (const auto& status : results) {
    EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(Reason(status), "TOKEN_ENDPOINT_ERROR");
  }
  // Without single flight every caller would send its own request: 50.
  EXPECT_EQ(transport_->request_count(), 1u);
}

// The fake clock, telling a test when a caller starts waiting on it for another's refresh.
class WaitReportingClock final : public common::Clock {
 public:
  explicit WaitReportingClock(FakeClock* clock) : clock_(clock) {}
  absl::Time Now() const override { return clock_->Now(); }
  void SleepUntil(absl::Time until) const override { clock_->SleepUntil(until); }
  void WaitUntil(common::CondVar* cv, absl::Time deadline) const override {
    waiting_.Notify();
    clock_->WaitUntil(cv, deadline);
  }
  Notification& waiting() const { return waiting_; }

 private:
  FakeClock* const clock_;
  mutable Notification waiting_;
};

TEST_F(CredentialTest, WaitersRespectTheirOwnDeadline) {
  WaitReportingClock clock(&clock_);
  auto made = MakeTokenCredential(Options(), transport_, &clock);
  ASSERT_TRUE(made.ok()) << made.status();
  std::unique_ptr<TokenCredential> credential = *std::move(made);
  Notification fetch_started, release_fetch;
  transport_->SetHandler([&](const HttpRequest&) -> absl::StatusOr<HttpResponse> {
    fetch_started.Notify();
    release_fetch.WaitForNotification();
    return FakeHttpTransport::Json(200, TokenBody("slow", 3600));
  });
  absl::StatusOr<AccessToken> fetcher_result;
  std::thread fetcher(
      [&] { fetcher_result = credential->GetToken(clock_.Now() + absl::Hours(1)); });
  fetch_started.WaitForNotification();

  // The fetch is held: a waiter with 50 ms left waits on the clock, and gives up when the
  // clock passes its deadline (whatever the wall clock does).
  const absl::Time waiter_deadline = clock_.Now() + absl::Milliseconds(50);
  absl::StatusOr<AccessToken> waiter;
  std::thread waiting([&] { waiter = credential->GetToken(waiter_deadline); });
  clock.waiting().WaitForNotification();
  clock_.Advance(absl::Milliseconds(50));
  waiting.join();
  EXPECT_EQ(waiter.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(Message(waiter.status()), "the deadline passed while waiting for an access token");

  release_fetch.Notify();
  fetcher.join();
  ASSERT_TRUE(fetcher_result.ok());
  EXPECT_EQ(credential->GetToken(Later())->token, "slow");
  EXPECT_EQ(transport_->request_count(), 1u);
}

TEST_F(CredentialTest, AWaiterOnAFakeClockDecadesFromTheWallClockWaitsForTheFetch) {
  // The clock is far from the wall clock: the wait for another caller's refresh must use it.
  clock_.Set(absl::FromUnixSeconds(4102444800));  // 2100-01-01
  auto credential = Make();
  Notification fetch_started, release_fetch;
  transport_->SetHandler([&](const HttpRequest&) -> absl::StatusOr<HttpResponse> {
    fetch_started.Notify();
    release_fetch.WaitForNotification();
    return FakeHttpTransport::Json(200, TokenBody("future", 3600));
  });
  absl::StatusOr<AccessToken> first, second;
  std::thread fetcher([&] { first = credential->GetToken(clock_.Now() + absl::Seconds(5)); });
  fetch_started.WaitForNotification();
  std::thread waiter([&] { second = credential->GetToken(clock_.Now() + absl::Seconds(5)); });
  release_fetch.Notify();
  fetcher.join();
  waiter.join();
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->token, "future");
  EXPECT_EQ(transport_->request_count(), 1u);
}

TEST_F(CredentialTest, AFetchThatRanOutOfItsCallersTimeDoesNotFailOthers) {
  auto credential = Make();
  Notification fetch_started, release_fetch;
  std::atomic<int> calls{0};
  transport_->SetHandler([&](const HttpRequest&) -> absl::StatusOr<HttpResponse> {
    if (calls.fetch_add(1) == 0) {
      fetch_started.Notify();
      release_fetch.WaitForNotification();
      return absl::DeadlineExceededError("the first caller's deadline passed");
    }
    return FakeHttpTransport::Json(200, TokenBody("second-try", 3600));
  });
  absl::StatusOr<AccessToken> first, second;
  std::thread hurried([&] { first = credential->GetToken(clock_.Now() + absl::Seconds(1)); });
  fetch_started.WaitForNotification();
  std::thread patient([&] { second = credential->GetToken(clock_.Now() + absl::Hours(1)); });
  release_fetch.Notify();
  hurried.join();
  patient.join();
  EXPECT_EQ(first.status().code(), absl::StatusCode::kDeadlineExceeded);
  ASSERT_TRUE(second.ok()) << second.status();  // fetched again rather than inherit the timeout
  EXPECT_EQ(second->token, "second-try");
  EXPECT_EQ(transport_->request_count(), 2u);
}

// ---------------------------------------------------------------------------------------------
// Error mapping.

TEST_F(CredentialTest, SharedTokenErrorExamplesAreRejectedCredentials) {
  for (const char* file : {"identity-token-error-client-credentials.json",
                           "identity-token-error-reference-error-codes.json"}) {
    SCOPED_TRACE(file);
    auto credential = Make();
    transport_->Enqueue(FakeHttpTransport::Json(400, ReadExample(file)));
    absl::Status status = credential->GetToken(Later()).status();
    ASSERT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(Reason(status), "CREDENTIALS_REJECTED");
    EXPECT_EQ(Meta(status, "aadsts_code"), "AADSTS70011");
    EXPECT_EQ(Meta(status, "oauth_error"), "invalid_scope");
    EXPECT_EQ(Meta(status, "http_status"), "400");
    EXPECT_THAT(Message(status), HasSubstr("(invalid_scope, AADSTS70011: The provided value"));
    EXPECT_THAT(Message(status), HasSubstr("Check the scope"));
    EXPECT_THAT(Message(status), Not(HasSubstr("Trace ID")));  // only the first line
    ExpectNoSecret(status);
  }
}

constexpr char kInvalidSecretBody[] = R"({"error":"invalid_client",
  "error_description":"AADSTS7000215: Invalid client secret provided. Ensure the secret being )"
    R"(sent in the request is the client secret value, not the client secret ID, for a secret )"
    R"(added to app '00001111-aaaa-2222-bbbb-3333cccc4444'.\r\nTrace ID: )"
    R"(0000aaaa-11bb-cccc-dd33-eeeeee333333\r\nCorrelation ID: )"
    R"(aaaa0000-bb11-2222-33cc-444444dddddd\r\nTimestamp: 2024-01-01 00:00:00Z",
  "error_codes":[7000215],"timestamp":"2024-01-01 00:00:00Z",
  "trace_id":"0000aaaa-11bb-cccc-dd33-eeeeee333333",
  "correlation_id":"aaaa0000-bb11-2222-33cc-444444dddddd",
  "error_uri":"https://login.microsoftonline.com/error?code=7000215"})";

TEST_F(CredentialTest, InvalidSecretSaysWhatToFixWithoutTheSecret) {
  auto credential = Make();
  transport_->Enqueue(FakeHttpTransport::Json(401, kInvalidSecretBody));
  absl::Status status = credential->GetToken(Later()).status();
  ASSERT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Reason(status), "CREDENTIALS_REJECTED");
  EXPECT_EQ(Meta(status, "aadsts_code"), "AADSTS7000215");
  EXPECT_EQ(Meta(status, "oauth_error"), "invalid_client");
  EXPECT_EQ(Meta(status, "aad_trace_id"), "0000aaaa-11bb-cccc-dd33-eeeeee333333");
  EXPECT_EQ(Meta(status, "aad_correlation_id"), "aaaa0000-bb11-2222-33cc-444444dddddd");
  EXPECT_THAT(Message(status),
              HasSubstr("Microsoft Entra ID rejected the client credentials (invalid_client, "
                        "AADSTS7000215: Invalid client secret provided."));
  EXPECT_THAT(Message(status), HasSubstr("AZURE_CLIENT_SECRET"));
  EXPECT_THAT(Message(status), HasSubstr("not its ID"));
  ExpectNoSecret(status);
}

TEST_F(CredentialTest, AnEchoedSecretIsRedacted) {
  auto credential = Make();
  transport_->Enqueue(FakeHttpTransport::Json(
      401, std::string(R"({"error":"invalid_client",)") +
               R"("error_description":"AADSTS7000215: bad secret )" + kSecret +
               R"( given","error_codes":[7000215]})"));
  absl::Status status = credential->GetToken(Later()).status();
  EXPECT_THAT(Message(status),
              HasSubstr("AADSTS7000215: [the description is withheld: it repeated a credential]"));
  ExpectNoSecret(status);

  // Echoed as sent, form-encoded.
  transport_->Enqueue(FakeHttpTransport::Json(
      401, R"({"error":"invalid_client","error_description":"AADSTS7000215: bad secret )"
           R"(s3cr3t~Value%26with%3Dodd%2Bchars%20%25%2F given","error_codes":[7000215]})"));
  status = credential->GetToken(Later()).status();
  EXPECT_THAT(Message(status),
              HasSubstr("AADSTS7000215: [the description is withheld: it repeated a credential]"));
  EXPECT_THAT(Message(status), Not(HasSubstr("s3cr3t")));
}

// Every field the endpoint sends is screened, in any encoding of the secret: the trace and
// correlation IDs too, which go into the error's details.
TEST_F(CredentialTest, AnEchoedSecretInAnyFieldOrEncodingIsLeftOut) {
  auto credential = Make();
  const std::string secret = kSecret;
  std::string lower_hex;  // every byte as %xx, lower case: no form encoder's choice
  for (unsigned char c : secret) lower_hex += absl::StrFormat("%%%02x", c);
  transport_->Enqueue(FakeHttpTransport::Json(
      401, absl::StrCat(R"({"error":"invalid_client","error_description":"AADSTS7000215: )",
                        lower_hex, R"(","error_codes":[7000215],"trace_id":")", secret,
                        R"(","correlation_id":")", lower_hex, R"("})")));
  const absl::Status status = credential->GetToken(Later()).status();
  EXPECT_THAT(Message(status),
              HasSubstr("AADSTS7000215: [the description is withheld: it repeated a credential]"));
  ExpectNoSecret(status);
  const common::ErrorDetails details = common::GetErrorDetails(status);
  for (const auto& [key, value] : details.metadata) {
    EXPECT_THAT(value, Not(HasSubstr(secret))) << key;
    EXPECT_THAT(value, Not(HasSubstr(lower_hex))) << key;
  }
  EXPECT_EQ(details.metadata.count("aad_trace_id"), 0u);
  EXPECT_EQ(details.metadata.count("aad_correlation_id"), 0u);
  EXPECT_EQ(details.metadata.at("aadsts_code"), "AADSTS7000215");
}

TEST_F(CredentialTest, HintsFollowTheAadstsCode) {
  struct Case {
    int code;
    const char* hint;
  };
  for (const Case& c : {Case{7000222, "AZURE_CLIENT_SECRET"}, Case{700016, "AZURE_CLIENT_ID"},
                        Case{90002, "AZURE_TENANT_ID"}, Case{70011, "scope"},
                        Case{50034, "AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET"}}) {
    SCOPED_TRACE(c.code);
    auto credential = Make();
    transport_->Enqueue(FakeHttpTransport::Json(
        400, R"({"error":"invalid_request","error_description":"AADSTS)" +
                 std::to_string(c.code) + R"(: something","error_codes":[)" +
                 std::to_string(c.code) + "]}"));
    absl::Status status = credential->GetToken(Later()).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(Message(status), HasSubstr(c.hint));
  }
}

TEST_F(CredentialTest, EndpointFailuresAreUnavailable) {
  struct Case {
    absl::StatusOr<HttpResponse> response;
    absl::StatusCode code;
    const char* text;
  };
  std::vector<Case> cases;
  cases.push_back({FakeHttpTransport::Json(500, "{}"), absl::StatusCode::kUnavailable, "HTTP 500"});
  cases.push_back({FakeHttpTransport::Json(503, "<html>down</html>"),
                   absl::StatusCode::kUnavailable, "HTTP 503"});
  cases.push_back({FakeHttpTransport::Json(429, "{}", {{"retry-after", "7"}}),
                   absl::StatusCode::kUnavailable, "HTTP 429"});
  cases.push_back({FakeHttpTransport::Json(
                       400, R"({"error":"temporarily_unavailable","error_description":"x"})"),
                   absl::StatusCode::kUnavailable, "temporarily_unavailable"});
  cases.push_back({FakeHttpTransport::Json(200, "<html>portal</html>"),
                   absl::StatusCode::kUnavailable, "without a valid token response"});
  cases.push_back({FakeHttpTransport::Json(200, R"({"token_type":"Bearer"})"),
                   absl::StatusCode::kUnavailable, "access_token"});
  cases.push_back({absl::UnavailableError("connection refused"), absl::StatusCode::kUnavailable,
                   "connection refused"});
  cases.push_back({absl::ResourceExhaustedError("response body exceeds 10 bytes"),
                   absl::StatusCode::kUnavailable, "exceeds"});
  cases.push_back({absl::DeadlineExceededError("timed out"), absl::StatusCode::kDeadlineExceeded,
                   "timed out"});
  for (auto& c : cases) {
    SCOPED_TRACE(c.text);
    auto credential = MakeWithoutRetries();
    transport_->Enqueue(c.response);
    absl::Status status = credential->GetToken(Later()).status();
    EXPECT_EQ(status.code(), c.code);
    EXPECT_EQ(Reason(status), "TOKEN_ENDPOINT_ERROR");
    EXPECT_THAT(Message(status), HasSubstr(c.text));
    ExpectNoSecret(status);
  }
}

TEST_F(CredentialTest, ThrottledTokenRequestsCarryRetryAfter) {
  auto credential = MakeWithoutRetries();
  transport_->Enqueue(FakeHttpTransport::Json(429, "{}", {{"retry-after", "7"}}));
  absl::Status status = credential->GetToken(Later()).status();
  EXPECT_EQ(common::GetErrorDetails(status).retry_after, absl::Seconds(7));
}

TEST_F(CredentialTest, ANotFoundWithoutOAuthBodyPointsAtTheAuthority) {
  auto credential = Make();
  transport_->Enqueue(FakeHttpTransport::Json(404, "<html>Not Found</html>"));
  absl::Status status = credential->GetToken(Later()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Reason(status), "CREDENTIALS_REJECTED");
  EXPECT_THAT(Message(status), HasSubstr("AZURE_AUTHORITY_HOST"));
}

// ---------------------------------------------------------------------------------------------
// Retries of the token endpoint.

TEST_F(CredentialTest, TransientEndpointFailuresAreRetried) {
  struct Case {
    const char* name;
    absl::StatusOr<HttpResponse> failure;
    absl::Duration wait;
  };
  const std::vector<Case> cases = {
      {"503", FakeHttpTransport::Json(503, "<html>down</html>"), absl::Milliseconds(250)},
      {"500", FakeHttpTransport::Json(500, "{}"), absl::Milliseconds(250)},
      {"429 with Retry-After", FakeHttpTransport::Json(429, "{}", {{"retry-after", "1.5"}}),
       absl::Milliseconds(1500)},
      {"temporarily_unavailable",
       FakeHttpTransport::Json(400, R"({"error":"temporarily_unavailable","error_description":
                                        "AADSTS90024: busy"})"),
       absl::Milliseconds(250)},
      {"AADSTS90055", FakeHttpTransport::Json(400, R"({"error":"invalid_request",
           "error_description":"AADSTS90055: throttled","error_codes":[90055]})"),
       absl::Milliseconds(250)},
      {"connection refused",
       WithTransportFailure(absl::UnavailableError("connection refused"),
                            TransportFailure::kBeforeResponse),
       absl::Milliseconds(250)},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    FakeClock clock;
    auto transport = std::make_shared<FakeHttpTransport>();
    auto credential = MakeTokenCredential(Options(), transport, &clock);
    ASSERT_TRUE(credential.ok());
    transport->Enqueue(c.failure);
    transport->Enqueue(FakeHttpTransport::Json(200, TokenBody("after-retry", 3600)));
    absl::StatusOr<AccessToken> token =
        (*credential)->GetToken(clock.Now() + absl::Minutes(1));
    ASSERT_TRUE(token.ok()) << token.status();
    EXPECT_EQ(token->token, "after-retry");
    EXPECT_EQ(transport->request_count(), 2u);
    EXPECT_EQ(clock.sleeps(), std::vector<absl::Duration>{c.wait});
  }
}

TEST_F(CredentialTest, RejectionsAndCutShortBodiesAreNotRetried) {
  const std::vector<absl::StatusOr<HttpResponse>> failures = {
      FakeHttpTransport::Json(401, kInvalidSecretBody),
      FakeHttpTransport::Json(400, ReadExample("identity-token-error-client-credentials.json")),
      FakeHttpTransport::Json(200, "<html>portal</html>"),
      WithTransportFailure(absl::UnavailableError("cut"), TransportFailure::kTruncatedBody),
      absl::UnavailableError("certificate verify failed"),
      absl::DeadlineExceededError("timed out"),
  };
  for (std::size_t i = 0; i < failures.size(); ++i) {
    SCOPED_TRACE(i);
    transport_ = std::make_shared<FakeHttpTransport>();
    auto credential = Make();
    transport_->Enqueue(failures[i]);
    transport_->Enqueue(FakeHttpTransport::Json(200, TokenBody("never", 3600)));
    EXPECT_FALSE(credential->GetToken(Later()).ok());
    EXPECT_EQ(transport_->request_count(), 1u);
  }
  EXPECT_TRUE(clock_.sleeps().empty());
}

TEST_F(CredentialTest, RetriesEndWithTheLastErrorWithinTheDeadline) {
  auto credential = Make();  // 4 attempts
  transport_->SetHandler([](const HttpRequest&) {
    return FakeHttpTransport::Json(503, "{}", {{"retry-after", "2"}});
  });
  // Room for all four attempts: three waits of 2 s.
  absl::Status status = credential->GetToken(clock_.Now() + absl::Minutes(1)).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Reason(status), "TOKEN_ENDPOINT_ERROR");
  EXPECT_EQ(common::GetErrorDetails(status).retry_after, absl::Seconds(2));
  EXPECT_EQ(transport_->request_count(), 4u);
  EXPECT_EQ(clock_.sleeps(), std::vector<absl::Duration>(3, absl::Seconds(2)));

  // No room for the wait: the endpoint's error at once, not DEADLINE_EXCEEDED.
  const absl::Time start = clock_.Now();
  status = credential->GetToken(start + absl::Seconds(1)).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(Message(status), HasSubstr("HTTP 503"));
  EXPECT_EQ(transport_->request_count(), 5u);
  EXPECT_EQ(clock_.Now(), start);
}

// ---------------------------------------------------------------------------------------------
// Proactive refresh (FACTS §7): a token inside its refresh margin is still good.

TEST_F(CredentialTest, AFailedProactiveRefreshKeepsServingTheOldToken) {
  auto credential = Make();  // refresh at 55 min of a 60 min token
  transport_->Enqueue(FakeHttpTransport::Json(200, TokenBody("old", 3600)));
  const absl::Time start = clock_.Now();
  ASSERT_EQ(credential->GetToken(Later())->token, "old");

  transport_->SetHandler([](const HttpRequest&) { return FakeHttpTransport::Json(503, "{}"); });
  clock_.Set(start + absl::Minutes(55));
  absl::StatusOr<AccessToken> token = credential->GetToken(Later());
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->token, "old");
  EXPECT_EQ(token->expires_on, start + absl::Hours(1));
  EXPECT_EQ(transport_->request_count(), 2u);  // one attempt: no retries, no waiting
  EXPECT_TRUE(clock_.sleeps().empty());

  // Within 30 s of that attempt, no new one.
  clock_.Advance(absl::Seconds(29));
  EXPECT_EQ(credential->GetToken(Later())->token, "old");
  EXPECT_EQ(transport_->request_count(), 2u);

  // Then another; once the endpoint is back, the new token.
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(credential->GetToken(Later())->token, "old");
  EXPECT_EQ(transport_->request_count(), 3u);
  transport_->SetHandler(
      [](const HttpRequest&) { return FakeHttpTransport::Json(200, TokenBody("new", 3600)); });
  clock_.Advance(absl::Seconds(30));
  EXPECT_EQ(credential->GetToken(Later())->token, "new");
  EXPECT_EQ(transport_->request_count(), 4u);
}

TEST_F(CredentialTest, TheOldTokenIsServedOnlyUntilItNearlyExpires) {
  auto credential = Make();
  transport_->Enqueue(FakeHttpTransport::Json(200, TokenBody("old", 3600)));
  const absl::Time start = clock_.Now();
  ASSERT_EQ(credential->GetToken(Later())->token, "old");

  transport_->SetHandler([](const HttpRequest&) { return FakeHttpTransport::Json(503, "{}"); });
  // 10 s before expiry the old token is no longer handed out: the refresh is mandatory, with
  // retries, and its error is the caller's.
  clock_.Set(start + absl::Hours(1) - absl::Seconds(10));
  absl::Status status = credential->GetToken(Later()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Reason(status), "TOKEN_ENDPOINT_ERROR");
  EXPECT_EQ(transport_->request_count(), 1u + 4u);
}

TEST_F(CredentialTest, ACallerOutOfTimeGetsTheOldTokenWithoutARefresh) {
  auto credential = Make();
  transport_->Enqueue(FakeHttpTransport::Json(200, TokenBody("old", 3600)));
  ASSERT_EQ(credential->GetToken(Later())->token, "old");
  clock_.Advance(absl::Minutes(56));
  EXPECT_EQ(credential->GetToken(clock_.Now())->token, "old");
  EXPECT_EQ(transport_->request_count(), 1u);
}

TEST_F(CredentialTest, ARejectedProactiveRefreshAlsoKeepsTheOldToken) {
  auto credential = Make();
  transport_->Enqueue(FakeHttpTransport::Json(200, TokenBody("old", 3600)));
  ASSERT_EQ(credential->GetToken(Later())->token, "old");
  transport_->Enqueue(FakeHttpTransport::Json(401, kInvalidSecretBody));  // secret rotated
  clock_.Advance(absl::Minutes(56));
  EXPECT_EQ(credential->GetToken(Later())->token, "old");
}

TEST_F(CredentialTest, NobodyWaitsForAProactiveRefresh) {
  auto credential = Make();
  transport_->Enqueue(FakeHttpTransport::Json(200, TokenBody("old", 3600)));
  ASSERT_EQ(credential->GetToken(Later())->token, "old");
  clock_.Advance(absl::Minutes(56));

  Notification refresh_started, release_refresh;
  transport_->SetHandler([&](const HttpRequest&) -> absl::StatusOr<HttpResponse> {
    refresh_started.Notify();
    release_refresh.WaitForNotification();
    return FakeHttpTransport::Json(200, TokenBody("new", 3600));
  });
  absl::StatusOr<AccessToken> refresher;
  std::thread thread([&] { refresher = credential->GetToken(Later()); });
  refresh_started.WaitForNotification();
  // While the refresh is held, other callers get the old token at once.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(credential->GetToken(Later())->token, "old");
  release_refresh.Notify();
  thread.join();
  ASSERT_TRUE(refresher.ok()) << refresher.status();
  EXPECT_EQ(refresher->token, "new");
  EXPECT_EQ(credential->GetToken(Later())->token, "new");
  EXPECT_EQ(transport_->request_count(), 2u);
}

TEST_F(CredentialTest, AnInvalidatedTokenIsNeverTheFallback) {
  auto credential = Make();
  transport_->Enqueue(FakeHttpTransport::Json(200, TokenBody("old", 3600)));
  ASSERT_EQ(credential->GetToken(Later())->token, "old");
  clock_.Advance(absl::Minutes(56));
  credential->Invalidate("old");  // Graph said 401
  transport_->SetHandler([](const HttpRequest&) { return FakeHttpTransport::Json(503, "{}"); });
  EXPECT_EQ(credential->GetToken(Later()).status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace rollcall::graph
