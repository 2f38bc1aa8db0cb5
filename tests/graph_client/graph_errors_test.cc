// Graph error bodies (moved here from json_mapping_test.cc with ParseGraphErrorBody), and the
// canonical statuses GraphHttpError gives them.

#include "graph_client/graph_errors.h"

#include <string>
#include <vector>

#include "common/error_details.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/utf8.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/graph_examples.h"
#include "tests/testing/status_details.h"

namespace rollcall::graph {
namespace {

using ::rollcall::testing::ExampleNames;
using ::rollcall::testing::Message;
using ::rollcall::testing::ReadExample;
using ::rollcall::testing::Meta;
using ::rollcall::testing::Reason;
using ::testing::HasSubstr;

// ---------------------------------------------------------------------------------------------
// Graph error bodies.

TEST(GraphErrorBodies, SharedExamplesParse) {
  struct Case {
    const char* file;
    const char* code;
    const char* request_id;
    const char* date;
  };
  const std::vector<Case> cases = {
      {"graph-error-429-throttling.json", "TooManyRequests",
       "94fb3b52-452a-4535-a601-69e0a90e3aa2", "2020-08-18T12:51:51"},
      {"graph-error-app-access-policy-missing.json", "Unauthorized",
       "599d9cb0-56ac-4dc5-b6f8-1456a1414609", "<date_redacted>"},
      {"graph-error-errors-md-example.json", "invalidRange", "request-id", "date-time"},
  };
  ASSERT_EQ(ExampleNames("graph-error-").size(), cases.size()) << "a new example needs a case";
  for (const Case& c : cases) {
    SCOPED_TRACE(c.file);
    GraphErrorBody body;
    ASSERT_TRUE(ParseGraphErrorBody(ReadExample(c.file), &body));
    EXPECT_EQ(body.code, c.code);
    EXPECT_FALSE(body.message.empty());
    EXPECT_EQ(body.request_id, c.request_id);
    EXPECT_EQ(body.date, c.date);
  }
}

TEST(GraphErrorBodies, InnerErrorAndDateMatchCaseInsensitively) {
  GraphErrorBody body;
  ASSERT_TRUE(ParseGraphErrorBody(
      R"({"error":{"code":"NotFound","message":"m","innererror":{"Date":"2024-01-01T00:00:00",
          "request-id":"rid","client-request-id":"cid"}}})",
      &body));
  EXPECT_EQ(body.date, "2024-01-01T00:00:00");
  EXPECT_EQ(body.request_id, "rid");
  EXPECT_EQ(body.client_request_id, "cid");
  ASSERT_TRUE(ParseGraphErrorBody(R"({"error":{"code":"X","InnerError":{"DATE":"d"}}})", &body));
  EXPECT_EQ(body.date, "d");
  EXPECT_EQ(body.message, "");
}

TEST(GraphErrorBodies, OtherBodiesAreNotGraphErrors) {
  GraphErrorBody body;
  for (const char* text : {"", "{}", "[]", "not json", R"({"error":"invalid_client"})",
                           "<html><body>Bad Gateway</body></html>"}) {
    EXPECT_FALSE(ParseGraphErrorBody(text, &body)) << text;
  }
}

// ---------------------------------------------------------------------------------------------
// Statuses.

HttpResponse Response(long status, std::string body, HttpHeaders headers = {}) {
  HttpResponse response;
  response.status = status;
  response.headers = std::move(headers);
  response.body = std::move(body);
  return response;
}

TEST(GraphHttpError, EveryStatusHasItsCodeAndReason) {
  const struct {
    long status;
    absl::StatusCode code;
    const char* reason;
  } cases[] = {{400, absl::StatusCode::kInvalidArgument, "GRAPH_BAD_REQUEST"},
               {401, absl::StatusCode::kFailedPrecondition, "GRAPH_UNAUTHORIZED"},
               {403, absl::StatusCode::kPermissionDenied, "GRAPH_FORBIDDEN"},
               {404, absl::StatusCode::kNotFound, "REPORT_NOT_FOUND"},
               {429, absl::StatusCode::kResourceExhausted, "GRAPH_THROTTLED"},
               {500, absl::StatusCode::kUnavailable, "GRAPH_UNAVAILABLE"},
               {599, absl::StatusCode::kUnavailable, "GRAPH_UNAVAILABLE"},
               {409, absl::StatusCode::kUnknown, "GRAPH_ERROR"}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.status);
    absl::Status status = GraphHttpError(Response(c.status, "not json"), "cid", std::nullopt);
    EXPECT_EQ(status.code(), c.code);
    EXPECT_EQ(Reason(status), c.reason);
    EXPECT_EQ(Meta(status, "http_status"), std::to_string(c.status));
    EXPECT_EQ(Meta(status, "graph_client_request_id"), "cid");
    EXPECT_THAT(Message(status), HasSubstr("(no Graph error body)"));
  }
}

TEST(GraphHttpError, AnUnauthorizedSaysWhatToCheckAndWhenATokenIsFetchedNext) {
  const std::string body =
      R"({"error":{"code":"InvalidAuthenticationToken","message":"Invalid audience."}})";
  absl::Status plain = GraphHttpError(Response(401, body), "cid", std::nullopt);
  EXPECT_THAT(Message(plain), HasSubstr("Graph did not accept Rollcall's access token: HTTP 401 "
                                        "(InvalidAuthenticationToken: Invalid audience.). Check "
                                        "that graph_scope is Graph's"));
  EXPECT_THAT(Message(plain), HasSubstr("AZURE_TENANT_ID"));
  EXPECT_THAT(Message(plain), HasSubstr("OnlineMeetingArtifact.Read.All"));
  EXPECT_THAT(Message(plain), ::testing::Not(HasSubstr("back-off")));

  // 2024-01-01T00:00:00.25Z: "not before" rounds up to the next second.
  const absl::Time until = absl::FromUnixSeconds(1704067200) + absl::Milliseconds(250);
  absl::Status backing_off = GraphHttpError(Response(401, body), "cid", std::nullopt,
                                            kAttendanceReportWording,
                                            TokenBackoff{until, absl::Minutes(2)});
  EXPECT_EQ(backing_off.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Reason(backing_off), "GRAPH_UNAUTHORIZED");  // the same reason, back-off or not
  EXPECT_EQ(common::GetErrorDetails(backing_off).retry_after, std::nullopt);
  EXPECT_THAT(Message(backing_off),
              HasSubstr("(InvalidAuthenticationToken: Invalid audience.). Graph refused the "
                        "token fetched to replace a refused one too, so Rollcall keeps it and "
                        "will not fetch another token before 2024-01-01T00:00:01Z (a back-off "
                        "of 2m, longer each time Graph refuses a new token). Check that"));
}

TEST(GraphHttpError, TheBodyWinsOverHeadersAndRetryAfterIsKept) {
  absl::Status status = GraphHttpError(
      Response(429,
               R"({"error":{"code":"TooManyRequests","message":"slow","innerError":{
                   "request-id":"body-rid","client-request-id":"echoed","date":"d1"}}})",
               {{"request-id", "header-rid"}, {"date", "d2"}}),
      "sent", absl::Seconds(7));
  EXPECT_EQ(Message(status), "Graph throttled the request: HTTP 429 (TooManyRequests: slow)");
  EXPECT_EQ(Meta(status, "graph_code"), "TooManyRequests");
  EXPECT_EQ(Meta(status, "graph_request_id"), "body-rid");
  EXPECT_EQ(Meta(status, "graph_client_request_id"), "echoed");
  EXPECT_EQ(Meta(status, "graph_date"), "d1");
  EXPECT_EQ(common::GetErrorDetails(status).retry_after, absl::Seconds(7));

  absl::Status bare = GraphHttpError(
      Response(503, "", {{"request-id", "header-rid"}, {"date", "d2"}}), "sent", std::nullopt);
  EXPECT_EQ(Meta(bare, "graph_request_id"), "header-rid");
  EXPECT_EQ(Meta(bare, "graph_date"), "d2");
  EXPECT_EQ(Meta(bare, "graph_code"), "<absent>");
  EXPECT_FALSE(common::GetErrorDetails(bare).retry_after.has_value());
}

// Graph's text is capped: a 1 MiB message (and as long a code and request-id) still makes an
// error that fits a client's 8 KiB of response metadata, with its code and reason intact.
TEST(GraphHttpError, HugeTextFromGraphIsCapped) {
  const std::string huge(1 << 20, 'x');
  const std::string accented = std::string(1023, 'a') + "\xc3\xa9" + huge;  // é across the cut
  absl::Status status = GraphHttpError(
      Response(404, absl::StrCat(R"({"error":{"code":")", huge, R"(","message":")", accented,
                                 R"(","innerError":{"request-id":")", huge, R"(","date":")",
                                 huge, R"("}}})"),
               {{"request-id", huge}}),
      "sent", std::nullopt);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Reason(status), "REPORT_NOT_FOUND");
  EXPECT_LT(Message(status).size(), 1500u);
  EXPECT_TRUE(absl::EndsWith(Message(status), "...)")) << Message(status).substr(0, 200);
  EXPECT_TRUE(common::utf8::IsValid(Message(status))) << "cut inside a UTF-8 sequence";
  std::size_t metadata_bytes = 0;
  for (const auto& [key, value] : common::GetErrorDetails(status).metadata) {
    EXPECT_LE(value.size(), 131u) << key;
    metadata_bytes += key.size() + value.size();
  }
  EXPECT_LT(Message(status).size() + metadata_bytes, 4096u);
}

TEST(GraphHttpError, TheReportsWordsAreTheDefault) {
  const std::string body =
      R"({"error":{"code":"Forbidden","message":"No access.","innerError":{"request-id":"r"}}})";
  EXPECT_EQ(Message(GraphHttpError(Response(403, body), "cid", std::nullopt)),
            "Graph denied access to the attendance report: HTTP 403 (Forbidden: No access.). "
            "Rollcall's app needs the OnlineMeetingArtifact.Read.All application permission with "
            "admin consent, and a Teams application access policy (New-CsApplicationAccessPolicy, "
            "Grant-CsApplicationAccessPolicy) that covers the user; the user must be the "
            "meeting's organizer (or a co-organizer). Policy changes can take 30 minutes to "
            "apply.");
  absl::Status not_found = GraphHttpError(Response(404, "{}"), "cid", std::nullopt);
  EXPECT_EQ(Message(not_found),
            "Graph found no such user, meeting or attendance report: HTTP 404 (no Graph error "
            "body)");
  EXPECT_EQ(Reason(not_found), "REPORT_NOT_FOUND");
}

TEST(GraphHttpError, EachCallHasItsOwnWords) {
  const GraphCallWording wording = {"the things", common::reason::kMeetingNotFound,
                                    "no such thing", "Grant Things.Read.All."};
  absl::Status forbidden = GraphHttpError(Response(403, "{}"), "cid", std::nullopt, wording);
  EXPECT_EQ(forbidden.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Reason(forbidden), "GRAPH_FORBIDDEN");
  EXPECT_EQ(Message(forbidden),
            "Graph denied access to the things: HTTP 403 (no Graph error body). Grant "
            "Things.Read.All.");
  absl::Status not_found = GraphHttpError(Response(404, "{}"), "cid", std::nullopt, wording);
  EXPECT_EQ(not_found.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Reason(not_found), "MEETING_NOT_FOUND");
  EXPECT_EQ(Message(not_found), "Graph found no such thing: HTTP 404 (no Graph error body)");
  // The other statuses do not depend on the call.
  for (long status : {400L, 401L, 429L, 503L, 409L}) {
    SCOPED_TRACE(status);
    const absl::Status worded =
        GraphHttpError(Response(status, "{}"), "cid", std::nullopt, wording);
    const absl::Status plain = GraphHttpError(Response(status, "{}"), "cid", std::nullopt);
    EXPECT_EQ(worded.code(), plain.code());
    EXPECT_EQ(Message(worded), Message(plain));
    EXPECT_EQ(Reason(worded), Reason(plain));
  }
}

TEST(GraphTransportError, MapsEachFailureAndKeepsTheMarkUntilForCaller) {
  absl::Status before = GraphTransportError(WithTransportFailure(
      absl::UnavailableError("refused"), TransportFailure::kBeforeResponse));
  EXPECT_EQ(before.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Message(before), "could not reach Graph: refused");
  EXPECT_TRUE(IsRetryableBeforeResponse(before));
  EXPECT_EQ(GetTransportFailure(ForCaller(before)), TransportFailure::kUnclassified);

  absl::Status cut = GraphTransportError(
      WithTransportFailure(absl::UnavailableError("eof"), TransportFailure::kTruncatedBody));
  EXPECT_EQ(Reason(cut), "GRAPH_UNAVAILABLE");
  EXPECT_THAT(Message(cut), HasSubstr("before the whole body arrived"));

  EXPECT_EQ(GraphTransportError(absl::DeadlineExceededError("late")).code(),
            absl::StatusCode::kDeadlineExceeded);
  absl::Status big = GraphTransportError(absl::ResourceExhaustedError("64 MiB"));
  EXPECT_EQ(big.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(Reason(big), "GRAPH_BAD_RESPONSE");
}

TEST(IsJsonContentType, JsonOrNoneIsAccepted) {
  EXPECT_TRUE(IsJsonContentType(Response(200, "", {})));
  EXPECT_TRUE(IsJsonContentType(Response(200, "", {{"content-type", " Application/JSON ; x"}})));
  EXPECT_TRUE(IsJsonContentType(Response(200, "", {{"content-type", "application/odata+json"}})));
  EXPECT_FALSE(IsJsonContentType(Response(200, "", {{"content-type", "text/html"}})));
}

}  // namespace
}  // namespace rollcall::graph
