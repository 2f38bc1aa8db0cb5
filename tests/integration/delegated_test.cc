// Delegated mode end to end (issue 15): rollcall_server with delegated_mode on, against the
// emulator's user tokens, on-behalf-of grant and /me. A user's token reads the docs' report
// through /me; another user's token for the same meeting gets Graph's answer for that user,
// never the first user's cached copy; 100 concurrent calls of one user make one exchange and
// one Graph call; an expired token, a token for another audience and a missing consent each
// get an error naming what to fix; no user token ever reaches the server's log.

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/environment.h"

namespace rollcall::testing {
namespace {

using ::testing::HasSubstr;
using rollcall::v1::GetAttendanceReportRequest;
using rollcall::v1::GetAttendanceReportResponse;

constexpr char kOtherUser[] = "7f0a1c2e-0000-4000-8000-000000000002";

class DelegatedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto graph = FakeGraph::Start();
    ASSERT_TRUE(graph.ok()) << graph.status();
    graph_ = *std::move(graph);
    auto server = RollcallProcess::Start(*graph_, {{"ROLLCALL_DELEGATED_MODE", "true"},
                                                   {"ROLLCALL_UPSTREAM_QUEUE", "1000"}});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  // A user token from the emulator (POST /_emulator/user-tokens), the last one it issued.
  std::string UserToken(const std::string& user, const std::string& extra = "") {
    EXPECT_TRUE(graph_
                    ->PostJson("/_emulator/user-tokens",
                               absl::StrCat(R"({"user":")", user, R"(")", extra, "}"))
                    .ok());
    auto issued = graph_->GetJson("/_emulator/user-tokens");
    EXPECT_TRUE(issued.ok() && issued->IsArray() && !issued->Empty());
    if (!issued.ok() || !issued->IsArray() || issued->Empty()) return "";
    return (*issued)[issued->Size() - 1].GetString();
  }

  static GetAttendanceReportRequest MeRequest(const std::string& user_id = "") {
    GetAttendanceReportRequest request;
    request.set_user_id(user_id);
    request.set_meeting_id(kDocsMeeting);
    request.set_report_id(kDocsReport);
    return request;
  }

  grpc::Status Get(rollcall::v1::AttendanceReportService::Stub& stub, const std::string& token,
                   const GetAttendanceReportRequest& request,
                   GetAttendanceReportResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    context.AddMetadata("authorization", "Bearer " + token);
    return stub.GetAttendanceReport(&context, request, response);
  }

  // Whether any request in the emulator's log went to `path_start` (a raw path prefix).
  int RequestsTo(const std::string& path_start) {
    auto log = graph_->Requests();
    EXPECT_TRUE(log.ok());
    int n = 0;
    if (!log.ok()) return n;
    for (const auto& entry : log->GetArray()) {
      if (absl::StartsWith(entry["raw_path"].GetString(), path_start)) ++n;
    }
    return n;
  }

  // The server's log holds none of the user tokens the emulator issued.
  void ExpectNoUserTokenLogged() {
    auto issued = graph_->GetJson("/_emulator/user-tokens");
    ASSERT_TRUE(issued.ok());
    const std::string log = server_->Stderr();
    ASSERT_FALSE(log.empty());
    for (const auto& token : issued->GetArray()) {
      const std::string value = token.GetString();
      EXPECT_FALSE(absl::StrContains(log, value)) << "a user token is in the log";
      // Nor its signature, the part that makes it a credential.
      EXPECT_FALSE(absl::StrContains(log, value.substr(value.rfind('.') + 1)));
    }
    // Nor any Graph token the emulator issued (the on-behalf-of exchanges' and the app's).
    auto graph_tokens = graph_->GetJson("/_emulator/tokens");
    ASSERT_TRUE(graph_tokens.ok());
    for (const auto& token : graph_tokens->GetArray()) {
      EXPECT_FALSE(absl::StrContains(log, token.GetString())) << "a Graph token is in the log";
    }
  }

  std::unique_ptr<FakeGraph> graph_;
  std::unique_ptr<RollcallProcess> server_;
};

TEST_F(DelegatedTest, ReadsTheDocsReportThroughMe) {
  const std::string token = UserToken(kDocsUser);
  GetAttendanceReportResponse response;
  const grpc::Status status = Get(server_->stub(), token, MeRequest(), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.report().id(), kDocsReport);
  ASSERT_EQ(response.report().attendance_records_size(), 1);  // Frederick Cormier
  EXPECT_EQ(response.report().attendance_records(0).attendance_intervals_size(), 3);
  EXPECT_FALSE(response.from_cache());
  EXPECT_EQ(RequestsTo("/v1.0/me/onlineMeetings/"), 1);
  EXPECT_EQ(RequestsTo("/v1.0/users/"), 0);
  EXPECT_EQ(graph_->Counter("obo"), 1);

  // "me" says the same; the second call is the user's cached copy.
  GetAttendanceReportResponse again;
  ASSERT_TRUE(Get(server_->stub(), token, MeRequest("me"), &again).ok());
  EXPECT_TRUE(again.from_cache());
  EXPECT_EQ(graph_->Counter("obo"), 1);
  EXPECT_EQ(RequestsTo("/v1.0/me/onlineMeetings/"), 1);

  // App-only mode keeps working beside it.
  GetAttendanceReportResponse app;
  grpc::ClientContext context;
  ASSERT_TRUE(server_->stub().GetAttendanceReport(&context, DocsReportRequest(), &app).ok());
  EXPECT_EQ(app.report().id(), kDocsReport);
  EXPECT_EQ(RequestsTo("/v1.0/users/"), 1);
  ExpectNoUserTokenLogged();
}

TEST_F(DelegatedTest, AnotherUserNeverGetsTheFirstUsersCopy) {
  GetAttendanceReportResponse response;
  ASSERT_TRUE(Get(server_->stub(), UserToken(kDocsUser), MeRequest(), &response).ok());
  GetAttendanceReportResponse other;
  const grpc::Status status = Get(server_->stub(), UserToken(kOtherUser), MeRequest(), &other);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("only the meeting's organizer"));
  EXPECT_EQ(ErrorInfoOf(status).reason(), "REPORT_NOT_FOUND");
  EXPECT_EQ(RequestsTo("/v1.0/me/onlineMeetings/"), 2);
  EXPECT_EQ(graph_->Counter("obo"), 2);
  ExpectNoUserTokenLogged();
}

TEST_F(DelegatedTest, HundredConcurrentCallsMakeOneExchangeAndOneGraphCall) {
  const std::string token = UserToken(kDocsUser);
  std::vector<std::thread> threads;
  std::vector<grpc::Status> statuses(100);
  for (int i = 0; i < 100; ++i) {
    threads.emplace_back([&, i] {
      GetAttendanceReportResponse response;
      statuses[i] = Get(server_->stub(), token, MeRequest(), &response);
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const grpc::Status& status : statuses) {
    EXPECT_TRUE(status.ok()) << status.error_message();
  }
  EXPECT_EQ(graph_->Counter("obo"), 1);
  EXPECT_EQ(graph_->Counter("report"), 1);
  EXPECT_EQ(RequestsTo("/v1.0/me/onlineMeetings/"), 1);
}

TEST_F(DelegatedTest, EachRefusalNamesWhatToFix) {
  GetAttendanceReportResponse response;
  // Expired.
  grpc::Status status =
      Get(server_->stub(), UserToken(kDocsUser, R"(,"expires_in":-60)"), MeRequest(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << status.error_message();
  EXPECT_EQ(ErrorInfoOf(status).reason(), "USER_TOKEN_EXPIRED");
  EXPECT_THAT(status.error_message(), HasSubstr("expired"));
  EXPECT_THAT(status.error_message(), HasSubstr("new token"));
  // Another audience.
  status = Get(server_->stub(), UserToken(kDocsUser, R"(,"audience":"api://another-app")"),
               MeRequest(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << status.error_message();
  EXPECT_EQ(ErrorInfoOf(status).reason(), "USER_TOKEN_REJECTED");
  EXPECT_THAT(status.error_message(), HasSubstr("AADSTS50013"));
  EXPECT_THAT(status.error_message(), HasSubstr("issued for Rollcall's own app registration"));
  // Consent missing.
  ASSERT_TRUE(graph_->PostJson("/_emulator/consent", R"({"granted":false})").ok());
  status = Get(server_->stub(), UserToken(kDocsUser), MeRequest(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << status.error_message();
  EXPECT_EQ(ErrorInfoOf(status).reason(), "CONSENT_REQUIRED");
  EXPECT_THAT(status.error_message(), HasSubstr("consent"));
  EXPECT_THAT(status.error_message(), HasSubstr("OnlineMeetingArtifact.Read.All"));
  // Not a bearer token; another user's ID with a user's token; both before any exchange.
  grpc::ClientContext basic;
  basic.AddMetadata("authorization", "Basic dXNlcjpwYXNz");
  status = server_->stub().GetAttendanceReport(&basic, MeRequest(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(ErrorInfoOf(status).reason(), "USER_TOKEN_REJECTED");
  status = Get(server_->stub(), UserToken(kDocsUser), MeRequest(kOtherUser), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("user_id must be empty or \"me\""));
  // No token (nor the user tokens' signatures) in any message either.
  auto issued = graph_->GetJson("/_emulator/user-tokens");
  ASSERT_TRUE(issued.ok());
  for (const auto& token : issued->GetArray()) {
    EXPECT_FALSE(absl::StrContains(status.error_message(), token.GetString()));
  }
  ExpectNoUserTokenLogged();
}

TEST_F(DelegatedTest, OffByDefault) {
  auto server = RollcallProcess::Start(*graph_);
  ASSERT_TRUE(server.ok()) << server.status();
  GetAttendanceReportResponse response;
  const grpc::Status status = Get((*server)->stub(), UserToken(kDocsUser), MeRequest(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ErrorInfoOf(status).reason(), "DELEGATED_MODE_OFF");
  EXPECT_EQ(graph_->Counter("obo"), 0);
}

}  // namespace
}  // namespace rollcall::testing
