// GraphClient with a scripted transport and a fixed credential; EncodePathSegment; the
// Retry-After parser and the URL helpers it relies on.

#include "graph_client/graph_client.h"

#include <atomic>
#include <mutex>
#include <optional>
#include <regex>
#include <set>
#include <thread>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "common/error_details.h"
#include "common/mutex.h"
#include "graph_client/date_time.h"
#include "graph_client/graph_errors.h"
#include "graph_client/trace_context.h"
#include "graph_client/token_response.h"
#include "graph_client/retry_after.h"
#include "graph_client/url_encoding.h"
#include "google/protobuf/arena.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/graph_client/proto_text.h"
#include "tests/testing/graph_examples.h"
#include "tests/testing/protobuf_oracle.h"
#include "tests/testing/status_details.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/fake_http_transport.h"

namespace rollcall::graph {
namespace {

using ::rollcall::testing::ExpectProtoEq;
using ::rollcall::testing::FakeClock;
using ::rollcall::testing::FakeHttpTransport;
using ::rollcall::testing::FromText;
using ::rollcall::testing::Message;
using ::rollcall::testing::Meta;
using ::rollcall::testing::ReadExample;
using ::rollcall::testing::Reason;
using ::testing::HasSubstr;
using ::testing::Not;

// ---------------------------------------------------------------------------------------------
// EncodePathSegment

TEST(EncodePathSegment, LeavesOnlyUnreservedCharacters) {
  EXPECT_EQ(EncodePathSegment("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(EncodePathSegment("a/b"), "a%2Fb");
  EXPECT_EQ(EncodePathSegment("a?b"), "a%3Fb");
  EXPECT_EQ(EncodePathSegment("a#b"), "a%23b");
  EXPECT_EQ(EncodePathSegment("100%"), "100%25");
  EXPECT_EQ(EncodePathSegment("%2F"), "%252F");  // already-encoded input is encoded again
  // A whole segment of dots would be resolved by URL parsers: its dots are encoded.
  EXPECT_EQ(EncodePathSegment(".."), "%2E%2E");
  EXPECT_EQ(EncodePathSegment("."), "%2E");
  EXPECT_EQ(EncodePathSegment("..."), "...");
  EXPECT_EQ(EncodePathSegment("a..b"), "a..b");
  EXPECT_EQ(EncodePathSegment("../../me"), "..%2F..%2Fme");
  EXPECT_EQ(EncodePathSegment("a b"), "a%20b");
  EXPECT_EQ(EncodePathSegment("a+b=c&d;e,f:g@h"), "a%2Bb%3Dc%26d%3Be%2Cf%3Ag%40h");
  EXPECT_EQ(EncodePathSegment("\r\n\t"), "%0D%0A%09");
  EXPECT_EQ(EncodePathSegment(std::string("a\0b", 3)), "a%00b");
  EXPECT_EQ(EncodePathSegment("Zoë 会议"), "Zo%C3%AB%20%E4%BC%9A%E8%AE%AE");
  EXPECT_EQ(EncodePathSegment("MSpkYzE3Njc0Yy04MWQ5LTRhZGItYmZ=="),
            "MSpkYzE3Njc0Yy04MWQ5LTRhZGItYmZ%3D%3D");
  EXPECT_EQ(EncodePathSegment("19:meeting_M2I@thread.v2"), "19%3Ameeting_M2I%40thread.v2");
  EXPECT_EQ(EncodePathSegment(""), "");
}

// ---------------------------------------------------------------------------------------------
// Retry-After

TEST(RetryAfter, DeltaSeconds) {
  const absl::Time now = absl::FromUnixSeconds(1445412480);
  EXPECT_EQ(ParseRetryAfter("10", now), absl::Seconds(10));
  EXPECT_EQ(ParseRetryAfter(" 10 ", now), absl::Seconds(10));
  EXPECT_EQ(ParseRetryAfter("0", now), absl::ZeroDuration());
  EXPECT_EQ(ParseRetryAfter("2.128", now), absl::Milliseconds(2128));
  EXPECT_EQ(ParseRetryAfter("0.5", now), absl::Milliseconds(500));
  EXPECT_EQ(ParseRetryAfter("1.1234567891", now), absl::Seconds(1) + absl::Nanoseconds(123456789));
  EXPECT_EQ(ParseRetryAfter("99999999999", now), kMaxRetryAfter);
  EXPECT_EQ(ParseRetryAfter("99999999999999999999999999", now), kMaxRetryAfter);
}

TEST(RetryAfter, HttpDates) {
  const absl::Time now = absl::FromUnixSeconds(1445412480);  // Wed, 21 Oct 2015 07:28:00 GMT
  EXPECT_EQ(ParseRetryAfter("Wed, 21 Oct 2015 07:28:30 GMT", now), absl::Seconds(30));
  EXPECT_EQ(ParseRetryAfter("Wednesday, 21-Oct-15 07:29:00 GMT", now), absl::Minutes(1));
  EXPECT_EQ(ParseRetryAfter("Wed Oct 21 07:28:05 2015", now), absl::Seconds(5));
  EXPECT_EQ(ParseRetryAfter("Wed, 21 Oct 2015 07:00:00 GMT", now), absl::ZeroDuration());  // past
  EXPECT_EQ(ParseRetryAfter("Thu, 21 Oct 2055 07:28:00 GMT", now), kMaxRetryAfter);
}

TEST(RetryAfter, GarbageIsIgnored) {
  const absl::Time now = absl::FromUnixSeconds(1445412480);
  for (const char* value : {"", " ", "-1", "-0.5", "abc", "10s", "1e3", "1.", ".5", "+5", "0x10",
                            "1,5", "Wed, 32 Oct 2015 07:28:00 GMT", "nan", "inf"}) {
    EXPECT_FALSE(ParseRetryAfter(value, now).has_value()) << value;
  }
}

// ---------------------------------------------------------------------------------------------
// URL helpers

TEST(UrlHelpers, OriginAndContainment) {
  EXPECT_EQ(UrlOrigin("https://graph.microsoft.com/v1.0"), "https://graph.microsoft.com");
  EXPECT_EQ(UrlOrigin("http://127.0.0.1:8080/v1.0?x"), "http://127.0.0.1:8080");
  EXPECT_EQ(UrlOrigin("https://graph.microsoft.com"), "https://graph.microsoft.com");
  EXPECT_EQ(UrlOrigin("graph.microsoft.com/v1.0"), "");
  EXPECT_EQ(UrlOrigin("https:///v1.0"), "");

  const char* origin = "https://graph.microsoft.com";
  EXPECT_TRUE(IsUrlUnderOrigin("https://graph.microsoft.com/v1.0/x?$skiptoken=1", origin));
  EXPECT_TRUE(IsUrlUnderOrigin("HTTPS://GRAPH.microsoft.com/v1.0/x", origin));
  EXPECT_FALSE(IsUrlUnderOrigin("https://graph.microsoft.com", origin));
  EXPECT_FALSE(IsUrlUnderOrigin("https://graph.microsoft.com.evil.example/v1.0", origin));
  EXPECT_FALSE(IsUrlUnderOrigin("https://graph.microsoft.com@evil.example/v1.0", origin));
  EXPECT_FALSE(IsUrlUnderOrigin("https://graph.microsoft.com:444/v1.0", origin));
  EXPECT_FALSE(IsUrlUnderOrigin("http://graph.microsoft.com/v1.0", origin));
  EXPECT_FALSE(IsUrlUnderOrigin("//graph.microsoft.com/v1.0", origin));
  EXPECT_FALSE(IsUrlUnderOrigin("/v1.0/x", origin));
  EXPECT_FALSE(IsUrlUnderOrigin("https://graph.microsoft.com/v1.0/x\r\nHost: evil", origin));
  EXPECT_FALSE(IsUrlUnderOrigin("https://graph.microsoft.com/v1.0/x y", origin));
  EXPECT_FALSE(IsUrlUnderOrigin("https://graph.microsoft.com/x", ""));
}

TEST(UrlHelpers, JoinWebUrlLiteralDoublesQuotesThenEscapesAllButUnreserved) {
  // A Teams link's own escapes are escaped once more: Graph decodes the query once and
  // compares the rest with the joinWebUrl it stores.
  EXPECT_EQ(JoinWebUrlLiteral("https://teams.microsoft.com/l/meetup-join/19%3ameeting_M2I%40"
                              "thread.v2/0?context=%7b%22Tid%22%3a%22t%22%7d"),
            "https%3A%2F%2Fteams.microsoft.com%2Fl%2Fmeetup-join%2F19%253ameeting_M2I%2540"
            "thread.v2%2F0%3Fcontext%3D%257b%2522Tid%2522%253a%2522t%2522%257d");
  // A quote is doubled (OData) before it is escaped, so it can never end the literal.
  EXPECT_EQ(JoinWebUrlLiteral("a'b"), "a%27%27b");
  EXPECT_EQ(JoinWebUrlLiteral("''"), "%27%27%27%27");
  EXPECT_EQ(JoinWebUrlLiteral("a&b#c+d e=f"), "a%26b%23c%2Bd%20e%3Df");
  EXPECT_EQ(JoinWebUrlLiteral("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(JoinWebUrlLiteral("\xc3\xa9\r\n"), "%C3%A9%0D%0A");
}

// ---------------------------------------------------------------------------------------------
// GraphClient

// Hands out "token-1" until that is invalidated, then "token-2", and so on; after BackOff,
// keeps its token and answers kBackingOff instead.
class FixedCredential final : public TokenCredential {
 public:
  absl::StatusOr<AccessToken> GetToken(absl::Time deadline) override {
    common::MutexLock lock(&mu_);
    deadlines_.push_back(deadline);
    if (!error_.ok()) return error_;
    return AccessToken{token_, absl::InfiniteFuture()};
  }
  Invalidation Invalidate(const std::string& token) override {
    common::MutexLock lock(&mu_);
    invalidated_.push_back(token);
    if (token != token_) return {Invalidation::Outcome::kStale};
    if (backoff_.has_value()) return *backoff_;
    token_ = "token-" + std::to_string(++generation_);
    return {Invalidation::Outcome::kDropped};
  }
  void BackOff(absl::Time until, absl::Duration length) {
    common::MutexLock lock(&mu_);
    backoff_ = Invalidation{Invalidation::Outcome::kBackingOff, until, length};
  }
  void Fail(absl::Status error) {
    common::MutexLock lock(&mu_);
    error_ = std::move(error);
  }
  std::vector<std::string> invalidated() const {
    common::MutexLock lock(&mu_);
    return invalidated_;
  }
  std::vector<absl::Time> deadlines() const {
    common::MutexLock lock(&mu_);
    return deadlines_;
  }

 private:
  mutable common::Mutex mu_;
  int generation_ ABSL_GUARDED_BY(mu_) = 1;
  std::string token_ ABSL_GUARDED_BY(mu_) = "token-1";
  absl::Status error_ ABSL_GUARDED_BY(mu_);
  std::optional<Invalidation> backoff_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> invalidated_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Time> deadlines_ ABSL_GUARDED_BY(mu_);
};

constexpr char kBase[] = "https://graph.microsoft.com/v1.0";
const ReportRef kRef{"user@contoso.com", "MSpkYzE3Njc0Yy04MWQ5LTRhZGItYmZ==",
                     "c9b6db1c-d5eb-427d-a5c0-20088d9b22d7"};
constexpr char kReportUrl[] =
    "https://graph.microsoft.com/v1.0/users/user%40contoso.com/onlineMeetings/"
    "MSpkYzE3Njc0Yy04MWQ5LTRhZGItYmZ%3D%3D/attendanceReports/"
    "c9b6db1c-d5eb-427d-a5c0-20088d9b22d7";

class GraphClientTest : public ::testing::Test {
 protected:
  GraphClientTest() {
    options_.retry.jitter = [] { return 0.0; };  // waits are exactly half the backoff step
  }

  // A client with options_ (base_url replaced by `base`) on the fake clock.
  std::unique_ptr<GraphClient> Make(const std::string& base = kBase) {
    GraphClientOptions options = options_;
    options.base_url = base;
    return MakeGraphClient(options, transport_, credential_, &clock_);
  }

  absl::StatusOr<rollcall::v1::MeetingAttendanceReport> Get(bool with_records = true) {
    return Make()->GetAttendanceReport(kRef, with_records, deadline_);
  }

  // The status a client without retries returns when Graph answers every request with
  // `response` (a 401 is still repeated once, with a new token).
  absl::Status StatusFor(HttpResponse response) {
    transport_->SetHandler([response](const HttpRequest&) { return response; });
    GraphClientOptions options = options_;
    options.retry.max_attempts = 1;
    return MakeGraphClient(options, transport_, credential_, &clock_)
        ->GetAttendanceReport(kRef, true, deadline_)
        .status();
  }

  FakeClock clock_;
  GraphClientOptions options_;
  std::shared_ptr<FakeHttpTransport> transport_ = std::make_shared<FakeHttpTransport>();
  std::shared_ptr<FixedCredential> credential_ = std::make_shared<FixedCredential>();
  const absl::Time deadline_ = clock_.Now() + absl::Seconds(30);
};

TEST_F(GraphClientTest, BuildsTheExactUrlWithEveryIdOneSegment) {
  const std::string body =
      ReadExample("get-meetingattendancereport-v1.0-expand-attendancerecords.json");
  transport_->Enqueue(FakeHttpTransport::Json(200, body));
  transport_->Enqueue(FakeHttpTransport::Json(200, body));
  ASSERT_TRUE(Get(/*with_records=*/true).ok());
  ASSERT_TRUE(Get(/*with_records=*/false).ok());
  const auto requests = transport_->requests();
  EXPECT_EQ(requests[0].url, std::string(kReportUrl) + "?$expand=attendanceRecords");
  EXPECT_EQ(requests[1].url, kReportUrl);

  transport_->Enqueue(FakeHttpTransport::Json(200, body));
  ASSERT_TRUE(Make("https://graph.microsoft.com/v1.0/")
                  ->GetAttendanceReport({"../me", "a/b?c#d", "% .."}, false, deadline_)
                  .ok());
  EXPECT_EQ(transport_->requests()[2].url,
            "https://graph.microsoft.com/v1.0/users/..%2Fme/onlineMeetings/a%2Fb%3Fc%23d/"
            "attendanceReports/%25%20..");
}

TEST_F(GraphClientTest, SendsTokenAcceptAndAFreshClientRequestId) {
  const std::string body = ReadExample("get-meetingattendancereport-v1.0-webinar-session.json");
  transport_->Enqueue(FakeHttpTransport::Json(200, body));
  transport_->Enqueue(FakeHttpTransport::Json(200, body));
  ASSERT_TRUE(Get().ok());
  ASSERT_TRUE(Get().ok());
  const auto requests = transport_->requests();
  const std::regex uuid_v4("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
  std::set<std::string> ids;
  for (const auto& request : requests) {
    EXPECT_EQ(request.method, "GET");
    EXPECT_EQ(request.deadline, deadline_);
    EXPECT_EQ(FakeHttpTransport::HeaderOf(request, "authorization"), "Bearer token-1");
    EXPECT_EQ(FakeHttpTransport::HeaderOf(request, "accept"), "application/json");
    const std::string id = FakeHttpTransport::HeaderOf(request, "client-request-id");
    EXPECT_TRUE(std::regex_match(id, uuid_v4)) << id;
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 2u);
  EXPECT_EQ(credential_->deadlines(), std::vector<absl::Time>({deadline_, deadline_}));
}

TEST_F(GraphClientTest, TheCallersTraceContextGoesOnToGraphUnchanged) {
  constexpr char kTraceparent[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  for (int i = 0; i < 3; ++i) transport_->Enqueue(FakeHttpTransport::Json(200, R"({"id":"r"})"));
  {
    const TraceContextScope scope(kTraceparent);
    EXPECT_EQ(CurrentTraceparent(), kTraceparent);
    ASSERT_TRUE(Get().ok());
    {
      // Anything that is not a version-00 traceparent is dropped, never forwarded.
      const TraceContextScope bad("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01");
      EXPECT_EQ(CurrentTraceparent(), "");
      ASSERT_TRUE(Get().ok());
    }
    EXPECT_EQ(CurrentTraceparent(), kTraceparent);  // restored
  }
  ASSERT_TRUE(Get().ok());
  const auto requests = transport_->requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(FakeHttpTransport::HeaderOf(requests[0], "traceparent"), kTraceparent);
  EXPECT_EQ(FakeHttpTransport::HeaderOf(requests[1], "traceparent"), "");
  EXPECT_EQ(FakeHttpTransport::HeaderOf(requests[2], "traceparent"), "");
}

TEST(TraceContext, OnlyVersion00TraceparentsAreValid) {
  EXPECT_TRUE(IsValidTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  EXPECT_EQ(TraceIdOf("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"),
            "4bf92f3577b34da6a3ce929d0e0e4736");
  for (const char* bad : {
           "", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
           "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   // unknown version
           "00-00000000000000000000000000000000-00f067aa0ba902b7-01",   // zero trace-id
           "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",   // zero parent-id
           "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",   // not hex
           "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\nx: y"}) {
    EXPECT_FALSE(IsValidTraceparent(bad)) << bad;
    EXPECT_EQ(TraceIdOf(bad), "") << bad;
  }
}

TEST_F(GraphClientTest, ReturnsTheMappedReport) {
  const std::string body =
      ReadExample("get-meetingattendancereport-v1.0-expand-attendancerecords.json");
  transport_->Enqueue(FakeHttpTransport::Json(200, body));
  absl::StatusOr<rollcall::v1::MeetingAttendanceReport> report = Get();
  ASSERT_TRUE(report.ok()) << report.status();
  // The oracle is protobuf's own JSON parser, not the mapping under test.
  absl::StatusOr<rollcall::v1::MeetingAttendanceReport> expected =
      ::rollcall::testing::OracleReport(body);
  ASSERT_TRUE(expected.ok()) << expected.status();
  ASSERT_EQ(expected->attendance_records_size(), 1);  // the oracle read the body, not nothing
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*report, *expected))
      << "got:\n" << report->DebugString() << "\nexpected:\n" << expected->DebugString();
}

TEST_F(GraphClientTest, EmptyIdsAreInvalidWithoutARequest) {
  auto client = Make();
  absl::Status status = client->GetAttendanceReport({"u", "", "r"}, true, deadline_).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Reason(status), "INVALID_ID");
  EXPECT_EQ(Meta(status, "field"), "meeting_id");
  EXPECT_EQ(transport_->request_count(), 0u);
}

// --- status mapping ---------------------------------------------------------------------------

struct StatusCase {
  long http_status;
  absl::StatusCode code;
  const char* reason;
};

class StatusMapping : public GraphClientTest, public ::testing::WithParamInterface<StatusCase> {};

TEST_P(StatusMapping, KeepsGraphsCodeAndRequestIds) {
  const std::string body = R"({"error":{"code":"SomeCode","message":"Something happened.",
      "innerError":{"date":"2024-05-01T10:00:00","request-id":"rid-1",
                    "client-request-id":"cid-from-graph"}}})";
  absl::Status status = StatusFor(FakeHttpTransport::Json(GetParam().http_status, body));
  EXPECT_EQ(status.code(), GetParam().code);
  EXPECT_EQ(Reason(status), GetParam().reason);
  EXPECT_EQ(Meta(status, "graph_code"), "SomeCode");
  EXPECT_EQ(Meta(status, "graph_request_id"), "rid-1");
  EXPECT_EQ(Meta(status, "graph_client_request_id"), "cid-from-graph");
  EXPECT_EQ(Meta(status, "graph_date"), "2024-05-01T10:00:00");
  EXPECT_EQ(Meta(status, "http_status"), std::to_string(GetParam().http_status));
  EXPECT_THAT(Message(status), HasSubstr("SomeCode: Something happened."));
  EXPECT_THAT(Message(status), HasSubstr("HTTP " + std::to_string(GetParam().http_status)));
  EXPECT_FALSE(common::GetErrorDetails(status).retry_after.has_value());
}

INSTANTIATE_TEST_SUITE_P(
    Graph, StatusMapping,
    ::testing::Values(
        StatusCase{400, absl::StatusCode::kInvalidArgument, "GRAPH_BAD_REQUEST"},
        StatusCase{401, absl::StatusCode::kFailedPrecondition, "GRAPH_UNAUTHORIZED"},
        StatusCase{403, absl::StatusCode::kPermissionDenied, "GRAPH_FORBIDDEN"},
        StatusCase{404, absl::StatusCode::kNotFound, "REPORT_NOT_FOUND"},
        StatusCase{429, absl::StatusCode::kResourceExhausted, "GRAPH_THROTTLED"},
        StatusCase{500, absl::StatusCode::kUnavailable, "GRAPH_UNAVAILABLE"},
        StatusCase{502, absl::StatusCode::kUnavailable, "GRAPH_UNAVAILABLE"},
        StatusCase{503, absl::StatusCode::kUnavailable, "GRAPH_UNAVAILABLE"},
        StatusCase{504, absl::StatusCode::kUnavailable, "GRAPH_UNAVAILABLE"},
        StatusCase{204, absl::StatusCode::kUnknown, "GRAPH_ERROR"},
        StatusCase{302, absl::StatusCode::kUnknown, "GRAPH_ERROR"},
        StatusCase{409, absl::StatusCode::kUnknown, "GRAPH_ERROR"},
        StatusCase{418, absl::StatusCode::kUnknown, "GRAPH_ERROR"}),
    [](const auto& info) { return "Http" + std::to_string(info.param.http_status); });

TEST_F(GraphClientTest, SharedErrorExamplesKeepTheirRequestIds) {
  absl::Status status = StatusFor(FakeHttpTransport::Json(
      429, ReadExample("graph-error-429-throttling.json"), {{"retry-after", "2.128"}}));
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(Meta(status, "graph_code"), "TooManyRequests");
  EXPECT_EQ(Meta(status, "graph_request_id"), "94fb3b52-452a-4535-a601-69e0a90e3aa2");
  EXPECT_EQ(Meta(status, "graph_date"), "2020-08-18T12:51:51");
  EXPECT_EQ(common::GetErrorDetails(status).retry_after, absl::Milliseconds(2128));

  status = StatusFor(
      FakeHttpTransport::Json(403, ReadExample("graph-error-app-access-policy-missing.json")));
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Meta(status, "graph_code"), "Unauthorized");
  EXPECT_EQ(Meta(status, "graph_request_id"), "599d9cb0-56ac-4dc5-b6f8-1456a1414609");

  status =
      StatusFor(FakeHttpTransport::Json(400, ReadExample("graph-error-errors-md-example.json")));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Meta(status, "graph_code"), "invalidRange");
}

TEST_F(GraphClientTest, HeadersFillInWhatTheBodyLacks) {
  absl::Status status = StatusFor(FakeHttpTransport::Json(
      503, "<html>Service Unavailable</html>",
      {{"request-id", "rid-header"}, {"date", "Wed, 21 Oct 2015 07:28:00 GMT"}}));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Meta(status, "graph_request_id"), "rid-header");
  EXPECT_EQ(Meta(status, "graph_date"), "Wed, 21 Oct 2015 07:28:00 GMT");
  EXPECT_EQ(Meta(status, "graph_code"), "<absent>");
  // Our own client-request-id, as sent.
  EXPECT_EQ(Meta(status, "graph_client_request_id"),
            FakeHttpTransport::HeaderOf(transport_->requests().back(), "client-request-id"));
  EXPECT_THAT(Message(status), HasSubstr("no Graph error body"));

  status = StatusFor(FakeHttpTransport::Json(
      404,
      R"({"error":{"code":"NotFound","message":"gone","innerError":{"request-id":"rid-body"}}})",
      {{"request-id", "rid-header"}}));
  EXPECT_EQ(Meta(status, "graph_request_id"), "rid-body");
}

TEST_F(GraphClientTest, UnauthorizedDropsTheTokenAndTriesOnceMore) {
  transport_->Enqueue(FakeHttpTransport::Json(
      401,
      R"({"error":{"code":"InvalidAuthenticationToken","message":"Access token has expired."}})"));
  transport_->Enqueue(FakeHttpTransport::Json(200, R"({"id":"r"})"));
  auto client = Make();
  absl::StatusOr<rollcall::v1::MeetingAttendanceReport> report =
      client->GetAttendanceReport(kRef, true, deadline_);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(credential_->invalidated(), std::vector<std::string>{"token-1"});
  const auto requests = transport_->requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(FakeHttpTransport::HeaderOf(requests[0], "authorization"), "Bearer token-1");
  EXPECT_EQ(FakeHttpTransport::HeaderOf(requests[1], "authorization"), "Bearer token-2");
  EXPECT_EQ(credential_->deadlines().size(), 2u);  // a token asked for per request
  EXPECT_TRUE(clock_.sleeps().empty());             // no backoff before the repeat
  const GraphClientStats stats = client->Stats();
  EXPECT_EQ(stats.token_refreshes, 1u);
  EXPECT_EQ(stats.http_requests, 2u);
  EXPECT_EQ(stats.retries, 1u);
}

TEST_F(GraphClientTest, ASecondUnauthorizedIsTheCallersError) {
  const HttpResponse unauthorized = FakeHttpTransport::Json(
      401, R"({"error":{"code":"InvalidAuthenticationToken","message":"Signature invalid."}})");
  transport_->SetHandler([&](const HttpRequest&) { return unauthorized; });
  auto client = Make();
  absl::Status status = client->GetAttendanceReport(kRef, true, deadline_).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Reason(status), "GRAPH_UNAUTHORIZED");
  EXPECT_THAT(Message(status), HasSubstr("Signature invalid."));
  EXPECT_THAT(Message(status), HasSubstr("Check that graph_scope is Graph's"));
  EXPECT_THAT(Message(status), Not(HasSubstr("will not fetch")));
  EXPECT_EQ(transport_->request_count(), 2u);
  EXPECT_EQ(credential_->deadlines().size(), 2u);
  // The refusal of the repeat's token is told to the credential too, which decides whether to
  // keep it (a CachingTokenCredential backs off) or drop it (this one does: counted).
  EXPECT_EQ(credential_->invalidated(), (std::vector<std::string>{"token-1", "token-2"}));
  EXPECT_EQ(client->Stats().token_refreshes, 2u);
}

TEST_F(GraphClientTest, AnUnauthorizedDuringTheCredentialsBackoffSaysUntilWhen) {
  const HttpResponse unauthorized = FakeHttpTransport::Json(
      401, R"({"error":{"code":"InvalidAuthenticationToken",)"
           R"("message":"Access token validation failure. Invalid audience."}})");
  transport_->SetHandler([&](const HttpRequest&) { return unauthorized; });
  credential_->BackOff(clock_.Now() + absl::Seconds(30) + absl::Milliseconds(1),
                       absl::Seconds(30));
  auto client = Make();
  absl::Status status = client->GetAttendanceReport(kRef, true, deadline_).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Reason(status), "GRAPH_UNAUTHORIZED");
  // Graph's words, the back-off (the instant rounded up to the second: 22:13:20Z + 30.001 s)
  // and what to fix.
  EXPECT_THAT(Message(status), HasSubstr("Invalid audience."));
  EXPECT_THAT(Message(status),
              HasSubstr("Graph refused the token fetched to replace a refused one too, so "
                        "Rollcall keeps it and will not fetch another token before "
                        "2023-11-14T22:13:51Z (a back-off of 30s"));
  EXPECT_THAT(Message(status), HasSubstr("AZURE_TENANT_ID"));
  EXPECT_THAT(Message(status), Not(HasSubstr("token-1")));
  // No repeat: the credential would hand out the same token.
  EXPECT_EQ(transport_->request_count(), 1u);
  EXPECT_EQ(credential_->invalidated(), std::vector<std::string>{"token-1"});
  EXPECT_EQ(client->Stats().token_refreshes, 0u);  // nothing was dropped
  EXPECT_TRUE(clock_.sleeps().empty());
}

TEST_F(GraphClientTest, UnauthorizedIsNotRepeatedWithoutTimeForIt) {
  transport_->SetHandler(
      [](const HttpRequest&) { return FakeHttpTransport::Json(401, "{}"); });
  absl::Status status =
      Make()->GetAttendanceReport(kRef, true, clock_.Now() + absl::Milliseconds(40)).status();
  EXPECT_EQ(Reason(status), "GRAPH_UNAUTHORIZED");
  EXPECT_EQ(transport_->request_count(), 1u);
  EXPECT_EQ(credential_->invalidated(), std::vector<std::string>{"token-1"});  // still dropped
}

TEST_F(GraphClientTest, ForbiddenExplainsWhatToCheck) {
  absl::Status status = StatusFor(FakeHttpTransport::Json(
      403, ReadExample("graph-error-app-access-policy-missing.json")));
  EXPECT_THAT(Message(status), HasSubstr("application access policy"));
  EXPECT_THAT(Message(status), HasSubstr("OnlineMeetingArtifact.Read.All"));
  EXPECT_THAT(Message(status), HasSubstr("organizer"));
  EXPECT_TRUE(credential_->invalidated().empty());
}

TEST_F(GraphClientTest, RetryAfterInEveryForm) {
  struct Case {
    long http_status;
    HttpHeaders headers;
    std::optional<absl::Duration> expected;
  };
  const std::vector<Case> cases = {
      {429, {{"retry-after", "10"}}, absl::Seconds(10)},
      {429, {{"retry-after", "2.128"}}, absl::Milliseconds(2128)},
      {429,
       {{"date", "Wed, 21 Oct 2015 07:28:00 GMT"},
        {"retry-after", "Wed, 21 Oct 2015 07:28:42 GMT"}},
       absl::Seconds(42)},
      {429, {}, std::nullopt},
      {429, {{"retry-after", "soon"}}, std::nullopt},
      {503, {{"retry-after", "3"}}, absl::Seconds(3)},
      {503, {}, std::nullopt},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.http_status);
    absl::Status status = StatusFor(FakeHttpTransport::Json(c.http_status, "{}", c.headers));
    EXPECT_EQ(common::GetErrorDetails(status).retry_after, c.expected);
  }
}

TEST_F(GraphClientTest, BodiesThatAreNotReportsAreBadResponses) {
  absl::Status status = StatusFor(FakeHttpTransport::Json(200, "{\"id\":"));
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(Reason(status), "GRAPH_BAD_RESPONSE");
  EXPECT_THAT(Message(status), HasSubstr("Graph returned a body that is not a "
                                         "meetingAttendanceReport: malformed JSON"));

  status = StatusFor(FakeHttpTransport::Json(200, R"({"id":"r","totalParticipantCount":"2"})"));
  EXPECT_THAT(Message(status), HasSubstr("totalParticipantCount: expected a number"));

  HttpResponse html;
  html.status = 200;
  html.headers = {{"content-type", "text/html; charset=utf-8"}};
  html.body = "<html>Sign in</html>";
  status = StatusFor(html);
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(Reason(status), "GRAPH_BAD_RESPONSE");
  EXPECT_THAT(Message(status), HasSubstr("not a meetingAttendanceReport: Content-Type text/html"));

  HttpResponse odata = FakeHttpTransport::Json(200, R"({"id":"r"})");
  odata.headers = {{"content-type", "application/json;odata.metadata=minimal;charset=utf-8"}};
  transport_->Enqueue(odata);
  EXPECT_TRUE(Get().ok());
  odata.headers.clear();  // no Content-Type at all: parse and see
  transport_->Enqueue(odata);
  EXPECT_TRUE(Get().ok());
}

TEST_F(GraphClientTest, TransportAndCredentialErrors) {
  transport_->Enqueue(absl::UnavailableError("connect refused"));
  absl::Status status = Get().status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Reason(status), "GRAPH_UNAVAILABLE");
  EXPECT_THAT(Message(status), HasSubstr("connect refused"));

  transport_->Enqueue(absl::DeadlineExceededError("timed out"));
  status = Get().status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(Reason(status), "GRAPH_UNAVAILABLE");

  transport_->Enqueue(absl::ResourceExhaustedError("response body exceeds 10 bytes"));
  status = Get().status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(Reason(status), "GRAPH_BAD_RESPONSE");

  const std::size_t before = transport_->request_count();
  credential_->Fail(common::MakeError(absl::StatusCode::kFailedPrecondition, "rejected",
                              {"CREDENTIALS_REJECTED", {}, std::nullopt}));
  status = Get().status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Reason(status), "CREDENTIALS_REJECTED");
  EXPECT_EQ(transport_->request_count(), before);
}

// --- paging -----------------------------------------------------------------------------------

std::string RecordsPage(const std::vector<std::string>& roles, const std::string& next_link) {
  std::string body = R"({"value":[)";
  for (std::size_t i = 0; i < roles.size(); ++i) {
    body += (i ? "," : "") + std::string(R"({"role":")") + roles[i] + "\"}";
  }
  body += "]";
  if (!next_link.empty()) body += R"(,"@odata.nextLink":")" + next_link + "\"";
  return body + "}";
}

TEST_F(GraphClientTest, FollowsNextLinksAndAppendsPages) {
  const std::string page2 = std::string(kReportUrl) + "/attendanceRecords?$skiptoken=p2";
  const std::string page3 = std::string(kReportUrl) + "/attendanceRecords?$skiptoken=p3";
  transport_->Enqueue(FakeHttpTransport::Json(
      200, R"({"id":"r","attendanceRecords":[{"role":"Organizer"}],
              "attendanceRecords@odata.nextLink":")" + page2 + "\"}"));
  transport_->Enqueue(FakeHttpTransport::Json(200, RecordsPage({"Presenter", "Attendee"}, page3)));
  transport_->Enqueue(FakeHttpTransport::Json(200, RecordsPage({"None"}, "")));

  absl::StatusOr<rollcall::v1::MeetingAttendanceReport> report = Get();
  ASSERT_TRUE(report.ok()) << report.status();
  std::vector<std::string> roles;
  for (const auto& record : report->attendance_records()) roles.push_back(record.role());
  EXPECT_EQ(roles, (std::vector<std::string>{"Organizer", "Presenter", "Attendee", "None"}));
  const auto requests = transport_->requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[1].url, page2);
  EXPECT_EQ(requests[2].url, page3);
  for (const auto& request : requests) {
    EXPECT_EQ(FakeHttpTransport::HeaderOf(request, "authorization"), "Bearer token-1");
  }
  EXPECT_NE(FakeHttpTransport::HeaderOf(requests[1], "client-request-id"),
            FakeHttpTransport::HeaderOf(requests[2], "client-request-id"));
}

// The server builds each report on an arena: pages append the same records there, and a page
// that fails leaves the report empty.
TEST_F(GraphClientTest, AReportOnAnArenaGetsEveryPageAndIsClearedOnAnError) {
  const std::string page2 = std::string(kReportUrl) + "/attendanceRecords?$skiptoken=p2";
  transport_->Enqueue(FakeHttpTransport::Json(
      200, R"({"id":"r","attendanceRecords":[{"role":"Organizer","emailAddress":"o@contoso.com"}],
              "attendanceRecords@odata.nextLink":")" + page2 + "\"}"));
  transport_->Enqueue(FakeHttpTransport::Json(200, RecordsPage({"Presenter", "Attendee"}, "")));
  google::protobuf::Arena arena;
  auto* report =
      google::protobuf::Arena::CreateMessage<rollcall::v1::MeetingAttendanceReport>(&arena);
  report->set_id("left over from before");
  std::unique_ptr<GraphClient> client = Make();
  ASSERT_TRUE(client->GetAttendanceReport(kRef, true, deadline_, report).ok());
  EXPECT_EQ(report->id(), "r");
  ASSERT_EQ(report->attendance_records_size(), 3);
  EXPECT_EQ(report->attendance_records(0).email_address(), "o@contoso.com");
  EXPECT_EQ(report->attendance_records(2).role(), "Attendee");
  for (const auto& record : report->attendance_records()) {
    EXPECT_EQ(record.GetArena(), &arena);
  }

  transport_->Enqueue(FakeHttpTransport::Json(
      200, R"({"id":"r2","attendanceRecords":[{"role":"Organizer"}],
              "attendanceRecords@odata.nextLink":")" + page2 + "\"}"));
  transport_->Enqueue(FakeHttpTransport::Json(200, "<html>not a page</html>"));
  EXPECT_FALSE(client->GetAttendanceReport(kRef, true, deadline_, report).ok());
  EXPECT_EQ(report->ByteSizeLong(), 0u);
}

TEST_F(GraphClientTest, RefusesNextLinksToAnotherOrigin) {
  for (const char* link : {"https://evil.example/v1.0/steal", "http://graph.microsoft.com/v1.0/x",
                           "https://graph.microsoft.com.evil.example/v1.0/x",
                           "https://graph.microsoft.com@evil.example/v1.0/x",
                           "https://graph.microsoft.com:8443/v1.0/x", "/v1.0/relative"}) {
    SCOPED_TRACE(link);
    const std::size_t before = transport_->request_count();
    transport_->Enqueue(FakeHttpTransport::Json(
        200, std::string(R"({"id":"r","attendanceRecords@odata.nextLink":")") + link + "\"}"));
    absl::Status status = Get().status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
    EXPECT_EQ(Reason(status), "GRAPH_BAD_RESPONSE");
    EXPECT_THAT(Message(status), HasSubstr("refusing to follow"));
    EXPECT_EQ(transport_->request_count(), before + 1);  // the token never went there
  }
}

TEST_F(GraphClientTest, APageErrorFailsTheWholeReport) {
  const std::string page2 = std::string(kReportUrl) + "/attendanceRecords?$skiptoken=p2";
  transport_->Enqueue(FakeHttpTransport::Json(
      200, R"({"id":"r","attendanceRecords@odata.nextLink":")" + page2 + "\"}"));
  transport_->Enqueue(FakeHttpTransport::Json(503, "{}"));
  EXPECT_EQ(Get().status().code(), absl::StatusCode::kUnavailable);

  transport_->Enqueue(FakeHttpTransport::Json(
      200, R"({"id":"r","attendanceRecords@odata.nextLink":")" + page2 + "\"}"));
  transport_->Enqueue(FakeHttpTransport::Json(200, R"({"value":[{"role":1}]})"));
  absl::Status status = Get().status();
  EXPECT_EQ(Reason(status), "GRAPH_BAD_RESPONSE");
  EXPECT_THAT(Message(status), HasSubstr("not an attendanceRecord page: value[0].role"));
}

TEST_F(GraphClientTest, AnEndlessNextLinkChainStops) {
  const std::string loop = std::string(kReportUrl) + "/attendanceRecords?$skiptoken=again";
  transport_->SetHandler([&](const HttpRequest& request) -> absl::StatusOr<HttpResponse> {
    if (request.url == loop) return FakeHttpTransport::Json(200, RecordsPage({"Attendee"}, loop));
    return FakeHttpTransport::Json(
        200, R"({"id":"r","attendanceRecords@odata.nextLink":")" + loop + "\"}");
  });
  absl::Status status = Get().status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(Reason(status), "GRAPH_BAD_RESPONSE");
  EXPECT_EQ(transport_->request_count(), 1001u);  // the report and 1000 pages
}

// --- retries ----------------------------------------------------------------------------------

HttpResponse Throttled(const std::string& retry_after) {
  HttpHeaders headers;
  if (!retry_after.empty()) headers.emplace_back("retry-after", retry_after);
  return FakeHttpTransport::Json(429, ReadExample("graph-error-429-throttling.json"), headers);
}

HttpResponse Report() { return FakeHttpTransport::Json(200, R"({"id":"r"})"); }

// An UNAVAILABLE from the transport, marked with how far the exchange got.
absl::Status TransportFailed(TransportFailure failure) {
  return WithTransportFailure(absl::UnavailableError("HTTP GET to https://graph.microsoft.com "
                                                     "failed: Connection refused"),
                              failure);
}

TEST_F(GraphClientTest, ThrottledThenServedWaitsExactlyTheRetryAfter) {
  transport_->Enqueue(Throttled("1"));
  transport_->Enqueue(Report());
  auto client = Make();
  absl::StatusOr<rollcall::v1::MeetingAttendanceReport> report =
      client->GetAttendanceReport(kRef, true, deadline_);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->id(), "r");
  EXPECT_EQ(transport_->request_count(), 2u);
  EXPECT_EQ(clock_.sleeps(), std::vector<absl::Duration>{absl::Seconds(1)});
  const GraphClientStats stats = client->Stats();
  EXPECT_EQ(stats.http_requests, 2u);
  EXPECT_EQ(stats.retries, 1u);
  EXPECT_EQ(stats.throttled, 1u);
  EXPECT_EQ(stats.server_errors, 0u);
  EXPECT_EQ(stats.transport_errors, 0u);
  EXPECT_EQ(stats.bad_responses, 0u);
  EXPECT_EQ(stats.token_refreshes, 0u);
}

TEST_F(GraphClientTest, FractionalRetryAfterIsKeptToTheMillisecond) {
  transport_->Enqueue(Throttled("2.128"));
  transport_->Enqueue(Report());
  ASSERT_TRUE(Get().ok());
  EXPECT_EQ(clock_.sleeps(), std::vector<absl::Duration>{absl::Milliseconds(2128)});
}

TEST_F(GraphClientTest, HttpDateRetryAfterCountsFromGraphsDateOrOurClock) {
  // No Date header: from the clock's now.
  transport_->Enqueue(Throttled(absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT",
                                                 clock_.Now() + absl::Seconds(3),
                                                 absl::UTCTimeZone())));
  transport_->Enqueue(Report());
  ASSERT_TRUE(Get().ok());
  EXPECT_EQ(clock_.sleeps(), std::vector<absl::Duration>{absl::Seconds(3)});

  // With Graph's Date: from that, whatever our clock says.
  HttpResponse throttled = Throttled("Wed, 21 Oct 2015 07:28:04 GMT");
  throttled.headers.emplace_back("date", "Wed, 21 Oct 2015 07:28:00 GMT");
  transport_->Enqueue(throttled);
  transport_->Enqueue(Report());
  ASSERT_TRUE(Get().ok());
  EXPECT_EQ(clock_.sleeps(),
            (std::vector<absl::Duration>{absl::Seconds(3), absl::Seconds(4)}));
}

TEST_F(GraphClientTest, ServiceUnavailableAndGatewayTimeoutAreRetried) {
  transport_->Enqueue(FakeHttpTransport::Json(503, "{}"));
  transport_->Enqueue(FakeHttpTransport::Json(504, "<html>Gateway Timeout</html>"));
  transport_->Enqueue(FakeHttpTransport::Json(503, "{}", {{"retry-after", "7"}}));
  transport_->Enqueue(Report());
  auto client = Make();
  ASSERT_TRUE(client->GetAttendanceReport(kRef, true, deadline_).ok());
  EXPECT_EQ(transport_->request_count(), 4u);
  // Backoff 500 ms * 2^(n-1), equal jitter at 0: half of it; then Graph's Retry-After.
  EXPECT_EQ(clock_.sleeps(), (std::vector<absl::Duration>{
                                 absl::Milliseconds(250), absl::Milliseconds(500),
                                 absl::Seconds(7)}));
  EXPECT_EQ(client->Stats().server_errors, 3u);
  EXPECT_EQ(client->Stats().retries, 3u);
}

TEST_F(GraphClientTest, OtherStatusesAreNotRetried) {
  for (long http_status : {500L, 502L, 400L, 401L, 403L, 404L, 409L}) {
    SCOPED_TRACE(http_status);
    transport_ = std::make_shared<FakeHttpTransport>();
    transport_->SetHandler([http_status](const HttpRequest&) {
      return FakeHttpTransport::Json(http_status, "{}", {{"retry-after", "1"}});
    });
    EXPECT_FALSE(Get().ok());
    // A 401 is repeated once with a new token, without waiting; the others are final.
    EXPECT_EQ(transport_->request_count(), http_status == 401 ? 2u : 1u);
    EXPECT_TRUE(clock_.sleeps().empty());
  }
}

TEST_F(GraphClientTest, BackoffGrowsExponentiallyWithJitterUpToTheCap) {
  options_.retry = {6, absl::Seconds(1), absl::Seconds(8), [] { return 0.5; }};
  transport_->SetHandler(
      [](const HttpRequest&) { return FakeHttpTransport::Json(503, "{}"); });
  auto client = Make();
  absl::Status status =
      client->GetAttendanceReport(kRef, true, clock_.Now() + absl::Minutes(5)).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(transport_->request_count(), 6u);
  // Steps 1, 2, 4, 8, 8 s; each wait is 3/4 of its step.
  EXPECT_EQ(clock_.sleeps(), (std::vector<absl::Duration>{
                                 absl::Milliseconds(750), absl::Milliseconds(1500),
                                 absl::Seconds(3), absl::Seconds(6), absl::Seconds(6)}));
  EXPECT_EQ(client->Stats().retries, 5u);
}

TEST_F(GraphClientTest, ExhaustedRetriesReturnTheLastThrottleWithGraphsDelay) {
  int calls = 0;
  transport_->SetHandler([&](const HttpRequest&) {
    ++calls;
    HttpResponse response = Throttled(calls < 4 ? "1" : "2.5");
    response.headers.emplace_back("request-id", "rid-" + std::to_string(calls));
    return response;
  });
  auto client = Make();  // 4 attempts
  absl::Status status = client->GetAttendanceReport(kRef, true, deadline_).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(Reason(status), "GRAPH_THROTTLED");
  EXPECT_EQ(common::GetErrorDetails(status).retry_after, absl::Milliseconds(2500));
  EXPECT_EQ(Meta(status, "http_status"), "429");
  EXPECT_EQ(Meta(status, "graph_code"), "TooManyRequests");
  EXPECT_EQ(transport_->request_count(), 4u);
  EXPECT_EQ(clock_.sleeps(), std::vector<absl::Duration>(3, absl::Seconds(1)));
  EXPECT_EQ(client->Stats().throttled, 4u);
  EXPECT_EQ(client->Stats().retries, 3u);
}

TEST_F(GraphClientTest, ARetryAfterBeyondMaxBackoffIsPassedOnNotCutShort) {
  options_.retry.max_attempts = 2;
  options_.retry.max_backoff = absl::Seconds(5);
  transport_->SetHandler([](const HttpRequest&) { return Throttled("60"); });
  absl::Status status = Get().status();
  EXPECT_TRUE(clock_.sleeps().empty());
  EXPECT_EQ(transport_->request_count(), 1u);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(common::GetErrorDetails(status).retry_after, absl::Seconds(60));
}

TEST_F(GraphClientTest, ARetryAfterPastTheDeadlineEndsTheCallAtOnce) {
  transport_->SetHandler([](const HttpRequest&) { return Throttled("2"); });
  const absl::Time start = clock_.Now();
  absl::Status status =
      Make()->GetAttendanceReport(kRef, true, start + absl::Seconds(1)).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);  // not DEADLINE_EXCEEDED
  EXPECT_EQ(Reason(status), "GRAPH_THROTTLED");
  EXPECT_EQ(common::GetErrorDetails(status).retry_after, absl::Seconds(2));
  EXPECT_EQ(transport_->request_count(), 1u);
  EXPECT_TRUE(clock_.sleeps().empty());
  EXPECT_EQ(clock_.Now(), start);
}

TEST_F(GraphClientTest, AWaitMustLeaveTimeForTheAttemptAfterIt) {
  transport_->SetHandler([](const HttpRequest&) { return Throttled("1"); });
  // 1 s wait + 50 ms for the attempt fit exactly; 1 ns less does not.
  Make()->GetAttendanceReport(kRef, true, clock_.Now() + absl::Milliseconds(1050)).IgnoreError();
  EXPECT_EQ(transport_->request_count(), 2u);
  transport_ = std::make_shared<FakeHttpTransport>();
  transport_->SetHandler([](const HttpRequest&) { return Throttled("1"); });
  Make()
      ->GetAttendanceReport(kRef, true,
                            clock_.Now() + absl::Milliseconds(1050) - absl::Nanoseconds(1))
      .IgnoreError();
  EXPECT_EQ(transport_->request_count(), 1u);
}

TEST_F(GraphClientTest, WaitsNeverRunPastTheDeadline) {
  options_.retry = {10, absl::Seconds(1), absl::Seconds(30), [] { return 0.0; }};
  transport_->SetHandler(
      [](const HttpRequest&) { return FakeHttpTransport::Json(503, "{}"); });
  const absl::Time start = clock_.Now();
  const absl::Time deadline = start + absl::Seconds(10);
  absl::Status status = Make()->GetAttendanceReport(kRef, true, deadline).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Reason(status), "GRAPH_UNAVAILABLE");
  // 0.5 + 1 + 2 + 4 = 7.5 s; the next wait (8 s) would end past the deadline.
  EXPECT_EQ(clock_.sleeps(), (std::vector<absl::Duration>{
                                 absl::Milliseconds(500), absl::Seconds(1), absl::Seconds(2),
                                 absl::Seconds(4)}));
  EXPECT_EQ(transport_->request_count(), 5u);
  EXPECT_LE(clock_.Now(), deadline);
  for (const HttpRequest& request : transport_->requests()) EXPECT_EQ(request.deadline, deadline);
  for (absl::Time token_deadline : credential_->deadlines()) EXPECT_EQ(token_deadline, deadline);
}

TEST_F(GraphClientTest, RetriesKeepTheClientRequestIdAndCountTheAttempt) {
  transport_->Enqueue(FakeHttpTransport::Json(503, "{}"));
  transport_->Enqueue(Throttled("0"));
  transport_->Enqueue(Report());
  ASSERT_TRUE(Get().ok());
  const auto requests = transport_->requests();
  ASSERT_EQ(requests.size(), 3u);
  const std::string id = FakeHttpTransport::HeaderOf(requests[0], "client-request-id");
  EXPECT_FALSE(id.empty());
  EXPECT_EQ(FakeHttpTransport::HeaderOf(requests[0], "retry-attempt"), "");
  for (std::size_t i = 1; i < requests.size(); ++i) {
    EXPECT_EQ(FakeHttpTransport::HeaderOf(requests[i], "client-request-id"), id);
    EXPECT_EQ(FakeHttpTransport::HeaderOf(requests[i], "retry-attempt"), std::to_string(i));
    EXPECT_EQ(requests[i].url, requests[0].url);
  }
  // The next call is another logical request: a new id.
  transport_->Enqueue(Report());
  ASSERT_TRUE(Get().ok());
  EXPECT_NE(FakeHttpTransport::HeaderOf(transport_->requests().back(), "client-request-id"), id);
}

TEST_F(GraphClientTest, AnErrorCarriesTheClientRequestIdOfItsRetries) {
  transport_->SetHandler(
      [](const HttpRequest&) { return FakeHttpTransport::Json(504, "{}"); });
  absl::Status status = Get().status();
  EXPECT_EQ(Meta(status, "graph_client_request_id"),
            FakeHttpTransport::HeaderOf(transport_->requests().front(), "client-request-id"));
}

TEST_F(GraphClientTest, ConnectionFailuresBeforeAResponseAreRetried) {
  transport_->Enqueue(TransportFailed(TransportFailure::kBeforeResponse));
  transport_->Enqueue(TransportFailed(TransportFailure::kBeforeResponse));
  transport_->Enqueue(Report());
  auto client = Make();
  ASSERT_TRUE(client->GetAttendanceReport(kRef, true, deadline_).ok());
  EXPECT_EQ(transport_->request_count(), 3u);
  EXPECT_EQ(clock_.sleeps(), (std::vector<absl::Duration>{absl::Milliseconds(250),
                                                          absl::Milliseconds(500)}));
  EXPECT_EQ(client->Stats().transport_errors, 2u);

  // Still failing when attempts run out: the last network error.
  transport_->SetHandler([](const HttpRequest&) -> absl::StatusOr<HttpResponse> {
    return TransportFailed(TransportFailure::kBeforeResponse);
  });
  absl::Status status = client->GetAttendanceReport(kRef, true, deadline_).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Reason(status), "GRAPH_UNAVAILABLE");
  EXPECT_THAT(Message(status), HasSubstr("could not reach Graph"));
  EXPECT_THAT(Message(status), HasSubstr("Connection refused"));
  EXPECT_EQ(transport_->request_count(), 3u + 4u);
}

TEST_F(GraphClientTest, ABodyCutShortIsNotRetried) {
  transport_->Enqueue(TransportFailed(TransportFailure::kTruncatedBody));
  transport_->Enqueue(Report());
  auto client = Make();
  absl::Status status = client->GetAttendanceReport(kRef, true, deadline_).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Reason(status), "GRAPH_UNAVAILABLE");
  EXPECT_THAT(Message(status),
              HasSubstr("Graph closed the connection before the whole body arrived"));
  EXPECT_EQ(transport_->request_count(), 1u);
  EXPECT_EQ(client->Stats().transport_errors, 1u);

  // Unclassified network errors and timeouts are not retried either.
  transport_ = std::make_shared<FakeHttpTransport>();
  transport_->Enqueue(absl::UnavailableError("HTTP/2 stream error"));
  transport_->Enqueue(absl::DeadlineExceededError("timed out"));
  client = Make();
  EXPECT_EQ(client->GetAttendanceReport(kRef, true, deadline_).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(client->GetAttendanceReport(kRef, true, deadline_).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(transport_->request_count(), 2u);
  EXPECT_EQ(client->Stats().transport_errors, 2u);
  EXPECT_TRUE(clock_.sleeps().empty());
}

// Issues one token, then fails: the token endpoint went down between two attempts.
class FailingAfterFirstToken final : public TokenCredential {
 public:
  absl::StatusOr<AccessToken> GetToken(absl::Time) override {
    if (calls_.fetch_add(1) == 0) return AccessToken{"t", absl::InfiniteFuture()};
    return common::MakeError(absl::StatusCode::kUnavailable, "token endpoint down",
                     {"TOKEN_ENDPOINT_ERROR", {}, std::nullopt});
  }
  Invalidation Invalidate(const std::string&) override {
    return {Invalidation::Outcome::kStale};
  }

 private:
  std::atomic<int> calls_{0};
};

TEST_F(GraphClientTest, ACredentialErrorBetweenAttemptsEndsTheCall) {
  transport_->Enqueue(Throttled("1"));
  transport_->Enqueue(Report());  // never reached: no request goes without a token
  absl::Status status =
      MakeGraphClient(options_, transport_, std::make_shared<FailingAfterFirstToken>(), &clock_)
          ->GetAttendanceReport(kRef, true, deadline_)
          .status();
  EXPECT_EQ(Reason(status), "TOKEN_ENDPOINT_ERROR");
  EXPECT_EQ(transport_->request_count(), 1u);
}

TEST_F(GraphClientTest, AThrottledPageIsRetriedAlone) {
  const std::string page2 = std::string(kReportUrl) + "/attendanceRecords?$skiptoken=p2";
  transport_->Enqueue(FakeHttpTransport::Json(
      200, R"({"id":"r","attendanceRecords":[{"role":"Organizer"}],
              "attendanceRecords@odata.nextLink":")" + page2 + "\"}"));
  transport_->Enqueue(Throttled("1"));
  transport_->Enqueue(FakeHttpTransport::Json(200, RecordsPage({"Attendee"}, "")));
  auto client = Make();
  absl::StatusOr<rollcall::v1::MeetingAttendanceReport> report =
      client->GetAttendanceReport(kRef, true, deadline_);
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->attendance_records_size(), 2);
  EXPECT_EQ(report->attendance_records(1).role(), "Attendee");
  const auto requests = transport_->requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[1].url, page2);
  EXPECT_EQ(requests[2].url, page2);
  EXPECT_EQ(FakeHttpTransport::HeaderOf(requests[2], "retry-attempt"), "1");
  EXPECT_EQ(FakeHttpTransport::HeaderOf(requests[1], "client-request-id"),
            FakeHttpTransport::HeaderOf(requests[2], "client-request-id"));
  EXPECT_NE(FakeHttpTransport::HeaderOf(requests[0], "client-request-id"),
            FakeHttpTransport::HeaderOf(requests[1], "client-request-id"));
  EXPECT_EQ(clock_.sleeps(), std::vector<absl::Duration>{absl::Seconds(1)});
  EXPECT_EQ(client->Stats().http_requests, 3u);
}

// --- hostile bodies ---------------------------------------------------------------------------

TEST_F(GraphClientTest, HostileBodiesAreBadResponsesNeverRetried) {
  HttpResponse html;
  html.status = 200;
  html.headers = {{"content-type", "text/html; charset=utf-8"}};
  html.body = "<!DOCTYPE html><html><body>Sign in to your account</body></html>";
  const std::string deep = R"({"id":"r","x":)" + std::string(100000, '[') +
                           std::string(100000, ']') + "}";
  struct Case {
    const char* name;
    absl::StatusOr<HttpResponse> response;
    const char* says;
  };
  const std::vector<Case> cases = {
      {"truncated JSON", FakeHttpTransport::Json(200, R"({"id":"r","attendanceRec)"),
       "malformed JSON"},
      {"wrong type", FakeHttpTransport::Json(200, R"({"id":"r","attendanceRecords":{}})"),
       "attendanceRecords"},
      {"not an object", FakeHttpTransport::Json(200, "[1,2,3]"), "not a meetingAttendanceReport"},
      {"HTML page", html, "Content-Type text/html"},
      {"deep nesting", FakeHttpTransport::Json(200, deep), "nested deeper than"},
      {"NUL byte", FakeHttpTransport::Json(200, std::string("{\"id\":\"r\"}\0{}", 13)),
       "malformed JSON"},
      {"invalid UTF-8", FakeHttpTransport::Json(200, "{\"id\":\"\xff\xfe\"}"), "malformed JSON"},
      {"over the size cap",
       absl::ResourceExhaustedError("HTTP GET to https://graph.microsoft.com: response body "
                                    "exceeds 67108864 bytes"),
       "too large"},
  };
  auto client = Make();
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::size_t before = transport_->request_count();
    transport_->Enqueue(c.response);
    transport_->Enqueue(Report());  // a retry would succeed: there must be none
    absl::Status status = client->GetAttendanceReport(kRef, true, deadline_).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
    EXPECT_EQ(Reason(status), "GRAPH_BAD_RESPONSE");
    EXPECT_THAT(Message(status), HasSubstr(c.says));
    EXPECT_EQ(transport_->request_count(), before + 1);
    ASSERT_TRUE(client->GetAttendanceReport(kRef, true, deadline_).ok());  // drains the queue
  }
  EXPECT_EQ(client->Stats().bad_responses, cases.size());
  EXPECT_EQ(client->Stats().retries, 0u);
  EXPECT_TRUE(clock_.sleeps().empty());
}

TEST_F(GraphClientTest, RefusedNextLinksCountAsBadResponses) {
  transport_->Enqueue(FakeHttpTransport::Json(
      200, R"({"id":"r","attendanceRecords@odata.nextLink":"https://evil.example/x"})"));
  auto client = Make();
  EXPECT_EQ(Reason(client->GetAttendanceReport(kRef, true, deadline_).status()),
            "GRAPH_BAD_RESPONSE");
  EXPECT_EQ(client->Stats().bad_responses, 1u);
}

TEST_F(GraphClientTest, StatsAreSafeToReadConcurrently) {
  transport_->SetHandler([](const HttpRequest&) { return Report(); });
  auto client = Make();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        EXPECT_TRUE(client->GetAttendanceReport(kRef, false, deadline_).ok());
        client->Stats();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(client->Stats().http_requests, 200u);
}

// --- report sources -----------------------------------------------------------------------------

TEST_F(GraphClientTest, EachSourceHasItsPathWithEveryIdOneSegment) {
  struct Case {
    ReportSource source;
    const char* reports;  // the reports collection's URL
  };
  const Case cases[] = {
      {ReportSource::kOnlineMeeting,
       "https://graph.microsoft.com/v1.0/users/ev%2F1/onlineMeetings/se%20ss/attendanceReports"},
      {ReportSource::kWebinar,
       "https://graph.microsoft.com/v1.0/solutions/virtualEvents/webinars/ev%2F1/sessions/"
       "se%20ss/attendanceReports"},
      {ReportSource::kTownHall,
       "https://graph.microsoft.com/v1.0/solutions/virtualEvents/townhalls/ev%2F1/sessions/"
       "se%20ss/attendanceReports"},
  };
  auto client = Make();
  for (const Case& c : cases) {
    SCOPED_TRACE(c.reports);
    const std::size_t before = transport_->request_count();
    transport_->Enqueue(Report());
    transport_->Enqueue(Report());
    transport_->Enqueue(FakeHttpTransport::Json(200, R"({"value":[]})"));
    ASSERT_TRUE(client->GetAttendanceReport({"ev/1", "se ss", "r?1", c.source}, true, deadline_)
                    .ok());
    ASSERT_TRUE(
        client->GetAttendanceReport({"ev/1", "se ss", "..", c.source}, false, deadline_).ok());
    rollcall::v1::ListAttendanceReportsResponse list;
    ASSERT_TRUE(client->ListAttendanceReports({"ev/1", "se ss", c.source}, deadline_, &list).ok());
    const auto requests = transport_->requests();
    ASSERT_EQ(requests.size(), before + 3);
    EXPECT_EQ(requests[before].url,
              std::string(c.reports) + "/r%3F1?$expand=attendanceRecords");
    EXPECT_EQ(requests[before + 1].url, std::string(c.reports) + "/%2E%2E");
    EXPECT_EQ(requests[before + 2].url, c.reports);
  }
}

TEST_F(GraphClientTest, EmptyIdsNameTheirRequestFieldAndSendNothing) {
  auto client = Make();
  struct Case {
    ReportRef ref;
    const char* field;
  };
  const Case cases[] = {
      {{"", "m", "r"}, "user_id"},
      {{"u", "m", ""}, "report_id"},
      {{"", "s", "r", ReportSource::kWebinar}, "virtual_event_session.event_id"},
      {{"e", "", "r", ReportSource::kTownHall}, "virtual_event_session.session_id"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.field);
    absl::Status status = client->GetAttendanceReport(c.ref, true, deadline_).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(Reason(status), "INVALID_ID");
    EXPECT_EQ(Meta(status, "field"), c.field);
    rollcall::v1::ListAttendanceReportsResponse list;
    if (c.ref.report_id.empty()) continue;
    status = client->ListAttendanceReports({c.ref.user_id, c.ref.meeting_id, c.ref.source},
                                           deadline_, &list);
    EXPECT_EQ(Reason(status), "INVALID_ID");
    EXPECT_EQ(Meta(status, "field"), c.field);
  }
  rollcall::v1::OnlineMeeting meeting;
  EXPECT_EQ(Meta(client->FindOnlineMeeting("", "https://x", deadline_, &meeting), "field"),
            "user_id");
  EXPECT_EQ(Meta(client->FindOnlineMeeting("u", "", deadline_, &meeting), "field"),
            "join_web_url");
  // A ReportSource outside the enum is refused, not read as some default.
  EXPECT_EQ(client
                ->GetAttendanceReport({"u", "m", "r", static_cast<ReportSource>(7)}, true,
                                      deadline_)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(transport_->request_count(), 0u);
}

// --- max_report_bytes -------------------------------------------------------------------------

TEST_F(GraphClientTest, MaxReportBytesBoundsTheReportsPagesTogether) {
  const std::string page2 = std::string(kReportUrl) + "/attendanceRecords?$skiptoken=p2";
  const std::string first = R"({"id":"r","attendanceRecords":[{"role":"Organizer"}],
      "attendanceRecords@odata.nextLink":")" + page2 + "\"}";
  const std::string second = RecordsPage({"Presenter", "Attendee"}, "");
  const std::size_t total = first.size() + second.size();
  const auto script = [&] {
    transport_->Enqueue(FakeHttpTransport::Json(200, first));
    transport_->Enqueue(FakeHttpTransport::Json(200, second));
    transport_->Enqueue(Report());  // a retry would get this: there must be none
  };

  // Exactly at the bound: served.
  options_.max_report_bytes = total;
  script();
  absl::StatusOr<rollcall::v1::MeetingAttendanceReport> report = Get();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->attendance_records_size(), 3);
  transport_ = std::make_shared<FakeHttpTransport>();

  // One byte over, reached on the second page: refused, not retried, not a bad response.
  options_.max_report_bytes = total - 1;
  script();
  auto client = Make();
  rollcall::v1::MeetingAttendanceReport partial;
  absl::Status status = client->GetAttendanceReport(kRef, true, deadline_, &partial);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Reason(status), "REPORT_TOO_LARGE");
  EXPECT_THAT(Message(status), HasSubstr("max_report_bytes (" + std::to_string(total - 1) +
                                         " bytes)"));
  EXPECT_THAT(Message(status), HasSubstr("first 2 pages hold " + std::to_string(total) +
                                         " bytes"));
  EXPECT_EQ(transport_->request_count(), 2u);
  EXPECT_EQ(partial.ByteSizeLong(), 0u);  // nothing half-read is left behind
  EXPECT_EQ(client->Stats().bad_responses, 0u);
  EXPECT_EQ(client->Stats().retries, 0u);
  EXPECT_TRUE(clock_.sleeps().empty());

  // A first body alone over the bound stops there.
  transport_ = std::make_shared<FakeHttpTransport>();
  options_.max_report_bytes = first.size() - 1;
  script();
  status = Get().status();
  EXPECT_EQ(Reason(status), "REPORT_TOO_LARGE");
  EXPECT_THAT(Message(status), HasSubstr("first 1 page holds " + std::to_string(first.size())));
  EXPECT_EQ(transport_->request_count(), 1u);
}

TEST_F(GraphClientTest, MaxReportRecordsAndMemoryStopTheReadWhereTheyArePassed) {
  const std::string page2 = std::string(kReportUrl) + "/attendanceRecords?$skiptoken=p2";
  const std::string first = R"({"id":"r","attendanceRecords":[{"role":"Organizer"}],
      "attendanceRecords@odata.nextLink":")" + page2 + "\"}";
  const std::string second = RecordsPage({"Presenter", "Attendee"}, "");
  const auto script = [&] {
    transport_ = std::make_shared<FakeHttpTransport>();
    transport_->Enqueue(FakeHttpTransport::Json(200, first));
    transport_->Enqueue(FakeHttpTransport::Json(200, second));
    transport_->Enqueue(Report());  // a retry would get this: there must be none
  };

  options_.max_report_records = 3;  // exactly the records of both pages
  script();
  absl::StatusOr<rollcall::v1::MeetingAttendanceReport> report = Get();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->attendance_records_size(), 3);

  options_.max_report_records = 2;  // passed on the second page
  script();
  auto client = Make();
  absl::Status status = client->GetAttendanceReport(kRef, true, deadline_).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Reason(status), "REPORT_TOO_LARGE");
  EXPECT_THAT(Message(status), HasSubstr("max_report_records (2) allows: it holds more than 2 "
                                         "attendance records"));
  EXPECT_EQ(transport_->request_count(), 2u);
  EXPECT_EQ(client->Stats().bad_responses, 0u);
  EXPECT_EQ(client->Stats().retries, 0u);

  options_.max_report_records = 100;
  options_.max_report_memory = first.size();  // the first page's copy and nothing more
  script();
  status = Get().status();
  EXPECT_EQ(Reason(status), "REPORT_TOO_LARGE");
  EXPECT_THAT(Message(status), HasSubstr("max_report_memory (" + std::to_string(first.size()) +
                                         " bytes) allows"));
  EXPECT_EQ(transport_->request_count(), 1u);
}

// --- each call's errors -----------------------------------------------------------------------

TEST_F(GraphClientTest, ReportErrorsOfVirtualEventsSpeakOfTheirSession) {
  options_.retry.max_attempts = 1;
  transport_->SetHandler([](const HttpRequest&) {
    return FakeHttpTransport::Json(404, R"({"error":{"code":"NotFound","message":"gone"}})");
  });
  auto client = Make();
  absl::Status status =
      client->GetAttendanceReport({"e", "s", "r", ReportSource::kWebinar}, true, deadline_)
          .status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Reason(status), "REPORT_NOT_FOUND");
  EXPECT_THAT(Message(status),
              HasSubstr("Graph found no such webinar, session or attendance report: HTTP 404"));

  transport_->SetHandler([](const HttpRequest&) {
    return FakeHttpTransport::Json(403, ReadExample("graph-error-app-access-policy-missing.json"));
  });
  status = client->GetAttendanceReport({"e", "s", "r", ReportSource::kTownHall}, true, deadline_)
               .status();
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Reason(status), "GRAPH_FORBIDDEN");
  EXPECT_THAT(Message(status),
              HasSubstr("Graph denied access to the town hall session's attendance report"));
  EXPECT_THAT(Message(status), HasSubstr("OnlineMeetingArtifact.Read.All"));
  EXPECT_THAT(Message(status), HasSubstr("OnlineMeetingArtifact.Read.Chat"));
  EXPECT_THAT(Message(status), HasSubstr("organizer"));
  // Graph documents no application access policy for /solutions paths.
  EXPECT_THAT(Message(status), ::testing::Not(HasSubstr("access policy")));
}

TEST_F(GraphClientTest, ListErrorsSpeakOfTheMeeting) {
  options_.retry.max_attempts = 1;
  auto client = Make();
  const struct {
    ReportSource source;
    const char* not_found;
  } cases[] = {{ReportSource::kOnlineMeeting, "Graph found no such user or meeting: HTTP 404"},
               {ReportSource::kWebinar, "Graph found no such webinar or session: HTTP 404"},
               {ReportSource::kTownHall, "Graph found no such town hall or session: HTTP 404"}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.not_found);
    transport_->Enqueue(FakeHttpTransport::Json(
        404, R"({"error":{"code":"NotFound","message":"gone","innerError":{"request-id":"x"}}})"));
    rollcall::v1::ListAttendanceReportsResponse list;
    absl::Status status = client->ListAttendanceReports({"u", "m", c.source}, deadline_, &list);
    EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
    EXPECT_EQ(Reason(status), "MEETING_NOT_FOUND");
    EXPECT_THAT(Message(status), HasSubstr(c.not_found));
    EXPECT_EQ(Meta(status, "graph_request_id"), "x");
  }
  transport_->Enqueue(FakeHttpTransport::Json(403, "{}"));
  rollcall::v1::ListAttendanceReportsResponse list;
  absl::Status status = client->ListAttendanceReports({"u", "m"}, deadline_, &list);
  EXPECT_EQ(Reason(status), "GRAPH_FORBIDDEN");
  EXPECT_THAT(Message(status),
              HasSubstr("Graph denied access to the meeting's attendance reports"));
  EXPECT_THAT(Message(status), HasSubstr("OnlineMeetingArtifact.Read.All"));
  EXPECT_THAT(Message(status), HasSubstr("application access policy"));
}

TEST_F(GraphClientTest, LookupErrorsNameItsOwnPermission) {
  options_.retry.max_attempts = 1;
  auto client = Make();
  const std::string link = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_secret";
  rollcall::v1::OnlineMeeting meeting;
  transport_->Enqueue(
      FakeHttpTransport::Json(403, ReadExample("graph-error-app-access-policy-missing.json")));
  absl::Status status = client->FindOnlineMeeting("organizer@contoso.com", link, deadline_,
                                                  &meeting);
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Reason(status), "GRAPH_FORBIDDEN");
  EXPECT_THAT(Message(status), HasSubstr("OnlineMeetings.Read.All application permission with "
                                         "admin consent"));
  EXPECT_THAT(Message(status), HasSubstr("application access policy"));

  // A 404, or an answer that lists no meeting: NOT_FOUND, naming the user, never the link
  // (anyone who holds a join link can join the meeting).
  transport_->Enqueue(FakeHttpTransport::Json(404, "{}"));
  transport_->Enqueue(FakeHttpTransport::Json(200, R"({"value":[]})", {{"request-id", "rid-9"}}));
  for (int i = 0; i < 2; ++i) {
    SCOPED_TRACE(i);
    status = client->FindOnlineMeeting("organizer@contoso.com", link, deadline_, &meeting);
    EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
    EXPECT_EQ(Reason(status), "MEETING_NOT_FOUND");
    EXPECT_THAT(Message(status), HasSubstr("no meeting of user \"organizer@contoso.com\" with "
                                           "that join link"));
    EXPECT_THAT(Message(status), ::testing::Not(HasSubstr("meeting_secret")));
  }
  EXPECT_EQ(Meta(status, "graph_request_id"), "rid-9");
  EXPECT_EQ(client->Stats().bad_responses, 0u);
}

// --- ListAttendanceReports --------------------------------------------------------------------

constexpr char kTwoReports[] = R"pb(
  reports {
    id: "c9b6db1c-d5eb-427d-a5c0-20088d9b22d7"
    total_participant_count: 1
    meeting_start_date_time { seconds: 1633408703 nanos: 945000000 }
    meeting_end_date_time { seconds: 1633409029 nanos: 770000000 }
  }
  reports {
    id: "2c2c2454-7613-4d6e-9c7c-4cf7a6cdce89"
    total_participant_count: 2
    meeting_start_date_time { seconds: 1633389211 nanos: 658000000 }
    meeting_end_date_time { seconds: 1633389537 nanos: 563000000 }
  })pb";

TEST_F(GraphClientTest, ListsTheDocumentedExamplesFieldByField) {
  const struct {
    const char* file;
    ReportSource source;
    const char* expected;
  } cases[] = {
      {"list-meetingattendancereports-v1.0.json", ReportSource::kOnlineMeeting, kTwoReports},
      {"list-meetingattendancereports-beta.json", ReportSource::kOnlineMeeting, kTwoReports},
      {"list-meetingattendancereports-beta-virtualevent-session.json", ReportSource::kWebinar,
       R"pb(
         reports {
           id: "c9b6db1c-d5eb-427d-a5c0-2022d7"
           total_participant_count: 1
           meeting_start_date_time { seconds: 1633408703 nanos: 945000000 }
           meeting_end_date_time { seconds: 1633409029 nanos: 770000000 }
         }
         reports {
           id: "2c2c2454-7613-4d6e-9c7c-4ce89"
           total_participant_count: 2
           meeting_start_date_time { seconds: 1633389211 nanos: 658000000 }
           meeting_end_date_time { seconds: 1633389537 nanos: 563000000 }
         })pb"},
  };
  auto client = Make();
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file);
    transport_->Enqueue(FakeHttpTransport::Json(200, ReadExample(c.file)));
    rollcall::v1::ListAttendanceReportsResponse list;
    list.set_from_cache(true);  // not the client's: left alone
    list.add_reports()->set_id("left over");
    ASSERT_TRUE(client->ListAttendanceReports({"u", "m", c.source}, deadline_, &list).ok());
    rollcall::v1::ListAttendanceReportsResponse expected =
        FromText<rollcall::v1::ListAttendanceReportsResponse>(c.expected);
    expected.set_from_cache(true);
    ExpectProtoEq(list, expected);
  }
  EXPECT_EQ(transport_->requests().back().url,
            "https://graph.microsoft.com/v1.0/solutions/virtualEvents/webinars/u/sessions/m/"
            "attendanceReports");
}

TEST_F(GraphClientTest, ListFollowsNextLinksWithinTheOrigin) {
  const std::string reports = "https://graph.microsoft.com/v1.0/users/u/onlineMeetings/m/"
                              "attendanceReports";
  const std::string page2 = reports + "?$skiptoken=2";
  transport_->Enqueue(FakeHttpTransport::Json(
      200, R"({"value":[{"id":"a"}],"@odata.nextLink":")" + page2 + "\"}"));
  transport_->Enqueue(Throttled("1"));
  transport_->Enqueue(FakeHttpTransport::Json(200, R"({"value":[{"id":"b"},{"id":"c"}]})"));
  google::protobuf::Arena arena;
  auto* list =
      google::protobuf::Arena::CreateMessage<rollcall::v1::ListAttendanceReportsResponse>(&arena);
  auto client = Make();
  ASSERT_TRUE(client->ListAttendanceReports({"u", "m"}, deadline_, list).ok());
  ASSERT_EQ(list->reports_size(), 3);
  EXPECT_EQ(list->reports(2).id(), "c");
  EXPECT_EQ(list->reports(2).GetArena(), &arena);
  const auto requests = transport_->requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].url, reports);
  EXPECT_EQ(requests[1].url, page2);
  EXPECT_EQ(requests[2].url, page2);  // the throttled page alone was retried

  // A link elsewhere is never followed, and what was read is dropped.
  transport_->Enqueue(FakeHttpTransport::Json(
      200, R"({"value":[{"id":"a"}],"@odata.nextLink":"https://evil.example/v1.0/x"})"));
  absl::Status status = client->ListAttendanceReports({"u", "m"}, deadline_, list);
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(Reason(status), "GRAPH_BAD_RESPONSE");
  EXPECT_THAT(Message(status), HasSubstr("@odata.nextLink outside https://graph.microsoft.com"));
  EXPECT_EQ(list->reports_size(), 0);
  EXPECT_EQ(transport_->request_count(), 4u);

  // A chain without end stops after as many pages as a report's records.
  transport_->SetHandler([&](const HttpRequest&) -> absl::StatusOr<HttpResponse> {
    return FakeHttpTransport::Json(200, R"({"value":[],"@odata.nextLink":")" + page2 + "\"}");
  });
  status = client->ListAttendanceReports({"u", "m"}, deadline_, list);
  EXPECT_EQ(Reason(status), "GRAPH_BAD_RESPONSE");
  EXPECT_THAT(Message(status), HasSubstr("@odata.nextLink chain is longer than 1000 pages"));
  EXPECT_EQ(transport_->request_count(), 4u + 1001u);
}

TEST_F(GraphClientTest, ListBodiesThatAreNotCollectionsAreBadResponses) {
  auto client = Make();
  for (const auto& [body, says] : std::vector<std::pair<std::string, std::string>>{
           {R"({"value":[{"id":"a","totalParticipantCount":"2"}]})",
            "not a meetingAttendanceReport collection: value[0].totalParticipantCount: "
            "expected a number"},
           {R"({"id":"a"})", "value: missing"},
           {"<html>", "malformed JSON"}}) {
    SCOPED_TRACE(body);
    transport_->Enqueue(FakeHttpTransport::Json(200, body));
    rollcall::v1::ListAttendanceReportsResponse list;
    absl::Status status = client->ListAttendanceReports({"u", "m"}, deadline_, &list);
    EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
    EXPECT_EQ(Reason(status), "GRAPH_BAD_RESPONSE");
    EXPECT_THAT(Message(status), HasSubstr(says));
    EXPECT_EQ(list.reports_size(), 0);
  }
  EXPECT_EQ(client->Stats().bad_responses, 3u);
  EXPECT_EQ(transport_->request_count(), 3u);
}

// --- FindOnlineMeeting ------------------------------------------------------------------------

TEST_F(GraphClientTest, FindBuildsTheFilterWithTheLinkEncodedForGraphsOneDecoding) {
  transport_->SetHandler([](const HttpRequest&) {
    return FakeHttpTransport::Json(200, ReadExample("get-onlinemeeting-by-joinweburl-v1.0.json"));
  });
  auto client = Make();
  rollcall::v1::OnlineMeeting meeting;
  ASSERT_TRUE(client
                  ->FindOnlineMeeting("user@contoso.com",
                                      "https://teams.microsoft.com/l/meetup-join/19%3ameeting_M2I"
                                      "%40thread.v2/0?context=%7b%22Tid%22%3a%22t%22%7d",
                                      deadline_, &meeting)
                  .ok());
  EXPECT_EQ(transport_->requests()[0].url,
            "https://graph.microsoft.com/v1.0/users/user%40contoso.com/onlineMeetings"
            "?$filter=JoinWebUrl%20eq%20'https%3A%2F%2Fteams.microsoft.com%2Fl%2Fmeetup-join%2F"
            "19%253ameeting_M2I%2540thread.v2%2F0%3Fcontext%3D%257b%2522Tid%2522%253a%2522t%2522"
            "%257d'");
  // Quotes doubled, then every reserved byte escaped: nothing ends the literal or the query.
  ASSERT_TRUE(
      client->FindOnlineMeeting("a/b", "https://x/it's a&b#c+d", deadline_, &meeting).ok());
  EXPECT_EQ(transport_->requests()[1].url,
            "https://graph.microsoft.com/v1.0/users/a%2Fb/onlineMeetings"
            "?$filter=JoinWebUrl%20eq%20'https%3A%2F%2Fx%2Fit%27%27s%20a%26b%23c%2Bd'");
}

TEST_F(GraphClientTest, FindMapsTheDocumentedExamplesFieldByField) {
  const struct {
    const char* file;
    const char* expected;
  } cases[] = {
      {"get-onlinemeeting-by-joinweburl-v1.0.json", R"pb(
         id: "dc17674c-81d9-4adb-bfb2-8f6a442e4622_"
             "19:meeting_MGQ4MDQyNTEtNTQVkODYxODYzMmY2@thread.v2"
         creation_date_time { seconds: 1601418933 nanos: 159451600 }
         start_date_time { seconds: 1601418931 nanos: 389759000 }
         end_date_time { seconds: 1601422531 nanos: 389759000 }
         join_web_url: "https://teams.microsoft.com/l/meetup-join/"
                       "19%3ameeting_MGQ4MDQyNTEtNTQ2NS00YjQxLTlkMYzMmY2%40thread.v2/0"
                       "?context=%7b%22Tid%22%3a%22909c6581-5130-43e9-882cde37%22%2c%22Oid"
                       "%22%3a%22dc17674c-81d9-4adb-bfb2-8f6a442e4622%22%7d"
         video_teleconference_id: "(redacted)"
         organizer_id: "dc17674c-81d9-4adb-bf442e4622"
         join_meeting_id: "1234567890")pb"},
      {"get-onlinemeeting-by-joinweburl-msteams-docs.json", R"pb(
         id: "MSoxNGI3NzlhZS1jYjY0LTQ3ZTctYTUxMi01MmZkNTBhNDE1NGQqMCoqMTk6bWVldGluZ19N"
             "VE01T1RZM01HVXRObVk0TWkwMFlqZzRMVGsyTURVdFkySXlaR1JsTm1VMVpqQTJAdGhyZWFkLnYy"
         creation_date_time { seconds: 1650958877 nanos: 373645500 }
         start_date_time { seconds: 1650969000 }
         end_date_time { seconds: 1650970800 }
         join_web_url: "https://teams.microsoft.com/l/meetup-join/"
                       "19%3ameeting_MTM5OTY3MGUtNmY4Mi00Yjg4LTk2MDUtY2IyZGRlNmU1ZjA2%40thread.v2/0"
                       "?context=%7b%22Tid%22%3a%222432b57b-0abd-43db-aa7b-16eadd115d34%22%2c%22Oid"
                       "%22%3a%2214b779ae-cb64-47e7-a512-52fd50a4154d%22%7d"
         chat_thread_id: "19:meeting_MTM5OTY3MGUtNmY4Mi00Yjg4LTk2MDUtY2IyZGRlNmU1ZjA2"
                         "@thread.v2")pb"},
  };
  auto client = Make();
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file);
    transport_->Enqueue(FakeHttpTransport::Json(200, ReadExample(c.file)));
    rollcall::v1::OnlineMeeting meeting;
    meeting.set_subject("left over");
    ASSERT_TRUE(client->FindOnlineMeeting("u", "https://x", deadline_, &meeting).ok());
    ExpectProtoEq(meeting, FromText<rollcall::v1::OnlineMeeting>(c.expected));
  }
}

TEST_F(GraphClientTest, FindRefusesToGuessBetweenMeetings) {
  auto client = Make();
  rollcall::v1::OnlineMeeting meeting;
  // Graph documents exactly one meeting per join link: two are a bad answer, not a choice.
  transport_->Enqueue(FakeHttpTransport::Json(200, R"({"value":[{"id":"a"},{"id":"b"}]})"));
  absl::Status status = client->FindOnlineMeeting("u", "https://x", deadline_, &meeting);
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(Reason(status), "GRAPH_BAD_RESPONSE");
  EXPECT_THAT(Message(status), HasSubstr("2 meetings for one join link"));
  EXPECT_EQ(meeting.ByteSizeLong(), 0u);

  // Nor is a meeting without an ID, or a body of the wrong shape.
  transport_->Enqueue(FakeHttpTransport::Json(200, R"({"value":[{"subject":"s"}]})"));
  status = client->FindOnlineMeeting("u", "https://x", deadline_, &meeting);
  EXPECT_EQ(Reason(status), "GRAPH_BAD_RESPONSE");
  EXPECT_THAT(Message(status), HasSubstr("without an id"));
  EXPECT_EQ(meeting.ByteSizeLong(), 0u);
  transport_->Enqueue(FakeHttpTransport::Json(200, R"({"value":[{"id":"a","chatInfo":1}]})"));
  status = client->FindOnlineMeeting("u", "https://x", deadline_, &meeting);
  EXPECT_THAT(Message(status),
              HasSubstr("not an onlineMeeting collection: value[0].chatInfo: expected an object"));
  EXPECT_EQ(client->Stats().bad_responses, 3u);

  // The one meeting may come on a later page.
  const std::string page2 =
      "https://graph.microsoft.com/v1.0/users/u/onlineMeetings?$skiptoken=2";
  transport_->Enqueue(
      FakeHttpTransport::Json(200, R"({"value":[],"@odata.nextLink":")" + page2 + "\"}"));
  transport_->Enqueue(FakeHttpTransport::Json(200, R"({"value":[{"id":"m2"}]})"));
  ASSERT_TRUE(client->FindOnlineMeeting("u", "https://x", deadline_, &meeting).ok());
  EXPECT_EQ(meeting.id(), "m2");
  EXPECT_EQ(transport_->requests().back().url, page2);
}

}  // namespace
}  // namespace rollcall::graph
