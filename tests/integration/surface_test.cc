// The whole attendance surface end to end (issue 10's acceptance): rollcall_server and the Graph
// emulator as real processes over HTTPS, gRPC from the test.
//   1. 25,000 records paged by Graph 100 at a time come back whole, in order, once each, by
//      GetAttendanceReport, ListAttendanceRecords and StreamAttendanceRecords;
//   2. altered and made-up page tokens are refused and reach no Graph URL; a token minted by one
//      server process works on a second one with the same key, not on one with another key;
//   3. (memory under a slow stream reader: bench/stream_memory.py);
//   4. the docs' join link resolves to the docs' meeting ID, whose reports list and get; 100
//      concurrent identical list calls make one Graph call;
//   5. webinar and town hall session reports and records round-trip field by field, and a
//      property no schema names survives on a record.

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "tests/integration/environment.h"
#include "tests/testing/notification.h"
#include "tests/testing/protobuf_oracle.h"

namespace rollcall::testing {
namespace {

using ::testing::HasSubstr;
using namespace rollcall::v1;

constexpr int kRecords = 25000;

// The docs' meeting of get-onlinemeeting-by-joinweburl-msteams-docs.json.
constexpr char kLinkUser[] = "14b779ae-cb64-47e7-a512-52fd50a4154d";
constexpr char kLinkMeeting[] =
    "MSoxNGI3NzlhZS1jYjY0LTQ3ZTctYTUxMi01MmZkNTBhNDE1NGQqMCoqMTk6bWVldGluZ19NVE01T1RZM01HVXRObVk0"
    "TWkwMFlqZzRMVGsyTURVdFkySXlaR1JsTm1VMVpqQTJAdGhyZWFkLnYy";
constexpr char kDocsJoinUrl[] =
    "https://teams.microsoft.com/l/meetup-join/"
    "19%3ameeting_MTM5OTY3MGUtNmY4Mi00Yjg4LTk2MDUtY2IyZGRlNmU1ZjA2%40thread.v2/0?context="
    "%7b%22Tid%22%3a%222432b57b-0abd-43db-aa7b-16eadd115d34%22%2c%22Oid%22%3a%2214b779ae-cb64-"
    "47e7-a512-52fd50a4154d%22%7d";
// The emulator's default dataset's sessions (tests/fake_graph/README.md).
constexpr char kWebinar[] =
    "f8ce2a5f-0e6a-4186-aa90-1f64bc023566@5466a424-aadf-425c-9b24-034ca28d4bdd";
constexpr char kWebinarSession[] = "8d62dd52-4dff-4c75-96a9-f905cc3ff942";
constexpr char kWebinarReport[] = "b76965d4-0763-496e-9980-b323c5f3aa3b";
constexpr char kTownHall[] =
    "9a7c3e51-2b84-4d6f-a0e9-5c1d7b3f8e26@5466a424-aadf-425c-9b24-034ca28d4bdd";
constexpr char kTownHallSession[] = "4f2a8c1d-7e3b-4a9f-b6d5-0c8e1f2a3b4d";
constexpr char kTownHallReport[] = "7c4e9b2a-1d3f-4e5a-8b6c-9d0e1f2a3b4c";

std::unique_ptr<grpc::ClientContext> Context() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  return context;
}

// A stub whose channel takes replies of any size (a whole 25,000-record report is megabytes).
std::unique_ptr<AttendanceReportService::Stub> LargeReplyStub(const RollcallProcess& server) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetInt("rollcall.large_reply_channel", 1);
  return AttendanceReportService::NewStub(
      grpc::CreateCustomChannel(server.address(), grpc::InsecureChannelCredentials(), args));
}

std::string RecordId(int i) {
  std::string digits = std::to_string(i);
  if (digits.size() < 5) digits.insert(0, 5 - digits.size(), '0');
  return "record-" + digits;
}

// Each ID once, in order: record-00000 .. record-24999.
void ExpectAllRecordsInOrder(const std::vector<std::string>& ids) {
  ASSERT_EQ(ids.size(), static_cast<std::size_t>(kRecords));
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), ids.size()) << "duplicates";
  for (int i = 0; i < kRecords; ++i) {
    if (ids[i] != RecordId(i)) {
      ADD_FAILURE() << "record " << i << " is " << ids[i];
      return;
    }
  }
}

std::unique_ptr<RollcallProcess> StartServer(const FakeGraph& graph,
                                             const std::map<std::string, std::string>& env = {}) {
  auto server = RollcallProcess::Start(graph, env);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

int GraphCalls(FakeGraph& graph) {
  return graph.Counter("report") + graph.Counter("records") + graph.Counter("reports_list") +
         graph.Counter("meeting_lookup");
}

TEST(SurfaceTest, TwentyFiveThousandRecordsPagedBy100ComeBackWholeEachWay) {
  auto graph = FakeGraph::Start({"--records-page-size", "100"});
  ASSERT_TRUE(graph.ok()) << graph.status();
  ASSERT_TRUE((*graph)
                  ->PostJson("/_emulator/reports",
                             absl::StrCat(R"({"user": "big-user", "meeting": "big-meeting", )",
                                          R"("report": "r25k", "records": )", kRecords, "}"))
                  .ok());
  auto server = StartServer(**graph);
  ASSERT_NE(server, nullptr);

  // The stream first: a miss, so Rollcall walks Graph's 250 pages once.
  StreamAttendanceRecordsRequest stream_request;
  stream_request.set_user_id("big-user");
  stream_request.set_meeting_id("big-meeting");
  stream_request.set_report_id("r25k");
  std::vector<std::string> streamed;
  int messages = 0;
  {
    auto context = Context();
    auto reader = server->stub().StreamAttendanceRecords(context.get(), stream_request);
    StreamAttendanceRecordsResponse message;
    while (reader->Read(&message)) {
      ++messages;
      EXPECT_EQ(message.total_records(), kRecords);
      for (const AttendanceRecord& record : message.attendance_records()) {
        streamed.push_back(record.id());
      }
    }
    const grpc::Status status = reader->Finish();
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  ExpectAllRecordsInOrder(streamed);
  EXPECT_GT(messages, 50) << "records come in messages of ~32 KiB, not one message";
  // Graph was asked for the report (its first 100 records expanded) and 249 more pages.
  EXPECT_EQ((*graph)->Counter("report"), 1);
  EXPECT_EQ((*graph)->Counter("records"), kRecords / 100 - 1);
  const int graph_calls = GraphCalls(**graph);

  // The whole report in one reply.
  GetAttendanceReportRequest get_request;
  get_request.set_user_id("big-user");
  get_request.set_meeting_id("big-meeting");
  get_request.set_report_id("r25k");
  GetAttendanceReportResponse whole;
  const grpc::Status got =
      LargeReplyStub(*server)->GetAttendanceReport(Context().get(), get_request, &whole);
  ASSERT_TRUE(got.ok()) << got.error_message();
  std::vector<std::string> gotten;
  for (const AttendanceRecord& record : whole.report().attendance_records()) {
    gotten.push_back(record.id());
  }
  ExpectAllRecordsInOrder(gotten);
  EXPECT_TRUE(whole.from_cache());

  // Pages of 100.
  ListAttendanceRecordsRequest page_request;
  page_request.set_user_id("big-user");
  page_request.set_meeting_id("big-meeting");
  page_request.set_report_id("r25k");
  page_request.set_page_size(100);
  std::vector<std::string> paged;
  int pages = 0;
  while (true) {
    ListAttendanceRecordsResponse page;
    const grpc::Status status =
        server->stub().ListAttendanceRecords(Context().get(), page_request, &page);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ++pages;
    ASSERT_LE(page.attendance_records_size(), 100);
    EXPECT_EQ(page.total_records(), kRecords);
    for (const AttendanceRecord& record : page.attendance_records()) paged.push_back(record.id());
    if (page.next_page_token().empty()) break;
    page_request.set_page_token(page.next_page_token());
    ASSERT_LT(pages, 1000);
  }
  EXPECT_EQ(pages, kRecords / 100);
  ExpectAllRecordsInOrder(paged);
  // Full records, not just IDs: a paged record equals the same record of the whole report.
  ListAttendanceRecordsRequest one = page_request;
  one.clear_page_token();
  one.set_page_size(1);
  ListAttendanceRecordsResponse first;
  ASSERT_TRUE(server->stub().ListAttendanceRecords(Context().get(), one, &first).ok());
  ASSERT_EQ(first.attendance_records_size(), 1);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
      first.attendance_records(0), whole.report().attendance_records(0)));
  // Everything after the first walk came from Rollcall's cache.
  EXPECT_EQ(GraphCalls(**graph), graph_calls);
}

TEST(SurfaceTest, PageTokensAreBoundToTheReportAndTheKeyAndWorkAcrossProcesses) {
  auto graph = FakeGraph::Start({"--records-page-size", "100"});
  ASSERT_TRUE(graph.ok()) << graph.status();
  ASSERT_TRUE((*graph)
                  ->PostJson("/_emulator/reports",
                             R"({"user": "u", "meeting": "m", "report": "r", "records": 350})")
                  .ok());
  const std::string dir = ::testing::TempDir();
  const std::string shared_key = dir + "/surface_shared_key";
  const std::string other_key = dir + "/surface_other_key";
  std::ofstream(shared_key) << "a key every replica of this deployment shares, 48 bytes long\n";
  std::ofstream(other_key) << "another deployment's key, also long enough to be accepted\n";
  auto minting = StartServer(**graph, {{"ROLLCALL_PAGE_TOKEN_KEY_FILE", shared_key}});
  auto alike = StartServer(**graph, {{"ROLLCALL_PAGE_TOKEN_KEY_FILE", shared_key}});
  auto stranger = StartServer(**graph, {{"ROLLCALL_PAGE_TOKEN_KEY_FILE", other_key}});
  ASSERT_NE(minting, nullptr);
  ASSERT_NE(alike, nullptr);
  ASSERT_NE(stranger, nullptr);

  ListAttendanceRecordsRequest request;
  request.set_user_id("u");
  request.set_meeting_id("m");
  request.set_report_id("r");
  request.set_page_size(100);
  ListAttendanceRecordsResponse first;
  ASSERT_TRUE(minting->stub().ListAttendanceRecords(Context().get(), request, &first).ok());
  const std::string token = first.next_page_token();
  ASSERT_EQ(token.size(), 28u);

  // Another process with the same key continues where the first left off.
  request.set_page_token(token);
  ListAttendanceRecordsResponse second;
  const grpc::Status continued =
      alike->stub().ListAttendanceRecords(Context().get(), request, &second);
  ASSERT_TRUE(continued.ok()) << continued.error_message();
  ASSERT_EQ(second.attendance_records_size(), 100);
  EXPECT_EQ(second.attendance_records(0).id(), RecordId(100));

  const int graph_calls = GraphCalls(**graph);
  const auto expect_refused = [&](RollcallProcess& server, const ListAttendanceRecordsRequest& r) {
    ListAttendanceRecordsResponse page;
    const grpc::Status status = server.stub().ListAttendanceRecords(Context().get(), r, &page);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << r.page_token();
    EXPECT_EQ(ErrorInfoOf(status).reason(), "INVALID_PAGE_TOKEN") << r.page_token();
    EXPECT_THAT(status.error_message(), ::testing::Not(HasSubstr(r.page_token())));
  };
  // A process with another key refuses it.
  expect_refused(*stranger, request);
  // Altered: every character changed in turn (the offset's and the MAC's).
  for (std::size_t at = 0; at < token.size(); ++at) {
    ListAttendanceRecordsRequest altered = request;
    std::string bad = token;
    bad[at] = bad[at] == 'A' ? 'B' : 'A';
    altered.set_page_token(bad);
    expect_refused(*minting, altered);
  }
  // Made up: what a client might guess.
  for (const std::string& made_up :
       {std::string("100"), std::string("eyJvZmZzZXQiOjIwMH0"), std::string("skiptoken=abc"),
        std::string("https://graph.microsoft.com/v1.0/users/u/onlineMeetings/m/attendanceReports/"
                    "r/attendanceRecords?$skiptoken=2"),
        std::string(28, 'A')}) {
    ListAttendanceRecordsRequest guessed = request;
    guessed.set_page_token(made_up);
    expect_refused(*minting, guessed);
  }
  // The right token for another report of the same meeting.
  ListAttendanceRecordsRequest elsewhere = request;
  elsewhere.set_report_id("another-report");
  expect_refused(*minting, elsewhere);

  // None of those reached Graph, and no token ever appeared in a Graph URL.
  EXPECT_EQ(GraphCalls(**graph), graph_calls);
  auto log = (*graph)->Requests();
  ASSERT_TRUE(log.ok()) << log.status();
  for (const auto& entry : log->GetArray()) {
    const std::string url = absl::StrCat(entry["raw_path"].GetString(), "?",
                                         entry["query"].IsString() ? entry["query"].GetString()
                                                                   : "");
    EXPECT_THAT(url, ::testing::Not(HasSubstr(token.substr(0, 12))));
    EXPECT_THAT(url, ::testing::Not(HasSubstr("another-report")));
  }
}

// Resolves the docs' join link as its organizer.
grpc::Status ResolveDocsLink(RollcallProcess& server, ResolveOnlineMeetingResponse* resolved) {
  ResolveOnlineMeetingRequest resolve;
  resolve.set_user_id(kLinkUser);
  resolve.set_join_web_url(kDocsJoinUrl);
  return server.stub().ResolveOnlineMeeting(Context().get(), resolve, resolved);
}

TEST(SurfaceTest, TheDocsJoinLinkResolvesAndItsReportsListAndGetWithOneListCall) {
  auto graph = FakeGraph::Start();
  ASSERT_TRUE(graph.ok()) << graph.status();
  auto server = StartServer(**graph);
  ASSERT_NE(server, nullptr);

  ResolveOnlineMeetingResponse resolved;
  const grpc::Status status = ResolveDocsLink(*server, &resolved);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(resolved.meeting().id(), kLinkMeeting);
  EXPECT_EQ(resolved.meeting().join_web_url(), kDocsJoinUrl);
  EXPECT_EQ(resolved.meeting().chat_thread_id(),
            "19:meeting_MTM5OTY3MGUtNmY4Mi00Yjg4LTk2MDUtY2IyZGRlNmU1ZjA2@thread.v2");
  EXPECT_EQ(resolved.meeting().start_date_time().seconds(), 1650969000);  // 2022-04-26T10:30:00Z
  EXPECT_EQ((*graph)->Counter("meeting_lookup"), 1);

  // 100 identical list calls at once: one Graph call.
  ListAttendanceReportsRequest list;
  list.set_user_id(kLinkUser);
  list.set_meeting_id(resolved.meeting().id());
  constexpr int kCalls = 100;
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<ListAttendanceReportsResponse> replies(kCalls);
  std::vector<grpc::Status> statuses(kCalls);
  std::vector<Notification> done(kCalls);
  for (int i = 0; i < kCalls; ++i) {
    contexts.push_back(Context());
    server->stub().async()->ListAttendanceReports(contexts.back().get(), &list, &replies[i],
                                                  [&, i](grpc::Status s) {
                                                    statuses[i] = std::move(s);
                                                    done[i].Notify();
                                                  });
  }
  for (int i = 0; i < kCalls; ++i) {
    ASSERT_TRUE(done[i].WaitForNotificationWithTimeout(absl::Seconds(60)));
    ASSERT_TRUE(statuses[i].ok()) << statuses[i].error_message();
    ASSERT_EQ(replies[i].reports_size(), 1);
  }
  EXPECT_EQ((*graph)->Counter("reports_list"), 1);

  GetAttendanceReportRequest get;
  get.set_user_id(kLinkUser);
  get.set_meeting_id(resolved.meeting().id());
  get.set_report_id(replies[0].reports(0).id());
  GetAttendanceReportResponse report;
  ASSERT_TRUE(server->stub().GetAttendanceReport(Context().get(), get, &report).ok());
  EXPECT_EQ(report.report().id(), "5d1b2a9e-6a4c-4f0e-9b2d-3c7e8f1a2b4c");
  EXPECT_EQ(report.report().attendance_records_size(), 2);
}

TEST(SurfaceTest, ResolvingWithoutOnlineMeetingsReadAllNamesThePermission) {
  auto graph = FakeGraph::Start({"--app-permissions", "OnlineMeetingArtifact.Read.All"});
  ASSERT_TRUE(graph.ok()) << graph.status();
  auto server = StartServer(**graph);
  ASSERT_NE(server, nullptr);
  ResolveOnlineMeetingResponse resolved;
  const grpc::Status status = ResolveDocsLink(*server, &resolved);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(ErrorInfoOf(status).reason(), "GRAPH_FORBIDDEN");
  EXPECT_THAT(status.error_message(), HasSubstr("OnlineMeetings.Read.All"));
  // The reports themselves are still readable with the artifact permission.
  ListAttendanceReportsRequest list;
  list.set_user_id(kLinkUser);
  list.set_meeting_id(kLinkMeeting);
  ListAttendanceReportsResponse reports;
  EXPECT_TRUE(server->stub().ListAttendanceReports(Context().get(), list, &reports).ok());
}

// The emulator's stored report (tests/fake_graph/dataset.json) of a virtual event session, as
// protobuf's JSON parser reads it (the oracle, independent of Rollcall's mapping).
MeetingAttendanceReport StoredSessionReport(const char* kind, const char* event,
                                            const char* session, const char* report,
                                            bool beta) {
  std::ifstream in(ROLLCALL_FAKE_GRAPH_DATASET);
  std::stringstream text;
  text << in.rdbuf();
  rapidjson::Document dataset;
  dataset.Parse(text.str().c_str());
  EXPECT_FALSE(dataset.HasParseError());
  rapidjson::Value& stored = dataset["virtualEvents"][kind][event]["sessions"][session]
                                    ["attendanceReports"][report];
  if (!beta && stored.HasMember("attendanceRecords")) {
    // /v1.0 leaves the beta-only engagements out (tests/fake_graph/README.md).
    for (auto& record : stored["attendanceRecords"].GetArray()) record.RemoveMember("engagements");
  }
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  stored.Accept(writer);
  absl::StatusOr<MeetingAttendanceReport> expected = OracleReport(buffer.GetString());
  EXPECT_TRUE(expected.ok()) << expected.status();
  return expected.ok() ? *expected : MeetingAttendanceReport();
}

VirtualEventSession Session(VirtualEventKind kind, const char* event, const char* session) {
  VirtualEventSession out;
  out.set_kind(kind);
  out.set_event_id(event);
  out.set_session_id(session);
  return out;
}

TEST(SurfaceTest, WebinarAndTownHallSessionsRoundTripFieldByField) {
  auto graph = FakeGraph::Start({"--records-page-size", "2"});
  ASSERT_TRUE(graph.ok()) << graph.status();
  for (const bool beta : {false, true}) {
    SCOPED_TRACE(beta ? "beta" : "v1.0");
    auto server = StartServer(**graph, {{"ROLLCALL_GRAPH_VERSION", beta ? "beta" : "v1.0"}});
    ASSERT_NE(server, nullptr);
    struct Case {
      const char* kind;
      VirtualEventKind proto_kind;
      const char* event;
      const char* session;
      const char* report;
    };
    for (const Case& c : {Case{"webinars", VIRTUAL_EVENT_KIND_WEBINAR, kWebinar, kWebinarSession,
                               kWebinarReport},
                          Case{"townhalls", VIRTUAL_EVENT_KIND_TOWN_HALL, kTownHall,
                               kTownHallSession, kTownHallReport}}) {
      SCOPED_TRACE(c.kind);
      const MeetingAttendanceReport expected =
          StoredSessionReport(c.kind, c.event, c.session, c.report, beta);
      GetAttendanceReportRequest get;
      get.set_report_id(c.report);
      *get.mutable_virtual_event_session() = Session(c.proto_kind, c.event, c.session);
      GetAttendanceReportResponse got;
      const grpc::Status status = server->stub().GetAttendanceReport(Context().get(), get, &got);
      ASSERT_TRUE(status.ok()) << status.error_message();
      std::string diff;
      google::protobuf::util::MessageDifferencer differencer;
      differencer.ReportDifferencesToString(&diff);
      EXPECT_TRUE(differencer.Compare(expected, got.report())) << diff;

      // Its records, paged, are the same records.
      ListAttendanceRecordsRequest records;
      records.set_report_id(c.report);
      *records.mutable_virtual_event_session() = get.virtual_event_session();
      records.set_page_size(1);
      std::vector<AttendanceRecord> paged;
      while (true) {
        ListAttendanceRecordsResponse page;
        ASSERT_TRUE(server->stub().ListAttendanceRecords(Context().get(), records, &page).ok());
        for (const AttendanceRecord& record : page.attendance_records()) paged.push_back(record);
        if (page.next_page_token().empty()) break;
        records.set_page_token(page.next_page_token());
      }
      ASSERT_EQ(static_cast<int>(paged.size()), expected.attendance_records_size());
      for (std::size_t i = 0; i < paged.size(); ++i) {
        EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
            paged[i], expected.attendance_records(static_cast<int>(i))));
      }

      // The session's list of reports holds it, without records.
      ListAttendanceReportsRequest list;
      *list.mutable_virtual_event_session() = get.virtual_event_session();
      ListAttendanceReportsResponse listed;
      ASSERT_TRUE(server->stub().ListAttendanceReports(Context().get(), list, &listed).ok());
      ASSERT_EQ(listed.reports_size(), 1);
      EXPECT_EQ(listed.reports(0).id(), c.report);
      EXPECT_EQ(listed.reports(0).attendance_records_size(), 0);
    }

    // The town hall's third record: an ACS attendee with a property no schema names, kept.
    GetAttendanceReportRequest get;
    get.set_report_id(kTownHallReport);
    *get.mutable_virtual_event_session() =
        Session(VIRTUAL_EVENT_KIND_TOWN_HALL, kTownHall, kTownHallSession);
    GetAttendanceReportResponse got;
    ASSERT_TRUE(server->stub().GetAttendanceReport(Context().get(), get, &got).ok());
    ASSERT_EQ(got.report().attendance_records_size(), 3);
    const AttendanceRecord& acs = got.report().attendance_records(2);
    ASSERT_EQ(acs.additional_properties().fields().count("futureProperty"), 1u);
    const google::protobuf::Value& future =
        acs.additional_properties().fields().at("futureProperty");
    ASSERT_TRUE(future.has_struct_value());
    EXPECT_EQ(future.struct_value().fields().at("a").number_value(), 1);
    EXPECT_EQ(acs.identity().odata_type(),
              "#microsoft.graph.azureCommunicationServicesUserIdentity");
    // engagements are beta's: filled on beta only.
    EXPECT_EQ(got.report().attendance_records(1).engagements_size() > 0, beta);
  }
}

}  // namespace
}  // namespace rollcall::testing
