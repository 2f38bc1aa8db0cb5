// GetAttendanceReport end to end: rollcall_server and the Graph emulator as real processes,
// HTTPS with a test CA, gRPC from the test. Each test that counts Graph calls starts its own
// server, so no cache or token from another test can hide a call.

#include <grpcpp/grpcpp.h>
#include <sys/wait.h>

#include <csignal>

#include <atomic>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/mutex.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"
#include "tests/integration/environment.h"

namespace rollcall::testing {
namespace {

using ::google::protobuf::util::TimeUtil;
using rollcall::v1::GetAttendanceReportRequest;
using rollcall::v1::GetAttendanceReportResponse;



grpc::Status Call(RollcallProcess& server, const GetAttendanceReportRequest& request,
                  GetAttendanceReportResponse* response) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  return server.stub().GetAttendanceReport(&context, request, response);
}

std::string Ts(const google::protobuf::Timestamp& ts) { return TimeUtil::ToString(ts); }

// Graph calls and token calls the emulator has counted.
int GraphCalls(FakeGraph& graph) {
  return graph.Counter("report") + graph.Counter("records") + graph.Counter("reports_list");
}

class GetAttendanceReportTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto graph = FakeGraph::Start();
    ASSERT_TRUE(graph.ok()) << graph.status();
    graph_ = graph->release();
  }
  static void TearDownTestSuite() {
    delete graph_;
    graph_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(graph_->Reset().ok()); }

  std::unique_ptr<RollcallProcess> StartServer(const std::map<std::string, std::string>& env = {}) {
    auto server = RollcallProcess::Start(*graph_, env);
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? *std::move(server) : nullptr;
  }

  static FakeGraph* graph_;
};
FakeGraph* GetAttendanceReportTest::graph_ = nullptr;

TEST_F(GetAttendanceReportTest, ServesTheDocsExampleReportOverGrpc) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  GetAttendanceReportResponse response;
  grpc::Status status = Call(*server, DocsReportRequest(), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();

  const auto& report = response.report();
  EXPECT_EQ(report.id(), kDocsReport);
  ASSERT_TRUE(report.has_total_participant_count());
  EXPECT_EQ(report.total_participant_count(), 1);
  EXPECT_EQ(Ts(report.meeting_start_date_time()), "2021-10-05T04:38:23.945Z");
  EXPECT_EQ(Ts(report.meeting_end_date_time()), "2021-10-05T04:43:49.770Z");
  ASSERT_EQ(report.attendance_records_size(), 1);
  const auto& record = report.attendance_records(0);
  EXPECT_EQ(record.email_address(), "frederick.cormier@contoso.com");
  EXPECT_EQ(record.total_attendance_in_seconds(), 1152);
  EXPECT_EQ(record.role(), "Presenter");
  EXPECT_EQ(record.identity().id(), "dc17674c-81d9-4adb-bfb2-8f6a442e4623");
  EXPECT_EQ(record.identity().display_name(), "Frederick Cormier");
  EXPECT_FALSE(record.identity().has_tenant_id()) << "Graph sent tenantId: null";
  ASSERT_EQ(record.attendance_intervals_size(), 3);
  EXPECT_EQ(Ts(record.attendance_intervals(0).join_date_time()), "2021-03-16T18:59:52.278218200Z");
  EXPECT_EQ(Ts(record.attendance_intervals(0).leave_date_time()), "2021-03-16T19:06:47.721849100Z");
  EXPECT_EQ(record.attendance_intervals(0).duration_in_seconds(), 415);
  EXPECT_EQ(record.attendance_intervals(1).duration_in_seconds(), 427);
  EXPECT_EQ(Ts(record.attendance_intervals(2).leave_date_time()), "2021-03-16T19:25:37.712195600Z");
  EXPECT_EQ(record.attendance_intervals(2).duration_in_seconds(), 310);
  EXPECT_FALSE(response.from_cache());
  EXPECT_TRUE(response.has_graph_fetch_time());
}

TEST_F(GetAttendanceReportTest, BasicViewLeavesRecordsOutAndAsksGraphWithoutExpand) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto request = DocsReportRequest();
  request.set_view(rollcall::v1::REPORT_VIEW_BASIC);
  GetAttendanceReportResponse response;
  ASSERT_TRUE(Call(*server, request, &response).ok());
  EXPECT_EQ(response.report().id(), kDocsReport);
  EXPECT_EQ(response.report().attendance_records_size(), 0);
  auto log = graph_->GetJson("/_emulator/requests");
  ASSERT_TRUE(log.ok()) << log.status();
  bool saw_report_without_expand = false;
  for (const auto& entry : log->GetArray()) {
    if (std::string(entry["kind"].GetString()) != "report") continue;
    EXPECT_THAT(entry["query"].GetString(), ::testing::Not(::testing::HasSubstr("expand")));
    saw_report_without_expand = true;
  }
  EXPECT_TRUE(saw_report_without_expand);
}

// Acceptance 3: 100 concurrent requests for one uncached report make one report request and one
// token request; the next request is a cache hit and costs Graph nothing.
TEST_F(GetAttendanceReportTest, HundredConcurrentMissesMakeOneGraphCallThenHit) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  constexpr int kCalls = 100;
  common::Mutex mu;
  common::CondVar cv(&mu);
  int done = 0;
  std::vector<grpc::ClientContext> contexts(kCalls);
  std::vector<GetAttendanceReportResponse> responses(kCalls);
  std::vector<grpc::Status> statuses(kCalls);
  const auto request = DocsReportRequest();
  for (int i = 0; i < kCalls; ++i) {
    contexts[i].set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
    server->stub().async()->GetAttendanceReport(&contexts[i], &request, &responses[i],
                                                [&, i](grpc::Status s) {
                                                  common::MutexLock lock(&mu);
                                                  statuses[i] = std::move(s);
                                                  ++done;
                                                  cv.SignalAll();
                                                });
  }
  {
    common::MutexLock lock(&mu);
    while (done != kCalls) cv.Wait();
  }
  for (int i = 0; i < kCalls; ++i) {
    ASSERT_TRUE(statuses[i].ok()) << i << ": " << statuses[i].error_message();
    EXPECT_EQ(responses[i].report().attendance_records_size(), 1);
  }
  EXPECT_EQ(graph_->Counter("report"), 1);
  EXPECT_EQ(graph_->Counter("token"), 1);

  GetAttendanceReportResponse again;
  ASSERT_TRUE(Call(*server, request, &again).ok());
  EXPECT_TRUE(again.from_cache());
  EXPECT_EQ(Ts(again.graph_fetch_time()), Ts(responses[0].graph_fetch_time()));
  EXPECT_EQ(again.report().SerializeAsString(), responses[0].report().SerializeAsString());
  EXPECT_EQ(graph_->Counter("report"), 1);
  EXPECT_EQ(graph_->Counter("token"), 1);
}

TEST_F(GetAttendanceReportTest, UnknownReportIsNotFoundWithGraphCodeAndRequestId) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  GetAttendanceReportResponse response;
  grpc::Status status =
      Call(*server, ReportRequest(kDocsUser, kDocsMeeting, "no-such-report"), &response);
  ASSERT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << status.error_message();
  const auto info = ErrorInfoOf(status);
  EXPECT_EQ(info.reason(), "REPORT_NOT_FOUND");
  EXPECT_EQ(info.domain(), "rollcall.v1");
  EXPECT_EQ(info.metadata().at("graph_code"), "NotFound");
  ASSERT_TRUE(info.metadata().count("graph_request_id"));
  EXPECT_THAT(info.metadata().at("graph_request_id"),
              ::testing::MatchesRegex("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"));
  EXPECT_EQ(graph_->Counter("report"), 1);
}

TEST_F(GetAttendanceReportTest, InvalidIdsGetInvalidArgumentAndNoGraphCall) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  // The credential fetches its first token at start, in the background: wait for it (health
  // turns SERVING), so that what follows is counted from there.
  bool serving = false;
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (!serving && absl::Now() < deadline) {
    ASSERT_TRUE(server->CheckHealth("", absl::Seconds(5), &serving).ok());
    if (!serving) absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_TRUE(serving);
  const int tokens = graph_->Counter("token");
  EXPECT_EQ(tokens, 1);
  const std::string oversized(1025, 'm');
  const std::vector<std::pair<GetAttendanceReportRequest, std::string>> cases = {
      {ReportRequest("", kDocsMeeting, kDocsReport), "user_id"},
      {ReportRequest(kDocsUser, "", kDocsReport), "meeting_id"},
      {ReportRequest(kDocsUser, kDocsMeeting, ""), "report_id"},
      {ReportRequest(kDocsUser, oversized, kDocsReport), "meeting_id"},
      {ReportRequest(kDocsUser, "line\nbreak", kDocsReport), "meeting_id"},
      {ReportRequest(kDocsUser, kDocsMeeting, std::string("nul\0byte", 8)), "report_id"},
  };
  for (const auto& [request, field] : cases) {
    GetAttendanceReportResponse response;
    grpc::Status status = Call(*server, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << field;
    EXPECT_THAT(status.error_message(), ::testing::HasSubstr(field));
    EXPECT_EQ(ErrorInfoOf(status).metadata().at("field"), field);
  }
  EXPECT_EQ(GraphCalls(*graph_), 0);
  EXPECT_EQ(graph_->Counter("token"), tokens);
}

// Acceptance 4: IDs holding '/', '?', '#', '%', '..' or spaces reach Graph exactly, as one path
// segment, and find the report stored under that exact ID.
TEST_F(GetAttendanceReportTest, HostileMeetingIdsReachGraphAsOneExactSegment) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  const std::vector<std::string> ids = {
      "a/b",  "../../v1.0/users", "what?$expand=x", "frag#ment", "100%", "%2F%3F",
      "with space", "..", "ünï/cødé", "MSo+/=="};
  for (const auto& id : ids) {
    const std::string report_id = "report-for-" + std::to_string(&id - &ids[0]);
    ASSERT_TRUE(graph_->AddReport(kDocsUser, id, report_id,
                                  absl::StrCat(R"({"id":")", report_id,
                                               R"(","totalParticipantCount":7,"attendanceRecords":[]})"))
                    .ok());
    GetAttendanceReportResponse response;
    grpc::Status status = Call(*server, ReportRequest(kDocsUser, id, report_id), &response);
    ASSERT_TRUE(status.ok()) << id << ": " << status.error_message();
    EXPECT_EQ(response.report().id(), report_id) << id;
    EXPECT_EQ(response.report().total_participant_count(), 7) << id;
  }
  // The emulator split each raw path on '/' before decoding: the meeting ID is one segment.
  auto log = graph_->GetJson("/_emulator/requests");
  ASSERT_TRUE(log.ok()) << log.status();
  std::vector<std::string> meetings_seen;
  for (const auto& entry : log->GetArray()) {
    if (std::string(entry["kind"].GetString()) != "report") continue;
    const auto& segments = entry["path_segments"];
    ASSERT_EQ(segments.Size(), 7u) << entry["raw_path"].GetString();
    EXPECT_EQ(std::string(segments[3].GetString()), "onlineMeetings");
    meetings_seen.push_back(segments[4].GetString());
  }
  EXPECT_EQ(meetings_seen, ids);
}

// Acceptance 5: a wrong client secret names the AADSTS code and what to fix; no log line holds
// the secret or a token.
TEST_F(GetAttendanceReportTest, WrongSecretNamesAadstsCodeAndWhatToFix) {
  const std::string wrong_secret = "not-the-secret-9f8e7d6c";
  auto server = StartServer({{"AZURE_CLIENT_SECRET", wrong_secret}});
  ASSERT_NE(server, nullptr);
  GetAttendanceReportResponse response;
  grpc::Status status = Call(*server, DocsReportRequest(), &response);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << status.error_message();
  EXPECT_THAT(status.error_message(), ::testing::HasSubstr("AADSTS7000215"));
  EXPECT_THAT(status.error_message(), ::testing::HasSubstr("AZURE_CLIENT_SECRET"));
  EXPECT_THAT(status.error_message(), ::testing::Not(::testing::HasSubstr(wrong_secret)));
  const auto info = ErrorInfoOf(status);
  EXPECT_EQ(info.reason(), "CREDENTIALS_REJECTED");
  EXPECT_EQ(info.metadata().at("aadsts_code"), "AADSTS7000215");
  EXPECT_EQ(GraphCalls(*graph_), 0);
  // The credential's first try at start (in the background), and the call's own unless it
  // joined that one: a refused credential is asked again by the next caller (backing off from
  // refusals is issue 12's).
  EXPECT_GE(graph_->Counter("token"), 1);
  EXPECT_LE(graph_->Counter("token"), 2);

  ASSERT_TRUE(server->process().Stop().has_value());
  const std::string log = server->Stderr();
  EXPECT_THAT(log, ::testing::HasSubstr("AADSTS7000215")) << "the operator should see why";
  EXPECT_THAT(log, ::testing::Not(::testing::HasSubstr(wrong_secret)));
}

TEST_F(GetAttendanceReportTest, LogsHoldNeitherTheSecretNorAnyToken) {
  auto server = StartServer({{"ROLLCALL_LOG_LEVEL", "debug"}});
  ASSERT_NE(server, nullptr);
  GetAttendanceReportResponse response;
  ASSERT_TRUE(Call(*server, DocsReportRequest(), &response).ok());
  ASSERT_FALSE(Call(*server, ReportRequest(kDocsUser, kDocsMeeting, "missing"), &response).ok());
  ASSERT_TRUE(server->process().Stop().has_value());
  const std::string log = server->Stderr();
  EXPECT_FALSE(log.empty()) << "the server logs its start and its Graph calls";
  EXPECT_THAT(log, ::testing::Not(::testing::HasSubstr(kClientSecret)));
  auto tokens = graph_->GetJson("/_emulator/tokens");
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  ASSERT_GT(tokens->GetArray().Size(), 0u);
  for (const auto& token : tokens->GetArray()) {
    EXPECT_THAT(log, ::testing::Not(::testing::HasSubstr(token.GetString())));
  }
}

TEST_F(GetAttendanceReportTest, SigtermStopsTheServerCleanly) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  GetAttendanceReportResponse response;
  ASSERT_TRUE(Call(*server, DocsReportRequest(), &response).ok());
  auto exit_status = server->process().Stop();
  ASSERT_TRUE(exit_status.has_value()) << "did not exit after SIGTERM";
  EXPECT_TRUE(WIFEXITED(*exit_status));
  EXPECT_EQ(WEXITSTATUS(*exit_status), 0);
}

// A Graph 404 whose message is 1 MiB reaches a client with gRPC's default limits as NOT_FOUND
// with its ErrorInfo, Graph's text cut: never as RESOURCE_EXHAUSTED for oversized metadata,
// which a client would retry.
TEST_F(GetAttendanceReportTest, AHugeGraphErrorReachesADefaultClientAsItsCode) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  FaultSpec fault;
  fault.kind = "report";
  fault.status = 404;
  fault.content_type = "application/json";
  fault.body = absl::StrCat(R"({"error":{"code":"NotFound","message":")",
                            std::string(1 << 20, 'm'),
                            R"(","innerError":{"request-id":"rid-1","date":"2026-12-01"}}})");
  ASSERT_TRUE(graph_->AddFault(fault).ok());
  GetAttendanceReportResponse response;
  // A new stub: a channel with every default, as a client would make it.
  auto stub = server->NewStub();
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  const grpc::Status status = stub->GetAttendanceReport(&context, DocsReportRequest(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND)
      << status.error_message().substr(0, 200);
  EXPECT_LT(status.error_message().size(), 2048u);
  EXPECT_THAT(status.error_message(), ::testing::HasSubstr("mmm..."));
  const auto info = ErrorInfoOf(status);
  EXPECT_EQ(info.reason(), "REPORT_NOT_FOUND");
  EXPECT_EQ(info.metadata().at("graph_request_id"), "rid-1");
}

// SIGHUP (what `kill -HUP` and some supervisors send to ask for a reload) never stops the
// server: what can change is re-read on its own, so it is logged and the server goes on.
TEST_F(GetAttendanceReportTest, SighupIsLoggedAndTheServerKeepsServing) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  GetAttendanceReportResponse response;
  ASSERT_TRUE(Call(*server, DocsReportRequest(), &response).ok());
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(kill(server->process().pid(), SIGHUP), 0);
    // A call after each signal: the process must still be there to answer it.
    ASSERT_TRUE(Call(*server, DocsReportRequest(), &response).ok()) << "after SIGHUP " << i;
  }
  auto exit_status = server->process().Stop();
  ASSERT_TRUE(exit_status.has_value());
  EXPECT_TRUE(WIFEXITED(*exit_status));
  EXPECT_EQ(WEXITSTATUS(*exit_status), 0);
  EXPECT_THAT(server->Stderr(), ::testing::HasSubstr("SIGHUP ignored"));
}

}  // namespace
}  // namespace rollcall::testing
