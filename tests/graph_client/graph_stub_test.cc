// The Graph stub stack: each decorator alone over a scripted stub, the stack the factory
// builds, and the acceptance test: a Graph call GraphClient does not have, written only from
// the stack, a URL and a few lines of JSON reading, inherits retries and re-authentication.

#include "graph_client/graph_stub.h"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/error_details.h"
#include "common/mutex.h"
#include "gmock/gmock.h"
#include "graph_client/authenticating_stub.h"
#include "graph_client/graph_client.h"
#include "graph_client/graph_counters.h"
#include "graph_client/graph_errors.h"
#include "graph_client/graph_stub_factory.h"
#include "graph_client/json_reader.h"
#include "graph_client/metered_stub.h"
#include "graph_client/rest_stub.h"
#include "graph_client/retrying_stub.h"
#include "graph_client/token_credential.h"
#include "gtest/gtest.h"
#include "tests/testing/graph_examples.h"
#include "tests/testing/status_details.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/fake_http_transport.h"

namespace rollcall::graph {
namespace {

using ::rollcall::testing::FakeClock;
using ::rollcall::testing::FakeHttpTransport;
using ::rollcall::testing::Message;
using ::rollcall::testing::Meta;
using ::rollcall::testing::ReadExample;
using ::rollcall::testing::Reason;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kBase[] = "https://graph.microsoft.com/v1.0";
constexpr char kUser[] = "16664f75-11dc-4870-bec6-38c1aaa81431";
constexpr char kMeeting[] = "MSpkYzE3Njc0Yy04MWQ5LTRhZGItYmZ";

// A stub that answers with a function, recording every request and the context it saw.
class ScriptedStub final : public GraphStub {
 public:
  using Script = std::function<absl::StatusOr<HttpResponse>(const GraphRequest&, int call)>;
  explicit ScriptedStub(Script script) : script_(std::move(script)) {}
  using GraphStub::Get;
  absl::StatusOr<HttpResponse> Get(GraphContext& context, const GraphRequest& request) override {
    requests.push_back(request);
    sends_seen.push_back(context.sends);
    ++context.sends;  // as RestStub does
    return script_(request, static_cast<int>(requests.size()) - 1);
  }
  std::vector<GraphRequest> requests;
  std::vector<int> sends_seen;

 private:
  Script script_;
};

HttpResponse Answer(long status, std::string body = "{}", HttpHeaders headers = {}) {
  return FakeHttpTransport::Json(status, std::move(body), std::move(headers));
}

GraphRequest Request(absl::Time deadline, std::string client_request_id = "cid-1") {
  GraphRequest request;
  request.url = std::string(kBase) + "/me";
  request.endpoint = "test_endpoint";
  request.client_request_id = std::move(client_request_id);
  request.deadline = deadline;
  return request;
}

// Hands out "token-1", then after Invalidate "token-2", ...
class CountingCredential final : public TokenCredential {
 public:
  absl::StatusOr<AccessToken> GetToken(absl::Time) override {
    common::MutexLock lock(&mu_);
    ++requests_;
    if (!error_.ok()) return error_;
    return AccessToken{absl::StrCat("token-", generation_), absl::InfiniteFuture()};
  }
  Invalidation Invalidate(const std::string& token) override {
    common::MutexLock lock(&mu_);
    if (token != absl::StrCat("token-", generation_)) return {Invalidation::Outcome::kStale};
    ++generation_;
    return {Invalidation::Outcome::kDropped};
  }
  void Accepted(const std::string& token) override {
    common::MutexLock lock(&mu_);
    accepted_.push_back(token);
  }
  void Fail(absl::Status error) {
    common::MutexLock lock(&mu_);
    error_ = std::move(error);
  }
  int requests() const {
    common::MutexLock lock(&mu_);
    return requests_;
  }
  std::vector<std::string> accepted() const {
    common::MutexLock lock(&mu_);
    return accepted_;
  }

 private:
  mutable common::Mutex mu_;
  int generation_ ABSL_GUARDED_BY(mu_) = 1;
  int requests_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status error_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> accepted_ ABSL_GUARDED_BY(mu_);
};

class RecordingObserver final : public GraphCallObserver {
 public:
  struct Record {
    std::string endpoint;
    long http_status;
    absl::Duration latency;
    std::string request_id;
    std::string client_request_id;
    int attempt;
  };
  void OnGraphCall(const GraphCallRecord& r) override {
    common::MutexLock lock(&mu_);
    records_.push_back({std::string(r.endpoint), r.http_status, r.latency,
                        std::string(r.request_id), std::string(r.client_request_id),
                        r.attempt});
  }
  std::vector<Record> records() const {
    common::MutexLock lock(&mu_);
    return records_;
  }

 private:
  mutable common::Mutex mu_;
  std::vector<Record> records_ ABSL_GUARDED_BY(mu_);
};

class StubTest : public ::testing::Test {
 protected:
  StubTest() { retry_.jitter = [] { return 0.0; }; }

  FakeClock clock_;
  RetryOptions retry_;
  const absl::Time deadline_ = clock_.Now() + absl::Seconds(30);
};

// ---------------------------------------------------------------------------------------------
// RestStub

TEST_F(StubTest, RestStubSendsOneGetWithGraphsHeaders) {
  auto transport = std::make_shared<FakeHttpTransport>();
  transport->Enqueue(Answer(200));
  transport->Enqueue(Answer(200));
  RestStub stub(transport);
  GraphContext context;
  GraphRequest request = Request(deadline_);
  request.headers = {{"Authorization", "Bearer t"}};
  ASSERT_TRUE(stub.Get(context, request).ok());
  ASSERT_TRUE(stub.Get(context, request).ok());
  EXPECT_EQ(context.sends, 2);
  const auto requests = transport->requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].method, "GET");
  EXPECT_EQ(requests[0].url, request.url);
  EXPECT_EQ(requests[0].deadline, deadline_);
  EXPECT_EQ(requests[0].headers,
            (HttpHeaders{{"Authorization", "Bearer t"},
                         {"Accept", "application/json"},
                         {"client-request-id", "cid-1"}}));
  EXPECT_EQ(FakeHttpTransport::HeaderOf(requests[1], "retry-attempt"), "1");
}

TEST_F(StubTest, RestStubMapsTransportFailuresKeepingTheirMark) {
  auto transport = std::make_shared<FakeHttpTransport>();
  transport->Enqueue(WithTransportFailure(absl::UnavailableError("connect refused"),
                                          TransportFailure::kBeforeResponse));
  transport->Enqueue(absl::ResourceExhaustedError("body over 64 MiB"));
  transport->Enqueue(absl::DeadlineExceededError("timed out"));
  RestStub stub(transport);

  absl::Status refused = stub.Get(Request(deadline_)).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Reason(refused), "GRAPH_UNAVAILABLE");
  EXPECT_TRUE(IsRetryableBeforeResponse(refused));
  EXPECT_FALSE(IsRetryableBeforeResponse(ForCaller(refused)));
  EXPECT_EQ(ForCaller(refused).message(), refused.message());

  absl::Status too_large = stub.Get(Request(deadline_)).status();
  EXPECT_EQ(too_large.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(Reason(too_large), "GRAPH_BAD_RESPONSE");

  absl::Status late = stub.Get(Request(deadline_)).status();
  EXPECT_EQ(late.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(Reason(late), "GRAPH_UNAVAILABLE");
}

// ---------------------------------------------------------------------------------------------
// RetryingStub

TEST_F(StubTest, RetryingStubRetriesWhatMaySucceedWithTheSameId) {
  auto inner = std::make_shared<ScriptedStub>([](const GraphRequest&, int call) {
    if (call == 0) return absl::StatusOr<HttpResponse>(Answer(503));
    if (call == 1) return absl::StatusOr<HttpResponse>(Answer(429, "{}", {{"retry-after", "3"}}));
    return absl::StatusOr<HttpResponse>(Answer(200));
  });
  RetryingStub stub(inner, retry_, &clock_);
  absl::StatusOr<HttpResponse> response = stub.Get(Request(deadline_, /*client_request_id=*/""));
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->status, 200);
  ASSERT_EQ(inner->requests.size(), 3u);
  // A fresh id, the same on every attempt.
  const std::string id = inner->requests[0].client_request_id;
  EXPECT_EQ(id.size(), 36u);
  EXPECT_EQ(inner->requests[1].client_request_id, id);
  EXPECT_EQ(inner->requests[2].client_request_id, id);
  EXPECT_THAT(inner->sends_seen, ElementsAre(0, 1, 2));
  // Backoff half of 500 ms (jitter 0), then Graph's Retry-After.
  EXPECT_THAT(clock_.sleeps(), ElementsAre(absl::Milliseconds(250), absl::Seconds(3)));
}

TEST_F(StubTest, RetryingStubReturnsFinalAnswersAndTheLastOneAsTheyAre) {
  auto not_found = std::make_shared<ScriptedStub>(
      [](const GraphRequest&, int) { return absl::StatusOr<HttpResponse>(Answer(404)); });
  RetryingStub once(not_found, retry_, &clock_);
  EXPECT_EQ(once.Get(Request(deadline_))->status, 404);
  EXPECT_EQ(not_found->requests.size(), 1u);

  auto busy = std::make_shared<ScriptedStub>(
      [](const GraphRequest&, int) { return absl::StatusOr<HttpResponse>(Answer(504)); });
  RetryingStub retried(busy, retry_, &clock_);
  EXPECT_EQ(retried.Get(Request(deadline_))->status, 504);
  EXPECT_EQ(busy->requests.size(), 4u);  // max_attempts

  // An error after the response began is not retried; one before it is.
  auto cut = std::make_shared<ScriptedStub>([](const GraphRequest&, int call) {
    return absl::StatusOr<HttpResponse>(WithTransportFailure(
        absl::UnavailableError("x"),
        call == 0 ? TransportFailure::kBeforeResponse : TransportFailure::kTruncatedBody));
  });
  RetryingStub stub(cut, retry_, &clock_);
  EXPECT_EQ(GetTransportFailure(stub.Get(Request(deadline_)).status()),
            TransportFailure::kTruncatedBody);
  EXPECT_EQ(cut->requests.size(), 2u);
}

TEST_F(StubTest, RetryingStubNeverWaitsPastTheDeadline) {
  auto throttled = std::make_shared<ScriptedStub>([](const GraphRequest&, int) {
    return absl::StatusOr<HttpResponse>(Answer(429, "{}", {{"retry-after", "5"}}));
  });
  RetryingStub stub(throttled, retry_, &clock_);
  EXPECT_EQ(stub.Get(Request(clock_.Now() + absl::Seconds(4)))->status, 429);
  EXPECT_EQ(throttled->requests.size(), 1u);
  EXPECT_TRUE(clock_.sleeps().empty());
}

// ---------------------------------------------------------------------------------------------
// AuthenticatingStub

TEST_F(StubTest, AuthenticatingStubRenewsTheTokenOnceAfterA401) {
  auto credential = std::make_shared<CountingCredential>();
  auto inner = std::make_shared<ScriptedStub>([](const GraphRequest&, int call) {
    return absl::StatusOr<HttpResponse>(Answer(call == 0 ? 401 : 200));
  });
  auto counters = std::make_shared<GraphCounters>();
  AuthenticatingStub stub(inner, credential, &clock_, counters);
  GraphRequest request = Request(deadline_);
  request.headers = {{"X-Extra", "1"}};
  EXPECT_EQ(stub.Get(request)->status, 200);
  ASSERT_EQ(inner->requests.size(), 2u);
  EXPECT_EQ(inner->requests[0].headers,
            (HttpHeaders{{"Authorization", "Bearer token-1"}, {"X-Extra", "1"}}));
  EXPECT_EQ(inner->requests[1].headers,
            (HttpHeaders{{"Authorization", "Bearer token-2"}, {"X-Extra", "1"}}));
  EXPECT_EQ(credential->requests(), 2);
  EXPECT_EQ(counters->Snapshot().token_refreshes, 1u);
  EXPECT_THAT(credential->accepted(), ElementsAre("token-2"));
}

TEST_F(StubTest, AuthenticatingStubTellsTheCredentialWhichTokensGraphTook) {
  auto credential = std::make_shared<CountingCredential>();
  const std::vector<long> statuses = {200, 403, 404, 400, 429, 503, 500};
  auto inner = std::make_shared<ScriptedStub>([&](const GraphRequest&, int call) {
    return absl::StatusOr<HttpResponse>(Answer(statuses.at(call)));
  });
  AuthenticatingStub stub(inner, credential, &clock_);
  for (long status : statuses) EXPECT_EQ(stub.Get(Request(deadline_))->status, status);
  // A 403, 404 or 400 is about the request, after Graph authenticated the token; a 429 or a
  // 5xx may come before it looked.
  EXPECT_THAT(credential->accepted(), ElementsAre("token-1", "token-1", "token-1", "token-1"));
}

TEST_F(StubTest, AuthenticatingStubReturnsTheSecond401AndCredentialErrors) {
  auto credential = std::make_shared<CountingCredential>();
  auto inner = std::make_shared<ScriptedStub>(
      [](const GraphRequest&, int) { return absl::StatusOr<HttpResponse>(Answer(401)); });
  AuthenticatingStub stub(inner, credential, &clock_);
  GraphContext context;
  EXPECT_EQ(stub.Get(context, Request(deadline_))->status, 401);
  EXPECT_EQ(inner->requests.size(), 2u);
  EXPECT_FALSE(context.token_backoff.has_value());  // this credential never backs off
  EXPECT_TRUE(credential->accepted().empty());

  // Once per call: a context that already renewed does not renew again.
  GraphContext renewed;
  renewed.token_renewed = true;
  EXPECT_EQ(stub.Get(renewed, Request(deadline_))->status, 401);
  EXPECT_EQ(inner->requests.size(), 3u);

  credential->Fail(common::MakeError(absl::StatusCode::kFailedPrecondition, "rejected",
                                     {"CREDENTIALS_REJECTED", {}, std::nullopt}));
  absl::Status status = stub.Get(Request(deadline_)).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Reason(status), "CREDENTIALS_REJECTED");
  EXPECT_EQ(inner->requests.size(), 3u);  // nothing sent without a token
}

// ---------------------------------------------------------------------------------------------
// MeteredStub

TEST_F(StubTest, MeteredStubCountsAndObservesEveryExchange) {
  auto inner = std::make_shared<ScriptedStub>(
      [this](const GraphRequest&, int call) -> absl::StatusOr<HttpResponse> {
        clock_.Advance(absl::Milliseconds(40 + call));
        if (call == 0) return Answer(429, "{}", {{"request-id", "graph-rid-0"}});
        if (call == 1) return Answer(502);
        if (call == 2) return GraphTransportError(absl::UnavailableError("reset"));
        if (call == 3) return GraphTransportError(absl::ResourceExhaustedError("too big"));
        return Answer(200, "{}", {{"request-id", "graph-rid-4"}});
      });
  auto counters = std::make_shared<GraphCounters>();
  auto observer = std::make_shared<RecordingObserver>();
  MeteredStub stub(inner, counters, observer, &clock_);
  GraphContext context;
  for (int i = 0; i < 5; ++i) (void)stub.Get(context, Request(deadline_));

  const GraphClientStats stats = counters->Snapshot();
  EXPECT_EQ(stats.http_requests, 5u);
  EXPECT_EQ(stats.retries, 4u);
  EXPECT_EQ(stats.throttled, 1u);
  EXPECT_EQ(stats.server_errors, 1u);
  EXPECT_EQ(stats.transport_errors, 1u);
  EXPECT_EQ(stats.bad_responses, 1u);

  const auto records = observer->records();
  ASSERT_EQ(records.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(records[i].endpoint, "test_endpoint");
    EXPECT_EQ(records[i].latency, absl::Milliseconds(40 + i));
    EXPECT_EQ(records[i].client_request_id, "cid-1");
    EXPECT_EQ(records[i].attempt, i);
  }
  EXPECT_EQ(records[0].http_status, 429);
  EXPECT_EQ(records[0].request_id, "graph-rid-0");
  EXPECT_EQ(records[1].http_status, 502);
  EXPECT_EQ(records[1].request_id, "");
  EXPECT_EQ(records[2].http_status, 0);
  EXPECT_EQ(records[3].http_status, 0);
  EXPECT_EQ(records[4].request_id, "graph-rid-4");
}

// ---------------------------------------------------------------------------------------------
// The stack, through GraphClient: the observer sees both endpoints.

TEST_F(StubTest, GraphClientReportsEachEndpointToItsObserver) {
  auto transport = std::make_shared<FakeHttpTransport>();
  const std::string page = std::string(kBase) + "/users/u/onlineMeetings/m/attendanceReports/r/"
                                                "attendanceRecords?$skiptoken=2";
  transport->Enqueue(Answer(
      200, absl::StrCat(R"({"id":"r","attendanceRecords":[],"attendanceRecords@odata.nextLink":")",
                        page, R"("})")));
  transport->Enqueue(Answer(503));
  transport->Enqueue(Answer(200, R"({"value":[{"id":"a"}]})"));
  auto observer = std::make_shared<RecordingObserver>();
  GraphClientOptions options;
  options.retry = retry_;
  options.observer = observer;
  auto client =
      MakeGraphClient(options, transport, std::make_shared<CountingCredential>(), &clock_);
  absl::StatusOr<rollcall::v1::MeetingAttendanceReport> report =
      client->GetAttendanceReport({"u", "m", "r"}, true, deadline_);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->attendance_records_size(), 1);
  const auto records = observer->records();
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].endpoint, "attendance_report");
  EXPECT_EQ(records[1].endpoint, "attendance_records_page");
  EXPECT_EQ(records[1].http_status, 503);
  EXPECT_EQ(records[1].attempt, 0);
  EXPECT_EQ(records[2].endpoint, "attendance_records_page");
  EXPECT_EQ(records[2].attempt, 1);
  EXPECT_EQ(records[1].client_request_id, records[2].client_request_id);
  EXPECT_NE(records[0].client_request_id, records[1].client_request_id);
  EXPECT_EQ(client->Stats().retries, 1u);
}

TEST_F(StubTest, EachGraphClientCallHasItsOwnEndpointName) {
  auto transport = std::make_shared<FakeHttpTransport>();
  const std::string page =
      std::string(kBase) + "/users/u/onlineMeetings/m/attendanceReports?$skiptoken=2";
  transport->Enqueue(Answer(200, absl::StrCat(R"({"value":[],"@odata.nextLink":")", page,
                                              R"("})")));
  transport->Enqueue(Answer(200, R"({"value":[{"id":"r"}]})"));
  transport->Enqueue(Answer(200, R"({"value":[{"id":"m"}]})"));
  auto observer = std::make_shared<RecordingObserver>();
  GraphClientOptions options;
  options.retry = retry_;
  options.observer = observer;
  auto client =
      MakeGraphClient(options, transport, std::make_shared<CountingCredential>(), &clock_);
  rollcall::v1::ListAttendanceReportsResponse list;
  ASSERT_TRUE(client->ListAttendanceReports({"u", "m"}, deadline_, &list).ok());
  rollcall::v1::OnlineMeeting meeting;
  ASSERT_TRUE(client->FindOnlineMeeting("u", "https://x", deadline_, &meeting).ok());
  const auto records = observer->records();
  ASSERT_EQ(records.size(), 3u);
  // Every page of a list is the same kind of call.
  EXPECT_EQ(records[0].endpoint, "attendance_reports_list");
  EXPECT_EQ(records[1].endpoint, "attendance_reports_list");
  EXPECT_EQ(records[2].endpoint, "online_meeting_lookup");
}

// ---------------------------------------------------------------------------------------------
// Acceptance: a new Graph endpoint from the stack alone.

// GET /users/{user}/onlineMeetings/{meeting}/attendanceReports: the IDs of a meeting's reports.
// All a new call needs: its URL, a GraphRequest, and its body's reading. Retries, tokens and
// metrics come from the stack.
absl::StatusOr<std::vector<std::string>> ListReportIds(GraphStub& stub, const std::string& user,
                                                       const std::string& meeting,
                                                       absl::Time deadline) {
  GraphRequest request;
  request.url = absl::StrCat(kBase, "/users/", EncodePathSegment(user), "/onlineMeetings/",
                             EncodePathSegment(meeting), "/attendanceReports");
  request.endpoint = "attendance_reports_list";
  request.client_request_id = NewClientRequestId();
  request.deadline = deadline;
  GraphContext context;
  absl::StatusOr<HttpResponse> response = stub.Get(context, request);
  if (!response.ok()) return ForCaller(response.status());
  if (response->status != 200) {
    return GraphHttpError(*response, request.client_request_id, std::nullopt,
                          kAttendanceReportWording, context.token_backoff);
  }
  json::ParsedJson parsed;
  absl::Status status = json::Parse(response->body, &parsed);
  if (!status.ok()) return status;
  const rapidjson::Value* value = json::FindMember(parsed.doc, "value");
  if (value == nullptr || !value->IsArray()) return absl::InvalidArgumentError("no value");
  std::vector<std::string> ids;
  for (const auto& report : value->GetArray()) ids.push_back(json::StringMember(report, "id"));
  return ids;
}

class NewEndpointTest : public StubTest {
 protected:
  // The real credential over the same fake transport: token requests answered "token-N".
  NewEndpointTest() {
    TokenCredentialConfig config;
    config.tenant_id = "contoso";
    config.client_id = "app";
    config.client_secret = "secret";
    config.retry = retry_;
    config.background_refresh = false;  // token requests only when a Graph call needs one
    auto credential = MakeTokenCredential(config, transport_, &clock_);
    EXPECT_TRUE(credential.ok()) << credential.status();
    GraphStubOptions options;
    options.retry = retry_;
    options.counters = counters_;
    stub_ = MakeGraphStub(options, transport_, std::move(*credential), &clock_);
  }

  // Answers token requests itself and every Graph request with `graph` (changed at will).
  void AnswerEveryGraphRequestWith(HttpResponse graph) {
    {
      common::MutexLock lock(&mu_);
      every_graph_answer_ = std::move(graph);
    }
    transport_->SetHandler([this](const HttpRequest& request) -> absl::StatusOr<HttpResponse> {
      common::MutexLock lock(&mu_);
      if (absl::StrContains(request.url, "/oauth2/v2.0/token")) {
        ++token_requests_;
        return Answer(200, absl::StrCat(R"({"token_type":"Bearer","expires_in":3600,)",
                                        R"("access_token":"token-)", token_requests_, "\"}"));
      }
      graph_requests_.push_back(request);
      return every_graph_answer_;
    });
  }

  int token_requests() {
    common::MutexLock lock(&mu_);
    return token_requests_;
  }
  std::size_t graph_requests() {
    common::MutexLock lock(&mu_);
    return graph_requests_.size();
  }

  // Answers token requests itself and Graph requests with `graph`, in order.
  void Script(std::vector<HttpResponse> graph) {
    graph_answers_ = std::move(graph);
    transport_->SetHandler([this](const HttpRequest& request) -> absl::StatusOr<HttpResponse> {
      common::MutexLock lock(&mu_);
      if (absl::StrContains(request.url, "/oauth2/v2.0/token")) {
        ++token_requests_;
        return Answer(200, absl::StrCat(R"({"token_type":"Bearer","expires_in":3600,)",
                                        R"("access_token":"token-)", token_requests_, "\"}"));
      }
      graph_requests_.push_back(request);
      return graph_answers_.at(graph_requests_.size() - 1);
    });
  }

  std::shared_ptr<FakeHttpTransport> transport_ = std::make_shared<FakeHttpTransport>();
  std::shared_ptr<GraphCounters> counters_ = std::make_shared<GraphCounters>();
  std::shared_ptr<GraphStub> stub_;
  common::Mutex mu_;
  std::vector<HttpResponse> graph_answers_;
  HttpResponse every_graph_answer_ ABSL_GUARDED_BY(mu_);
  int token_requests_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<HttpRequest> graph_requests_ ABSL_GUARDED_BY(mu_);
};

TEST_F(NewEndpointTest, InheritsThrottlingRetryHonouringRetryAfter) {
  const std::string list = ReadExample("list-meetingattendancereports-v1.0.json");
  Script({Answer(429, R"({"error":{"code":"TooManyRequests","message":"slow down"}})",
                 {{"retry-after", "2.5"}}),
          Answer(200, list)});
  absl::StatusOr<std::vector<std::string>> ids = ListReportIds(*stub_, kUser, kMeeting, deadline_);
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_THAT(*ids, ElementsAre("c9b6db1c-d5eb-427d-a5c0-20088d9b22d7",
                                "2c2c2454-7613-4d6e-9c7c-4cf7a6cdce89"));

  // Graph's Retry-After, waited on the clock, then the same request again.
  EXPECT_THAT(clock_.sleeps(), ElementsAre(absl::Milliseconds(2500)));
  common::MutexLock lock(&mu_);
  ASSERT_EQ(graph_requests_.size(), 2u);
  EXPECT_EQ(graph_requests_[0].url,
            absl::StrCat(kBase, "/users/", kUser, "/onlineMeetings/", kMeeting,
                         "/attendanceReports"));
  EXPECT_EQ(graph_requests_[1].url, graph_requests_[0].url);
  EXPECT_EQ(FakeHttpTransport::HeaderOf(graph_requests_[1], "client-request-id"),
            FakeHttpTransport::HeaderOf(graph_requests_[0], "client-request-id"));
  EXPECT_EQ(FakeHttpTransport::HeaderOf(graph_requests_[1], "retry-attempt"), "1");
  EXPECT_EQ(token_requests_, 1);  // the cached token served both attempts
}

TEST_F(NewEndpointTest, InheritsReauthenticationAfterA401) {
  const std::string list = ReadExample("list-meetingattendancereports-v1.0.json");
  Script({Answer(401, R"({"error":{"code":"InvalidAuthenticationToken","message":"expired"}})"),
          Answer(200, list)});
  absl::StatusOr<std::vector<std::string>> ids = ListReportIds(*stub_, kUser, kMeeting, deadline_);
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(ids->size(), 2u);

  common::MutexLock lock(&mu_);
  EXPECT_EQ(token_requests_, 2);  // the rejected token was dropped and a new one fetched
  ASSERT_EQ(graph_requests_.size(), 2u);
  EXPECT_EQ(FakeHttpTransport::HeaderOf(graph_requests_[0], "authorization"), "Bearer token-1");
  EXPECT_EQ(FakeHttpTransport::HeaderOf(graph_requests_[1], "authorization"), "Bearer token-2");
  EXPECT_EQ(graph_requests_[1].url, graph_requests_[0].url);
  EXPECT_TRUE(clock_.sleeps().empty());  // repeated at once
}

TEST_F(NewEndpointTest, MapsGraphsErrorsLikeTheClient) {
  Script({Answer(404, R"({"error":{"code":"NotFound","message":"no meeting",
                          "innerError":{"request-id":"rid-9"}}})")});
  absl::Status status = ListReportIds(*stub_, kUser, kMeeting, deadline_).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Reason(status), "REPORT_NOT_FOUND");
  EXPECT_EQ(Meta(status, "graph_request_id"), "rid-9");
  EXPECT_EQ(Meta(status, "graph_code"), "NotFound");
}

// Graph's 401 for a token of another audience (its text for that case).
HttpResponse WrongAudience() {
  return Answer(401, R"({"error":{"code":"InvalidAuthenticationToken",)"
                     R"("message":"Access token validation failure. Invalid audience."}})");
}

TEST_F(NewEndpointTest, AGraphRefusingEveryTokenCostsTwoTokenRequestsOverTenCalls) {
  AnswerEveryGraphRequestWith(WrongAudience());
  const absl::Time start = clock_.Now();
  for (int call = 0; call < 10; ++call) {
    absl::Status status = ListReportIds(*stub_, kUser, kMeeting, deadline_).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << call;
    EXPECT_EQ(Reason(status), "GRAPH_UNAUTHORIZED") << call;
    // Every caller, the first included, is told that Rollcall backs off and until when.
    EXPECT_THAT(Message(status), HasSubstr(absl::StrCat(
                                      "will not fetch another token before ",
                                      absl::FormatTime("%Y-%m-%dT%H:%M:%SZ",
                                                       start + absl::Seconds(30),
                                                       absl::UTCTimeZone()),
                                      " (a back-off of 30s")))
        << call;
    EXPECT_THAT(Message(status), HasSubstr("Invalid audience."));
    EXPECT_FALSE(absl::StrContains(Message(status), "token-")) << "never the token itself";
  }
  // The first token, and the one replacement the first call's 401 allowed; the first call
  // sent two requests, each other one.
  EXPECT_EQ(token_requests(), 2);
  EXPECT_EQ(graph_requests(), 11u);
  EXPECT_EQ(counters_->Snapshot().token_refreshes, 1u);  // one token dropped
  EXPECT_TRUE(clock_.sleeps().empty());
}

TEST_F(NewEndpointTest, AfterTheBackoffOneMoreTokenIsFetchedAndTheNextWindowIsLonger) {
  AnswerEveryGraphRequestWith(WrongAudience());
  ASSERT_FALSE(ListReportIds(*stub_, kUser, kMeeting, deadline_).ok());
  ASSERT_EQ(token_requests(), 2);

  clock_.Advance(absl::Seconds(30));  // the window has passed
  const absl::Time deadline = clock_.Now() + absl::Seconds(30);
  absl::Status status = ListReportIds(*stub_, kUser, kMeeting, deadline).status();
  EXPECT_EQ(token_requests(), 3);  // one more, refused too
  EXPECT_THAT(Message(status), HasSubstr("(a back-off of 1m,"));
  for (int call = 0; call < 5; ++call) {
    EXPECT_EQ(Reason(ListReportIds(*stub_, kUser, kMeeting, deadline).status()),
              "GRAPH_UNAUTHORIZED");
  }
  EXPECT_EQ(token_requests(), 3);
  EXPECT_EQ(counters_->Snapshot().token_refreshes, 2u);
}

TEST_F(NewEndpointTest, ACallGraphAcceptsEndsTheBackoff) {
  AnswerEveryGraphRequestWith(WrongAudience());
  ASSERT_FALSE(ListReportIds(*stub_, kUser, kMeeting, deadline_).ok());
  ASSERT_EQ(token_requests(), 2);

  // Graph takes the kept token again (say, it was a passing fault of Graph's).
  AnswerEveryGraphRequestWith(Answer(200, R"({"value":[]})"));
  ASSERT_TRUE(ListReportIds(*stub_, kUser, kMeeting, deadline_).ok());
  EXPECT_EQ(token_requests(), 2);

  // A later 401 on it is a new story: the token is replaced at once, within the old window.
  AnswerEveryGraphRequestWith(WrongAudience());
  absl::Status status = ListReportIds(*stub_, kUser, kMeeting, deadline_).status();
  EXPECT_EQ(token_requests(), 3);
  // ... and the back-off that follows starts again at 30 s.
  EXPECT_THAT(Message(status), HasSubstr("(a back-off of 30s,"));
  EXPECT_EQ(graph_requests(), 2u + 1u + 2u);
}

TEST_F(NewEndpointTest, ConcurrentCallersRefusedTogetherShareOneReplacement) {
  AnswerEveryGraphRequestWith(WrongAudience());
  constexpr int kCallers = 8;
  constexpr int kCallsEach = 5;
  std::vector<absl::Status> last(kCallers);
  std::vector<std::thread> threads;
  for (int i = 0; i < kCallers; ++i) {
    threads.emplace_back([&, i] {
      for (int call = 0; call < kCallsEach; ++call) {
        last[i] = ListReportIds(*stub_, kUser, kMeeting, deadline_).status();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(token_requests(), 2);  // whatever the interleaving
  for (const absl::Status& status : last) {
    EXPECT_EQ(Reason(status), "GRAPH_UNAUTHORIZED");
    EXPECT_THAT(Message(status), HasSubstr("will not fetch another token before"));
  }
  // Each call sent one request, or two when its first token had just been replaced.
  EXPECT_GE(graph_requests(), static_cast<std::size_t>(kCallers * kCallsEach));
  EXPECT_LE(graph_requests(), static_cast<std::size_t>(kCallers * kCallsEach + kCallers));
  EXPECT_EQ(counters_->Snapshot().token_refreshes, 1u);
}

}  // namespace
}  // namespace rollcall::graph
