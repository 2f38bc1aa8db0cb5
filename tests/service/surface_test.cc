// The RPCs beside GetAttendanceReport, served by AttendanceReportServiceImpl on a plain gRPC
// server with a fake GraphClient: ListAttendanceReports, ListAttendanceRecords and its page
// tokens, StreamAttendanceRecords, ResolveOnlineMeeting, and webinar and town hall sources.
// Each is cached and coalesced like GetAttendanceReport; the fake counts Graph calls.

#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/error_details.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "rollcall/v1/attendance.grpc.pb.h"
#include "service/attendance_service.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/fake_graph_client.h"
#include "tests/testing/notification.h"

namespace rollcall::service {
namespace {

using rollcall::testing::Notification;
using namespace rollcall::v1;

// What a reply's google.rpc.Status details say.
common::ErrorDetails DetailsOf(const grpc::Status& status) {
  google::rpc::Status proto;
  EXPECT_TRUE(proto.ParseFromString(status.error_details()));
  return common::GetErrorDetails(common::FromRpcStatus(proto));
}

constexpr absl::Duration kWait = absl::Seconds(30);  // only a failing test waits this long
constexpr char kKey[] = "a key shared by every replica of this deployment, 32+ bytes";

// A report whose records are numbered in order: record-00000, record-00001, ...
MeetingAttendanceReport NumberedReport(int records) {
  MeetingAttendanceReport report = test::SampleReport(false);
  for (int i = 0; i < records; ++i) {
    AttendanceRecord* record = report.add_attendance_records();
    record->set_id(absl::StrCat("record-", std::string(5 - std::to_string(i).size(), '0'), i));
    record->set_email_address(absl::StrCat("attendee", i, "@contoso.com"));
    record->set_total_attendance_in_seconds(i);
  }
  return report;
}

std::shared_ptr<const PageTokenSigner> Signer(const std::string& key = kKey) {
  return std::make_shared<const PageTokenSigner>(*PageTokenSigner::FromKey(key));
}

// One service on one port.
struct Served {
  explicit Served(std::shared_ptr<test::FakeGraphClient> graph,
                  std::shared_ptr<const PageTokenSigner> signer = Signer(),
                  std::size_t stream_message_bytes = 32 << 10)
      : graph(std::move(graph)) {
    ServiceOptions options;
    options.default_deadline = absl::Seconds(7);
    options.reports_list_ttl = absl::Seconds(60);
    options.meeting_lookup_ttl = absl::Hours(1);
    options.page_tokens = std::move(signer);
    options.stream_message_bytes = stream_message_bytes;
    service = std::make_unique<AttendanceReportServiceImpl>(options, this->graph, &cache, &clock,
                                                            &logger);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service.get());
    server = builder.BuildAndStart();
    stub = AttendanceReportService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  }
  ~Served() {
    server->Shutdown();
    executor.Shutdown();
  }

  static ReportCache::Options CacheOptions() {
    ReportCache::Options options;
    options.max_bytes = 64 << 20;
    return options;
  }

  std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(absl::ToChronoTime(absl::Now() + kWait));
    return context;
  }

  rollcall::testing::FakeClock clock;
  std::shared_ptr<test::FakeGraphClient> graph;
  Logger logger{LogLevel::kError, &clock, [](absl::string_view) {}};
  UpstreamExecutor executor{4, 1000};
  ReportCache cache{CacheOptions(), &clock, &executor};
  std::unique_ptr<AttendanceReportServiceImpl> service;
  int port = 0;
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<AttendanceReportService::Stub> stub;
};

class SurfaceTest : public ::testing::Test {
 protected:
  std::shared_ptr<test::FakeGraphClient> graph_ = std::make_shared<test::FakeGraphClient>();
};

ListAttendanceRecordsRequest RecordsRequest(const std::string& report_id = "r1") {
  ListAttendanceRecordsRequest request;
  request.set_user_id("dc17674c-81d9-4adb-bfb2-8f6a442e4623");
  request.set_meeting_id("MSpkYzE3Njc0Yy04MWQ5LTRhZGItYmZ");
  request.set_report_id(report_id);
  return request;
}

// Pages through every record with `page_size`; the IDs in order.
std::vector<std::string> PageThrough(Served& served, ListAttendanceRecordsRequest request,
                                     int page_size, int* pages) {
  std::vector<std::string> ids;
  request.set_page_size(page_size);
  *pages = 0;
  while (true) {
    ListAttendanceRecordsResponse page;
    const grpc::Status status =
        served.stub->ListAttendanceRecords(served.Context().get(), request, &page);
    EXPECT_TRUE(status.ok()) << status.error_message();
    if (!status.ok()) break;
    ++*pages;
    EXPECT_LE(page.attendance_records_size(), page_size);
    for (const AttendanceRecord& record : page.attendance_records()) ids.push_back(record.id());
    EXPECT_GT(page.graph_fetch_time().seconds(), 0);
    if (page.next_page_token().empty()) break;
    request.set_page_token(page.next_page_token());
    if (*pages > 10000) break;
  }
  return ids;
}

std::vector<std::string> Expected(int records) {
  std::vector<std::string> ids;
  const MeetingAttendanceReport report = NumberedReport(records);
  for (const AttendanceRecord& record : report.attendance_records()) {
    ids.push_back(record.id());
  }
  return ids;
}

TEST_F(SurfaceTest, PagesHoldEveryRecordInOrderOnceFromOneGraphCall) {
  graph_->SetReport(NumberedReport(1003));
  Served served(graph_);
  int pages = 0;
  EXPECT_EQ(PageThrough(served, RecordsRequest(), 100, &pages), Expected(1003));
  EXPECT_EQ(pages, 11);
  EXPECT_EQ(graph_->call_count(), 1);
  // The page size may change between pages, and 0 means 100.
  ListAttendanceRecordsRequest request = RecordsRequest();
  ListAttendanceRecordsResponse first;
  ASSERT_TRUE(served.stub->ListAttendanceRecords(served.Context().get(), request, &first).ok());
  EXPECT_EQ(first.attendance_records_size(), 100);
  EXPECT_EQ(first.total_records(), 1003);
  request.set_page_token(first.next_page_token());
  request.set_page_size(1000);
  ListAttendanceRecordsResponse rest;
  ASSERT_TRUE(served.stub->ListAttendanceRecords(served.Context().get(), request, &rest).ok());
  EXPECT_EQ(rest.attendance_records_size(), 903);
  EXPECT_EQ(rest.attendance_records(0).id(), "record-00100");
  EXPECT_TRUE(rest.next_page_token().empty());
  EXPECT_EQ(graph_->call_count(), 1);
  // The records are the report's, field for field.
  EXPECT_EQ(rest.attendance_records(902).email_address(), "attendee1002@contoso.com");
}

TEST_F(SurfaceTest, AReportWithoutRecordsIsOneEmptyPage) {
  graph_->SetReport(NumberedReport(0));
  Served served(graph_);
  int pages = 0;
  EXPECT_TRUE(PageThrough(served, RecordsRequest(), 10, &pages).empty());
  EXPECT_EQ(pages, 1);
}

void ExpectInvalidToken(const grpc::Status& status) {
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_EQ(DetailsOf(status).reason, "INVALID_PAGE_TOKEN");
}

TEST_F(SurfaceTest, AlteredMadeUpAndForeignTokensAreRefusedWithoutAGraphCall) {
  graph_->SetReport(NumberedReport(300));
  Served served(graph_);
  ListAttendanceRecordsRequest request = RecordsRequest();
  ListAttendanceRecordsResponse first;
  ASSERT_TRUE(served.stub->ListAttendanceRecords(served.Context().get(), request, &first).ok());
  const std::string token = first.next_page_token();
  ASSERT_FALSE(token.empty());
  const int calls = graph_->call_count();

  std::string altered = token;
  altered[3] = altered[3] == 'A' ? 'B' : 'A';
  for (const std::string& bad : {altered, std::string("100"), std::string("offset=200"),
                                 std::string(28, 'A'), token + "x"}) {
    request.set_page_token(bad);
    ListAttendanceRecordsResponse page;
    ExpectInvalidToken(served.stub->ListAttendanceRecords(served.Context().get(), request, &page));
  }
  // A token of another report, even of the same meeting.
  ListAttendanceRecordsRequest other = RecordsRequest("r2");
  other.set_page_token(token);
  ListAttendanceRecordsResponse page;
  ExpectInvalidToken(served.stub->ListAttendanceRecords(served.Context().get(), other, &page));
  EXPECT_EQ(graph_->call_count(), calls);
}

TEST_F(SurfaceTest, AnotherServerWithTheSameKeyAcceptsTheTokenAndAnotherKeyDoesNot) {
  graph_->SetReport(NumberedReport(250));
  Served minting(graph_);
  ListAttendanceRecordsRequest request = RecordsRequest();
  ListAttendanceRecordsResponse first;
  ASSERT_TRUE(minting.stub->ListAttendanceRecords(minting.Context().get(), request, &first).ok());
  request.set_page_token(first.next_page_token());

  auto other_graph = std::make_shared<test::FakeGraphClient>();
  other_graph->SetReport(NumberedReport(250));
  Served alike(other_graph);
  ListAttendanceRecordsResponse second;
  ASSERT_TRUE(alike.stub->ListAttendanceRecords(alike.Context().get(), request, &second).ok());
  ASSERT_EQ(second.attendance_records_size(), 100);
  EXPECT_EQ(second.attendance_records(0).id(), "record-00100");

  Served stranger(other_graph, Signer(std::string(kKey) + " but not quite"));
  ListAttendanceRecordsResponse refused;
  ExpectInvalidToken(
      stranger.stub->ListAttendanceRecords(stranger.Context().get(), request, &refused));
}

TEST_F(SurfaceTest, StreamSendsEveryRecordInOrderInSeveralMessages) {
  graph_->SetReport(NumberedReport(2000));
  Served served(graph_, Signer(), /*stream_message_bytes=*/4096);
  StreamAttendanceRecordsRequest request;
  request.set_user_id("u");
  request.set_meeting_id("m");
  request.set_report_id("r");
  for (int round = 0; round < 2; ++round) {  // a miss, then a hit
    auto context = served.Context();
    std::unique_ptr<grpc::ClientReader<StreamAttendanceRecordsResponse>> reader =
        served.stub->StreamAttendanceRecords(context.get(), request);
    std::vector<std::string> ids;
    StreamAttendanceRecordsResponse message;
    int messages = 0;
    while (reader->Read(&message)) {
      ++messages;
      EXPECT_EQ(message.total_records(), 2000);
      for (const AttendanceRecord& record : message.attendance_records()) {
        ids.push_back(record.id());
      }
    }
    const grpc::Status status = reader->Finish();
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(ids, Expected(2000));
    EXPECT_GT(messages, 10);  // ~4 KiB each
  }
  EXPECT_EQ(graph_->call_count(), 1);
}

TEST_F(SurfaceTest, StreamOfAnUnknownReportEndsWithItsError) {
  graph_->SetError(common::MakeError(absl::StatusCode::kNotFound, "no such report",
                                     {"REPORT_NOT_FOUND", {}, std::nullopt}));
  Served served(graph_);
  StreamAttendanceRecordsRequest request;
  request.set_user_id("u");
  request.set_meeting_id("m");
  request.set_report_id("missing");
  for (int round = 0; round < 2; ++round) {  // Graph's 404, then the remembered one
    auto context = served.Context();
    auto reader = served.stub->StreamAttendanceRecords(context.get(), request);
    StreamAttendanceRecordsResponse message;
    EXPECT_FALSE(reader->Read(&message));
    const grpc::Status status = reader->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_EQ(DetailsOf(status).reason, "REPORT_NOT_FOUND");
  }
  EXPECT_EQ(graph_->call_count(), 1);
}

TEST_F(SurfaceTest, HundredConcurrentListCallsMakeOneGraphCallThenHit) {
  Notification gate;
  graph_->SetGate(&gate);
  Served served(graph_);
  ListAttendanceReportsRequest request;
  request.set_user_id("u");
  request.set_meeting_id("m");
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<ListAttendanceReportsResponse> responses(100);
  std::vector<grpc::Status> statuses(100);
  std::vector<Notification> done(100);
  for (int i = 0; i < 100; ++i) {
    contexts.push_back(served.Context());
    served.stub->async()->ListAttendanceReports(contexts.back().get(), &request, &responses[i],
                                                [&, i](grpc::Status s) {
                                                  statuses[i] = s;
                                                  done[i].Notify();
                                                });
  }
  ASSERT_TRUE(graph_->AwaitCalls(1, kWait));
  ASSERT_TRUE(served.cache.AwaitStats(
      [](const ReportCache::Stats& stats) { return stats.joins + stats.loads >= 100; }, kWait));
  gate.Notify();
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(done[i].WaitForNotificationWithTimeout(kWait));
    ASSERT_TRUE(statuses[i].ok()) << statuses[i].error_message();
    ASSERT_EQ(responses[i].reports_size(), 1);
    EXPECT_EQ(responses[i].reports(0).id(), test::SampleReport().id());
    EXPECT_EQ(responses[i].reports(0).attendance_records_size(), 0);
    EXPECT_FALSE(responses[i].from_cache());
  }
  EXPECT_EQ(graph_->call_count(), 1);
  EXPECT_EQ(graph_->calls()[0].kind, test::FakeGraphClient::Kind::kList);
  ListAttendanceReportsResponse again;
  ASSERT_TRUE(served.stub->ListAttendanceReports(served.Context().get(), request, &again).ok());
  EXPECT_TRUE(again.from_cache());
  EXPECT_EQ(graph_->call_count(), 1);
}

TEST_F(SurfaceTest, ResolveIsCachedAndItsErrorsPassThrough) {
  Served served(graph_);
  ResolveOnlineMeetingRequest request;
  request.set_user_id("14b779ae-cb64-47e7-a512-52fd50a4154d");
  request.set_join_web_url("https://teams.microsoft.com/l/meetup-join/19%3ameeting_x%40thread.v2/0");
  ResolveOnlineMeetingResponse first, second;
  ASSERT_TRUE(served.stub->ResolveOnlineMeeting(served.Context().get(), request, &first).ok());
  EXPECT_EQ(first.meeting().id(), "meeting-of:" + request.join_web_url());
  EXPECT_FALSE(first.from_cache());
  ASSERT_TRUE(served.stub->ResolveOnlineMeeting(served.Context().get(), request, &second).ok());
  EXPECT_TRUE(second.from_cache());
  EXPECT_EQ(second.meeting().id(), first.meeting().id());
  EXPECT_EQ(graph_->call_count(), 1);
  EXPECT_EQ(graph_->calls()[0].kind, test::FakeGraphClient::Kind::kFind);

  graph_->SetError(common::MakeError(
      absl::StatusCode::kPermissionDenied,
      "Graph denied access; grant the OnlineMeetings.Read.All application permission",
      {"GRAPH_FORBIDDEN", {}, std::nullopt}));
  request.set_join_web_url("https://teams.microsoft.com/l/meetup-join/another");
  ResolveOnlineMeetingResponse denied;
  const grpc::Status status =
      served.stub->ResolveOnlineMeeting(served.Context().get(), request, &denied);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(status.error_message().find("OnlineMeetings.Read.All"), std::string::npos);
  // Not remembered: the next call asks Graph again.
  const int calls = graph_->call_count();
  EXPECT_FALSE(served.stub->ResolveOnlineMeeting(served.Context().get(), request, &denied).ok());
  EXPECT_EQ(graph_->call_count(), calls + 1);
}

TEST_F(SurfaceTest, VirtualEventSessionsReachGraphAsTheirSourceAndAreCachedApart) {
  Served served(graph_);
  GetAttendanceReportRequest webinar;
  webinar.set_report_id("r");
  webinar.mutable_virtual_event_session()->set_kind(VIRTUAL_EVENT_KIND_WEBINAR);
  webinar.mutable_virtual_event_session()->set_event_id("e");
  webinar.mutable_virtual_event_session()->set_session_id("s");
  GetAttendanceReportRequest town_hall = webinar;
  town_hall.mutable_virtual_event_session()->set_kind(VIRTUAL_EVENT_KIND_TOWN_HALL);
  GetAttendanceReportRequest meeting;
  meeting.set_user_id("e");
  meeting.set_meeting_id("s");
  meeting.set_report_id("r");
  for (const GetAttendanceReportRequest* request : {&webinar, &town_hall, &meeting}) {
    GetAttendanceReportResponse response;
    ASSERT_TRUE(served.stub->GetAttendanceReport(served.Context().get(), *request, &response).ok());
    EXPECT_FALSE(response.from_cache());
  }
  const std::vector<test::FakeGraphClient::Call> calls = graph_->calls();
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0].ref.source, graph::ReportSource::kWebinar);
  EXPECT_EQ(calls[1].ref.source, graph::ReportSource::kTownHall);
  EXPECT_EQ(calls[2].ref.source, graph::ReportSource::kOnlineMeeting);
  for (const auto& call : calls) {
    EXPECT_EQ(call.ref.user_id, "e");
    EXPECT_EQ(call.ref.meeting_id, "s");
    EXPECT_EQ(call.ref.report_id, "r");
  }
  GetAttendanceReportResponse cached;
  ASSERT_TRUE(served.stub->GetAttendanceReport(served.Context().get(), webinar, &cached).ok());
  EXPECT_TRUE(cached.from_cache());
  EXPECT_EQ(graph_->call_count(), 3);
}

TEST_F(SurfaceTest, InvalidRequestsOfEveryRpcNameTheFieldAndReachNoGraph) {
  Served served(graph_);
  ListAttendanceReportsRequest both;
  both.set_user_id("u");
  both.set_meeting_id("m");
  both.mutable_virtual_event_session()->set_kind(VIRTUAL_EVENT_KIND_WEBINAR);
  ListAttendanceReportsResponse reports;
  grpc::Status status = served.stub->ListAttendanceReports(served.Context().get(), both, &reports);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(DetailsOf(status).metadata.at("field"),
            "virtual_event_session");

  ListAttendanceRecordsRequest big = RecordsRequest();
  big.set_page_size(5000);
  ListAttendanceRecordsResponse page;
  status = served.stub->ListAttendanceRecords(served.Context().get(), big, &page);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(DetailsOf(status).reason, "INVALID_PAGE_SIZE");

  ResolveOnlineMeetingRequest resolve;
  resolve.set_user_id("u");
  resolve.set_join_web_url("javascript:alert(1)");
  ResolveOnlineMeetingResponse meeting;
  status = served.stub->ResolveOnlineMeeting(served.Context().get(), resolve, &meeting);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(DetailsOf(status).metadata.at("field"), "join_web_url");

  StreamAttendanceRecordsRequest stream_request;
  stream_request.set_user_id("u");
  stream_request.set_meeting_id("m");
  auto context = served.Context();
  auto reader = served.stub->StreamAttendanceRecords(context.get(), stream_request);
  StreamAttendanceRecordsResponse message;
  EXPECT_FALSE(reader->Read(&message));
  status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(DetailsOf(status).metadata.at("field"), "report_id");
  EXPECT_EQ(graph_->call_count(), 0);
}

}  // namespace
}  // namespace rollcall::service
