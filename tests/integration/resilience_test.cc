// Issue 3, "Keep serving when Graph misbehaves", end to end: for each way Graph (or the network)
// can fail, the Graph emulator injects that fault (tests/fake_graph/README.md, "Fault
// injection") and the test checks both what the gRPC caller sees and what the emulator counted:
// how many report and token requests reached "Graph", and which of them a fault answered.
//
// Every test starts its own rollcall_server with the settings it needs (ROLLCALL_* variables),
// so no cache, token or queue from another test can hide a call. Waits on Graph's Retry-After
// are real time by nature; everything else waits for a signal, never for a guessed time and
// never by polling: the emulator blocks until a request has taken a fault
// (FakeGraph::WaitForActiveFaults), the server's health stream says when shutdown begins
// (HealthWatch), a call's completion is a callback. The timeouts passed to those waits only
// bound how long a failing test hangs. The few wall-clock bounds left each say beside them why
// that bound, and why ctest -j and ASan cannot make them fail: a stalled request is stalled far
// longer (60 s) than any bound, and "did not wait for the stall" is shown by a call succeeding
// within a deadline shorter than the stall wherever that can replace a bound.

#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/wait.h>

#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"
#include "tests/integration/environment.h"
#include "tests/testing/health_watch.h"
#include "tests/testing/notification.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ROLLCALL_UNDER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define ROLLCALL_UNDER_ASAN 1
#endif

namespace rollcall::testing {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::testing::AnyOf;
using ::testing::Eq;
using rollcall::v1::AttendanceReportService;
using rollcall::v1::GetAttendanceReportRequest;
using rollcall::v1::GetAttendanceReportResponse;

// The second report of the emulator's default dataset (same user and meeting as the docs one).
constexpr char kSecondDocsReport[] = "2c2c2454-7613-4d6e-9c7c-4cf7a6cdce89";

// Graph's 401 for a token it does not accept (shape of §4; text of the emulator's own 401).
constexpr char kInvalidTokenBody[] =
    R"({"error":{"code":"InvalidAuthenticationToken","message":"Access token validation failure.",)"
    R"("innerError":{"date":"2024-05-01T10:00:00","request-id":"5f0b3c1e-0d5e-4a55-9a39-1d0b5e7a2c11",)"
    R"("client-request-id":"5f0b3c1e-0d5e-4a55-9a39-1d0b5e7a2c11"}}})";

GetAttendanceReportRequest Request(const std::string& report_id,
                                   const std::string& meeting = kDocsMeeting) {
  GetAttendanceReportRequest request;
  request.set_user_id(kDocsUser);
  request.set_meeting_id(meeting);
  request.set_report_id(report_id);
  return request;
}

// One blocking call; `deadline` zero means the client sets no deadline at all.
grpc::Status Call(AttendanceReportService::Stub& stub, const GetAttendanceReportRequest& request,
                  GetAttendanceReportResponse* response,
                  absl::Duration deadline = absl::Seconds(30)) {
  grpc::ClientContext context;
  if (deadline > absl::ZeroDuration()) {
    context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  }
  return stub.GetAttendanceReport(&context, request, response);
}

// A call in flight, on gRPC's callback API.
struct AsyncCall {
  grpc::ClientContext context;
  GetAttendanceReportRequest request;
  GetAttendanceReportResponse response;
  grpc::Status status;
  absl::Time start;
  absl::Time end;
  std::promise<void> done;
  std::future<void> finished = done.get_future();
  Notification* also_notify = nullptr;  // notified too when the call ends, if set

  absl::Duration elapsed() const { return end - start; }
  bool Wait(absl::Duration timeout) {
    return finished.wait_for(absl::ToChronoMilliseconds(timeout)) == std::future_status::ready;
  }
};

std::unique_ptr<AsyncCall> StartCall(AttendanceReportService::Stub& stub,
                                     const GetAttendanceReportRequest& request,
                                     absl::Duration deadline = absl::Seconds(30),
                                     Notification* also_notify = nullptr) {
  auto call = std::make_unique<AsyncCall>();
  call->request = request;
  call->also_notify = also_notify;
  call->context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  call->start = absl::Now();
  AsyncCall* raw = call.get();
  stub.async()->GetAttendanceReport(&raw->context, &raw->request, &raw->response,
                                    [raw](grpc::Status status) {
                                      raw->status = std::move(status);
                                      raw->end = absl::Now();
                                      // Before `done`: once it is set, the test may
                                      // destroy the call and the notification.
                                      if (raw->also_notify != nullptr) raw->also_notify->Notify();
                                      raw->done.set_value();
                                    });
  return call;
}

template <typename T>
bool UnpackDetail(const grpc::Status& status, T* out) {
  google::rpc::Status details;
  if (!details.ParseFromString(status.error_details())) return false;
  for (const auto& any : details.details()) {
    if (any.UnpackTo(out)) return true;
  }
  return false;
}

std::string ReasonOf(const grpc::Status& status) {
  google::rpc::ErrorInfo info;
  return UnpackDetail(status, &info) ? info.reason() : "";
}

std::string Describe(const grpc::Status& status) {
  return absl::StrCat("code ", status.error_code(), " ", ReasonOf(status), ": ",
                      status.error_message());
}

// The request log's entries of one kind (report, token, ...), oldest first.
struct LoggedRequest {
  std::string kind;
  std::string raw_path;
  int status = 0;     // 0 when a reset answered nothing
  std::string fault;  // "" when no fault applied
  std::string client_request_id;  // the request's headers ("" when absent)
  std::string traceparent;
};
std::vector<LoggedRequest> LoggedRequests(FakeGraph& graph, const std::string& kind = "") {
  std::vector<LoggedRequest> out;
  auto log = graph.Requests();
  if (!log.ok() || !log->IsArray()) {
    ADD_FAILURE() << "no request log: " << log.status();
    return out;
  }
  for (const auto& entry : log->GetArray()) {
    LoggedRequest r;
    r.kind = entry["kind"].GetString();
    if (!kind.empty() && r.kind != kind) continue;
    r.raw_path = entry["raw_path"].IsString() ? entry["raw_path"].GetString() : "";
    r.status = entry["status"].IsInt() ? entry["status"].GetInt() : 0;
    r.fault = entry["fault"].IsString() ? entry["fault"].GetString() : "";
    for (auto [field, out] : {std::pair{"client_request_id", &r.client_request_id},
                              std::pair{"traceparent", &r.traceparent}}) {
      if (entry.HasMember(field) && entry[field].IsString()) *out = entry[field].GetString();
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<int> Statuses(const std::vector<LoggedRequest>& log) {
  std::vector<int> out;
  for (const auto& r : log) out.push_back(r.status);
  return out;
}

// A small report with `records` attendance records, as Graph would store it.
std::string ReportJson(const std::string& id, int records) {
  std::string json = absl::StrCat(
      R"({"id":")", id, R"(","totalParticipantCount":)", records,
      R"(,"meetingStartDateTime":"2021-10-05T04:38:23.945Z","meetingEndDateTime":"2021-10-05T05:43:49.77Z",)"
      R"("attendanceRecords":[)");
  for (int i = 0; i < records; ++i) {
    absl::StrAppend(&json, i == 0 ? "" : ",", R"({"id":"rec-)", i,
                    R"(","emailAddress":"user)", i,
                    R"(@contoso.com","totalAttendanceInSeconds":)", 60 + i,
                    R"(,"role":"Attendee","identity":{"id":"id-)", i,
                    R"(","displayName":"User )", i,
                    R"(","tenantId":null},"attendanceIntervals":[{"joinDateTime":"2021-10-05T04:38:27.6027225Z",)"
                    R"("leaveDateTime":"2021-10-05T04:39:27.6027225Z","durationInSeconds":60}]})");
  }
  json += "]}";
  return json;
}

// Each test has its own emulator as well as its own server: a request the emulator is still
// stalling when a test ends would otherwise be counted by the next one.
class ResilienceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto graph = FakeGraph::Start();
    ASSERT_TRUE(graph.ok()) << graph.status();
    graph_ = *std::move(graph);
  }
  void TearDown() override {
    if (!HasFailure() || graph_ == nullptr) return;
    if (server_ != nullptr) std::cerr << "rollcall_server stderr:\n" << server_->Stderr() << "\n";
    std::cerr << "emulator request log (kind status fault path):\n";
    for (const auto& r : LoggedRequests(*graph_)) {
      std::cerr << "  " << r.kind << " " << r.status << " " << (r.fault.empty() ? "-" : r.fault)
                << " " << r.raw_path << "\n";
    }
  }

  // Starts this test's server; `env` adds ROLLCALL_* settings. Fails the test when it cannot.
  RollcallProcess* StartServer(const std::map<std::string, std::string>& env = {}) {
    auto server = RollcallProcess::Start(*graph_, env);
    EXPECT_TRUE(server.ok()) << server.status();
    server_ = server.ok() ? *std::move(server) : nullptr;
    return server_.get();
  }

  void AddFault(const FaultSpec& fault) {
    const absl::Status status = graph_->AddFault(fault);
    ASSERT_TRUE(status.ok()) << status << " for " << fault.Json();
  }

  void AddReport(const std::string& id, int records = 1,
                 const std::string& meeting = kDocsMeeting) {
    ASSERT_TRUE(graph_->AddReport(kDocsUser, meeting, id, ReportJson(id, records)).ok());
  }

  // A call that must succeed with the docs report (or `report_id`) fetched from Graph.
  void ExpectFreshReport(RollcallProcess& server, const std::string& report_id = kDocsReport) {
    GetAttendanceReportResponse response;
    const grpc::Status status = Call(server.stub(), Request(report_id), &response);
    ASSERT_TRUE(status.ok()) << Describe(status);
    EXPECT_EQ(response.report().id(), report_id);
    EXPECT_FALSE(response.from_cache());
    EXPECT_FALSE(response.stale());
  }

  std::unique_ptr<FakeGraph> graph_;
  std::unique_ptr<RollcallProcess> server_;  // stopped before the emulator
};

// --- Following one request: the caller, the logs and Graph share its IDs ---------------------

// The first of the server's log lines (JSON, one per line) whose msg is `msg` and whose text
// holds every one of `needles`, parsed; waits for it a few seconds (the server writes it before
// it answers, but stderr is read by another thread).
rapidjson::Document LogLine(RollcallProcess& server, absl::string_view msg,
                            std::vector<std::string> needles) {
  rapidjson::Document found;
  for (int attempt = 0; attempt < 100; ++attempt) {
    for (absl::string_view line : absl::StrSplit(server.Stderr(), '\n')) {
      rapidjson::Document doc;
      if (doc.Parse(line.data(), line.size()).HasParseError() || !doc.IsObject() ||
          !doc.HasMember("msg") || doc["msg"] != rapidjson::StringRef(msg.data(), msg.size())) {
        continue;
      }
      bool all = true;
      for (const std::string& needle : needles) all = all && absl::StrContains(line, needle);
      if (all) return doc;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // stderr not read yet
  }
  ADD_FAILURE() << "no \"" << msg << "\" log line holding " << absl::StrJoin(needles, ", ");
  return found;
}

TEST_F(ResilienceTest, AGraphErrorsIdsReachTheCallerAndTheLogsAndTheCallersTraceReachesGraph) {
  RollcallProcess* server = StartServer();
  ASSERT_NE(server, nullptr);
  constexpr char kTraceparent[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  constexpr char kTraceId[] = "4bf92f3577b34da6a3ce929d0e0e4736";

  grpc::ClientContext context;
  context.AddMetadata("traceparent", kTraceparent);
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  GetAttendanceReportResponse response;
  const grpc::Status status =
      server->stub().GetAttendanceReport(&context, Request("no-such-report"), &response);
  ASSERT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << Describe(status);

  // The caller has both IDs, as ErrorInfo metadata.
  const google::rpc::ErrorInfo info = ErrorInfoOf(status);
  const std::string request_id = info.metadata().at("graph_request_id");
  const std::string client_request_id = info.metadata().at("graph_client_request_id");
  ASSERT_FALSE(request_id.empty());
  ASSERT_FALSE(client_request_id.empty());

  // Graph got the client-request-id and the caller's traceparent, unchanged.
  std::vector<LoggedRequest> reports = LoggedRequests(*graph_, "report");
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].client_request_id, client_request_id);
  EXPECT_EQ(reports[0].traceparent, kTraceparent);

  // The server's log: the Graph call, the failed load and the RPC each carry what ties them
  // together, with typed values at the top level.
  rapidjson::Document call = LogLine(*server, "graph call", {request_id, client_request_id});
  ASSERT_TRUE(call.IsObject());
  EXPECT_STREQ(call["endpoint"].GetString(), "attendance_report");
  EXPECT_EQ(call["http_status"].GetInt(), 404);
  EXPECT_TRUE(call["latency_ms"].IsNumber());
  EXPECT_STREQ(call["graph_request_id"].GetString(), request_id.c_str());
  EXPECT_STREQ(call["graph_client_request_id"].GetString(), client_request_id.c_str());
  EXPECT_STREQ(call["trace_id"].GetString(), kTraceId);
  rapidjson::Document failed =
      LogLine(*server, "graph fetch failed", {request_id, client_request_id, kTraceId});
  ASSERT_TRUE(failed.IsObject());
  EXPECT_STREQ(failed["reason"].GetString(), "REPORT_NOT_FOUND");
  EXPECT_EQ(failed["http_status"].GetInt(), 404);
  rapidjson::Document rpc = LogLine(*server, "rpc", {"NOT_FOUND", kTraceId});
  ASSERT_TRUE(rpc.IsObject());
  EXPECT_STREQ(rpc["method"].GetString(), "GetAttendanceReport");
  EXPECT_STREQ(rpc["cache"].GetString(), "miss");

  // A hit costs nothing at the default level (info): no rpc line for it.
  GetAttendanceReportResponse docs;
  ASSERT_TRUE(Call(server->stub(), Request(kDocsReport), &docs).ok());
  ASSERT_TRUE(Call(server->stub(), Request(kDocsReport), &docs).ok());
  ASSERT_TRUE(docs.from_cache());
  LogLine(*server, "rpc", {"\"cache\":\"miss\"", "\"code\":\"OK\""});
  EXPECT_FALSE(absl::StrContains(server->Stderr(), "\"cache\":\"hit\""));

  // No secret and no token in any line.
  const std::string log = server->Stderr();
  EXPECT_FALSE(absl::StrContains(log, kClientSecret));
  auto tokens = graph_->GetJson("/_emulator/tokens");
  ASSERT_TRUE(tokens.ok() && tokens->IsArray() && !tokens->Empty());
  for (const auto& token : tokens->GetArray()) {
    EXPECT_FALSE(absl::StrContains(log, token.GetString())) << "a token reached the log";
  }
}

// --- Throttling and transient errors: retried, within the caller's deadline ------------------

TEST_F(ResilienceTest, ThrottledWithRetryAfterOneSecondSucceedsAfterAboutOneSecond) {
  RollcallProcess* server = StartServer();
  ASSERT_NE(server, nullptr);
  FaultSpec throttle;
  throttle.status = 429;
  throttle.retry_after = "1";
  AddFault(throttle);

  const absl::Time start = absl::Now();
  GetAttendanceReportResponse response;
  const grpc::Status status = Call(server->stub(), Request(kDocsReport), &response);
  const absl::Duration elapsed = absl::Now() - start;

  ASSERT_TRUE(status.ok()) << Describe(status);
  EXPECT_EQ(response.report().id(), kDocsReport);
  EXPECT_EQ(response.report().attendance_records_size(), 1);
  // Wall clock, as Graph's Retry-After is. Lower bound: the server waits 1 s after the 429
  // arrives, all inside the measured span, so load only adds; 100 ms below covers the whole
  // seconds of a coarse clock. Upper bound: 1 s plus two loopback requests; the 2 s to spare
  // is what tells "honoured" from a backoff that ignores Retry-After and waits its own way
  // (graph_max_backoff, 30 s by default), so it is not tightened.
  EXPECT_GE(elapsed, absl::Milliseconds(900)) << "Retry-After: 1 was not honoured";
  EXPECT_LE(elapsed, absl::Seconds(3));
  EXPECT_EQ(graph_->Counter("report"), 2);
  EXPECT_EQ(graph_->Counter("fault"), 1);
  EXPECT_EQ(graph_->Counter("token"), 1) << "a 429 must not cost a new token";
  EXPECT_THAT(Statuses(LoggedRequests(*graph_, "report")), ::testing::ElementsAre(429, 200));
}

TEST_F(ResilienceTest, FractionalRetryAfterIsHonouredToTheMillisecond) {
  RollcallProcess* server = StartServer({{"ROLLCALL_GRAPH_INITIAL_BACKOFF", "10ms"}});
  ASSERT_NE(server, nullptr);
  // Graph sends fractional seconds ("2.128"); read as whole seconds this would be 1 s, and the
  // 10 ms backoff would be far shorter.
  FaultSpec throttle;
  throttle.status = 429;
  throttle.retry_after = "1.25";
  AddFault(throttle);

  const absl::Time start = absl::Now();
  GetAttendanceReportResponse response;
  const grpc::Status status = Call(server->stub(), Request(kDocsReport), &response);
  const absl::Duration elapsed = absl::Now() - start;

  ASSERT_TRUE(status.ok()) << Describe(status);
  EXPECT_EQ(response.report().id(), kDocsReport);
  // Lower bound: 1.25 s is waited inside the measured span (1 s if read as whole seconds, and
  // the 10 ms backoff would be far less); upper: 1.25 s plus two loopback requests with 2.25 s
  // to spare under load, far below the 30 s default max backoff.
  EXPECT_GE(elapsed, absl::Milliseconds(1200));
  EXPECT_LE(elapsed, absl::Milliseconds(3500));
  EXPECT_EQ(graph_->Counter("report"), 2);
  EXPECT_EQ(graph_->Counter("fault"), 1);
}

TEST_F(ResilienceTest, RetryAfterAsHttpDateIsHonoured) {
  RollcallProcess* server = StartServer({{"ROLLCALL_GRAPH_INITIAL_BACKOFF", "10ms"}});
  ASSERT_NE(server, nullptr);
  FaultSpec throttle;
  throttle.status = 503;
  // Two seconds after the emulator's Date header (whole seconds, so 1 to 2 s from now).
  throttle.retry_after = absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT",
                                          absl::Now() + absl::Seconds(2), absl::UTCTimeZone());
  AddFault(throttle);

  const absl::Time start = absl::Now();
  GetAttendanceReportResponse response;
  const grpc::Status status = Call(server->stub(), Request(kDocsReport), &response);
  const absl::Duration elapsed = absl::Now() - start;

  ASSERT_TRUE(status.ok()) << Describe(status);
  // The date is 1 to 2 s ahead of the emulator's (whole-second) Date header: the wait is at
  // least ~1 s (900 ms for clock granularity), and at most 2 s plus two requests, with 2 s to
  // spare under load; without the header the 10 ms backoff would answer at once.
  EXPECT_GE(elapsed, absl::Milliseconds(900)) << "the HTTP-date Retry-After was not honoured";
  EXPECT_LE(elapsed, absl::Seconds(4));
  EXPECT_EQ(graph_->Counter("report"), 2);
}

TEST_F(ResilienceTest, ServiceUnavailableOnceIsRetried) {
  RollcallProcess* server = StartServer({{"ROLLCALL_GRAPH_INITIAL_BACKOFF", "10ms"}});
  ASSERT_NE(server, nullptr);
  FaultSpec unavailable;
  unavailable.status = 503;
  AddFault(unavailable);

  ExpectFreshReport(*server);
  EXPECT_EQ(graph_->Counter("report"), 2);
  EXPECT_EQ(graph_->Counter("fault"), 1);
  EXPECT_THAT(Statuses(LoggedRequests(*graph_, "report")), ::testing::ElementsAre(503, 200));
}

TEST_F(ResilienceTest, GatewayTimeoutOnceIsRetried) {
  RollcallProcess* server = StartServer({{"ROLLCALL_GRAPH_INITIAL_BACKOFF", "10ms"}});
  ASSERT_NE(server, nullptr);
  FaultSpec timeout;
  timeout.status = 504;
  AddFault(timeout);

  ExpectFreshReport(*server);
  EXPECT_EQ(graph_->Counter("report"), 2);
  EXPECT_THAT(Statuses(LoggedRequests(*graph_, "report")), ::testing::ElementsAre(504, 200));
}

TEST_F(ResilienceTest, ThrottledBeyondMaxAttemptsIsResourceExhaustedWithRetryInfo) {
  RollcallProcess* server = StartServer({{"ROLLCALL_GRAPH_MAX_ATTEMPTS", "2"},
                                         {"ROLLCALL_GRAPH_INITIAL_BACKOFF", "10ms"}});
  ASSERT_NE(server, nullptr);
  FaultSpec throttle;
  throttle.status = 429;
  throttle.retry_after = "0.2";
  throttle.seconds = 60;
  AddFault(throttle);

  GetAttendanceReportResponse response;
  const grpc::Status status = Call(server->stub(), Request(kDocsReport), &response);

  ASSERT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << Describe(status);
  EXPECT_EQ(ReasonOf(status), "GRAPH_THROTTLED");
  google::rpc::RetryInfo retry;
  ASSERT_TRUE(UnpackDetail(status, &retry)) << "no google.rpc.RetryInfo in the status details";
  const absl::Duration delay = absl::Seconds(retry.retry_delay().seconds()) +
                               absl::Nanoseconds(retry.retry_delay().nanos());
  EXPECT_GT(delay, absl::ZeroDuration());
  EXPECT_LE(delay, absl::Seconds(1)) << "Graph asked for 0.2 s";
  EXPECT_EQ(graph_->Counter("report"), 2) << "graph_max_attempts=2";
  EXPECT_EQ(graph_->Counter("fault"), 2);
}

TEST_F(ResilienceTest, ConnectionResetBeforeAnyResponseIsRetried) {
  RollcallProcess* server = StartServer({{"ROLLCALL_GRAPH_INITIAL_BACKOFF", "10ms"}});
  ASSERT_NE(server, nullptr);
  FaultSpec reset;
  reset.action = "reset";
  AddFault(reset);

  ExpectFreshReport(*server);
  EXPECT_EQ(graph_->Counter("report"), 2);
  const auto log = LoggedRequests(*graph_, "report");
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].fault, "reset");
  EXPECT_EQ(log[0].status, 0) << "a reset answers nothing";
  EXPECT_EQ(log[1].status, 200);
}

// --- Deadlines: a stalled Graph holds neither the caller nor a server thread -----------------

// How long a stalled request is held at the emulator: far longer than any deadline or bound
// below, so "the call did not wait for the stall" holds by a margin no load can eat.
constexpr int kStallMs = 60000;

TEST_F(ResilienceTest, StalledGraphGivesDeadlineExceededAndFreesTheUpstreamThread) {
  RollcallProcess* server = StartServer({{"ROLLCALL_UPSTREAM_CONCURRENCY", "1"}});
  ASSERT_NE(server, nullptr);
  // Fetch a token first, so that the stall below is the report's alone.
  ExpectFreshReport(*server, kSecondDocsReport);
  FaultSpec stall;
  stall.action = "delay";
  stall.delay_ms = kStallMs;
  stall.path_contains = kDocsReport;
  AddFault(stall);

  const absl::Time start = absl::Now();
  GetAttendanceReportResponse response;
  grpc::Status status =
      Call(server->stub(), Request(kDocsReport), &response, absl::Milliseconds(300));
  const absl::Duration elapsed = absl::Now() - start;
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << Describe(status);
  // The call ends at its own 300 ms deadline, not with the 60 s stall: any bound far below the
  // stall shows that; 10 s leaves 9.7 s for a loaded machine.
  EXPECT_LT(elapsed, absl::Seconds(10));
  EXPECT_EQ(graph_->ActiveFaults(), 0) << "the stalled request never reached Graph";

  // The one upstream thread is free again once the stalled fetch's own deadline (the call's,
  // 300 ms) has cut its HTTP request: another report is fetched, by a call whose 10 s deadline
  // ends long before the 60 s stall would free the thread. Success is the proof; no clock.
  AddReport("after-the-stall");
  status = Call(server->stub(), Request("after-the-stall"), &response, absl::Seconds(10));
  ASSERT_TRUE(status.ok()) << Describe(status) << ": the upstream thread stayed with the stall";
  EXPECT_EQ(response.report().id(), "after-the-stall");
  // The emulator logs a request when it answers it: the stalled one only after its 60 s.
  EXPECT_EQ(graph_->Counter("report"), 2);
  const auto log = LoggedRequests(*graph_, "report");
  ASSERT_EQ(log.size(), 2u);
  EXPECT_THAT(log[1].raw_path, ::testing::HasSubstr("after-the-stall"));
}

// Callers of one report share one Graph load, but not the shortest deadline among them: the
// load that runs out of a hurried caller's time is tried again for the one with time to spare.
TEST_F(ResilienceTest, AHurriedCallerDoesNotFailAPatientOneSharingItsLoad) {
  RollcallProcess* server = StartServer({});
  ASSERT_NE(server, nullptr);
  ExpectFreshReport(*server, kSecondDocsReport);  // token fetched
  FaultSpec stall;
  stall.action = "delay";
  stall.delay_ms = kStallMs;
  stall.path_contains = kDocsReport;
  AddFault(stall);

  auto hurried = StartCall(server->stub(), Request(kDocsReport), absl::Milliseconds(300));
  // The hurried caller's load is at Graph (stalled: it took the fault) before the patient
  // caller joins it.
  ASSERT_TRUE(graph_->WaitForActiveFaults(0)) << "the hurried caller's load never reached Graph";
  auto patient = StartCall(server->stub(), Request(kDocsReport), absl::Seconds(10));

  ASSERT_TRUE(hurried->Wait(absl::Seconds(30)));
  EXPECT_EQ(hurried->status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
      << Describe(hurried->status);
  ASSERT_TRUE(patient->Wait(absl::Seconds(30)));
  // Answered within the patient's 10 s, so by a second Graph request after the first was cut
  // at 300 ms, not by waiting out the 60 s stall.
  ASSERT_TRUE(patient->status.ok()) << Describe(patient->status);
  EXPECT_EQ(patient->response.report().id(), kDocsReport);
  EXPECT_FALSE(patient->response.stale());
  EXPECT_EQ(graph_->Counter("report"), 2);  // the second docs report, then the retry
}

TEST_F(ResilienceTest, CallWithoutDeadlineGetsTheDefaultDeadline) {
  RollcallProcess* server = StartServer({{"ROLLCALL_DEFAULT_DEADLINE", "300ms"},
                                         {"ROLLCALL_UPSTREAM_CONCURRENCY", "1"}});
  ASSERT_NE(server, nullptr);
  ExpectFreshReport(*server, kSecondDocsReport);  // token fetched
  FaultSpec stall;
  stall.action = "delay";
  stall.delay_ms = kStallMs;
  AddFault(stall);

  const absl::Time start = absl::Now();
  GetAttendanceReportResponse response;
  const grpc::Status status =
      Call(server->stub(), Request(kDocsReport), &response, /*deadline=*/absl::ZeroDuration());
  const absl::Duration elapsed = absl::Now() - start;

  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << Describe(status);
  // The server's 300 ms starts after the call is sent, inside the measured span: load only
  // adds (250 ms covers clock granularity). The upper bound tells the 300 ms from the two
  // other ends the call could have had, the built-in 30 s default deadline and the 60 s stall;
  // 10 s is a third of the nearest, and leaves 9.7 s for a loaded machine.
  EXPECT_GE(elapsed, absl::Milliseconds(250));
  EXPECT_LT(elapsed, absl::Seconds(10)) << "the default deadline was not applied";
  EXPECT_EQ(graph_->ActiveFaults(), 0) << "the stalled request never reached Graph";

  // The server cut its Graph request at the same deadline: its one upstream thread fetches
  // another report (a miss) within a 10 s deadline, long before the stall would free it.
  AddReport("after-the-default-deadline");
  const grpc::Status again = Call(server->stub(), Request("after-the-default-deadline"),
                                  &response, absl::Seconds(10));
  EXPECT_TRUE(again.ok()) << Describe(again);
  EXPECT_EQ(response.report().id(), "after-the-default-deadline");
}

// --- Bodies that are not a report: an error, never cached ------------------------------------

TEST_F(ResilienceTest, TruncatedBodyIsAnErrorAndNotCached) {
  RollcallProcess* server = StartServer({{"ROLLCALL_GRAPH_INITIAL_BACKOFF", "10ms"},
                                         {"ROLLCALL_GRAPH_MAX_ATTEMPTS", "2"}});
  ASSERT_NE(server, nullptr);
  FaultSpec truncate;
  truncate.action = "truncate";
  truncate.seconds = 60;  // every attempt, however many the client makes
  AddFault(truncate);

  GetAttendanceReportResponse response;
  grpc::Status status = Call(server->stub(), Request(kDocsReport), &response);
  EXPECT_THAT(status.error_code(),
              AnyOf(Eq(grpc::StatusCode::UNAVAILABLE), Eq(grpc::StatusCode::INTERNAL)))
      << Describe(status);
  const int truncated = graph_->Counter("report");
  EXPECT_GE(truncated, 1);
  EXPECT_LE(truncated, 2);
  EXPECT_EQ(graph_->Counter("fault"), truncated);

  ASSERT_TRUE(graph_->ClearFaults().ok());
  ExpectFreshReport(*server);
  EXPECT_EQ(graph_->Counter("report"), truncated + 1) << "the next call fetches again";
}

TEST_F(ResilienceTest, OversizedBodyIsInternalAndNotCached) {
  RollcallProcess* server = StartServer({{"ROLLCALL_MAX_RESPONSE_BYTES", "64KiB"}});
  ASSERT_NE(server, nullptr);
  FaultSpec oversize;
  oversize.action = "oversize";
  oversize.size_bytes = 4 << 20;
  AddFault(oversize);

  GetAttendanceReportResponse response;
  const grpc::Status status = Call(server->stub(), Request(kDocsReport), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INTERNAL) << Describe(status);
  EXPECT_EQ(ReasonOf(status), "GRAPH_BAD_RESPONSE");
  EXPECT_EQ(graph_->Counter("report"), 1) << "an oversized body is not retried";

  ExpectFreshReport(*server);
  EXPECT_EQ(graph_->Counter("report"), 2);
}

TEST_F(ResilienceTest, HtmlPageWithStatus200IsInternal) {
  RollcallProcess* server = StartServer();
  ASSERT_NE(server, nullptr);
  FaultSpec html;
  html.action = "html";
  AddFault(html);

  GetAttendanceReportResponse response;
  const grpc::Status status = Call(server->stub(), Request(kDocsReport), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INTERNAL) << Describe(status);
  EXPECT_EQ(ReasonOf(status), "GRAPH_BAD_RESPONSE");
  EXPECT_EQ(graph_->Counter("report"), 1);

  ExpectFreshReport(*server);
  EXPECT_EQ(graph_->Counter("report"), 2);
}

TEST_F(ResilienceTest, WrongJsonTypesAreInternal) {
  RollcallProcess* server = StartServer();
  ASSERT_NE(server, nullptr);
  FaultSpec wrong;
  wrong.status = 200;
  wrong.body =
      R"({"id":"c9b6db1c-d5eb-427d-a5c0-20088d9b22d7","totalParticipantCount":"one",)"
      R"("attendanceRecords":{"emailAddress":7}})";
  AddFault(wrong);

  GetAttendanceReportResponse response;
  const grpc::Status status = Call(server->stub(), Request(kDocsReport), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INTERNAL) << Describe(status);
  EXPECT_EQ(ReasonOf(status), "GRAPH_BAD_RESPONSE");
  EXPECT_THAT(status.error_message(), ::testing::HasSubstr("totalParticipantCount"));
  EXPECT_EQ(graph_->Counter("report"), 1);

  ExpectFreshReport(*server);
  EXPECT_EQ(graph_->Counter("report"), 2);
}

TEST_F(ResilienceTest, DeeplyNestedBodyIsInternalAndTheServerKeepsServing) {
  RollcallProcess* server = StartServer();
  ASSERT_NE(server, nullptr);
  const int kDepth = 100000;
  FaultSpec deep;
  deep.status = 200;
  deep.body = absl::StrCat(R"({"id":"x","attendanceRecords":)", std::string(kDepth, '['),
                           std::string(kDepth, ']'), "}");
  AddFault(deep);

  GetAttendanceReportResponse response;
  const grpc::Status status = Call(server->stub(), Request(kDocsReport), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INTERNAL) << Describe(status);
  EXPECT_EQ(ReasonOf(status), "GRAPH_BAD_RESPONSE");

  ExpectFreshReport(*server);
  EXPECT_EQ(graph_->Counter("report"), 2);
}

// A body of a million empty records is 3 MB, and once cost about 55 times that in memory
// (183 MiB) before anything counted it. Records are now counted while the body is parsed
// (max_report_records), and what the parsed page and the report built from it hold is bounded
// by max_report_memory. Each server's peak resident set (VmHWM) is measured over its own warm
// state: under each bound the call fails REPORT_TOO_LARGE and the peak stays within the bound
// plus the body's own copies; with both bounds out of the way the same body costs far more,
// which is what the bounds prevent.
TEST_F(ResilienceTest, AMillionEmptyRecordsCostNoMoreThanTheConfiguredBound) {
  constexpr int kRecords = 1'000'000;
  AddReport("big");  // what Graph answers for it once the fault is spent
  std::string body = R"({"id":"big","attendanceRecords":[)";
  body.reserve(body.size() + 3 * kRecords + 2);
  for (int i = 0; i < kRecords; ++i) body += i == 0 ? "{}" : ",{}";
  body += "]}";
  constexpr int64_t kMiB = 1 << 20;
  // What the bounds do not cover: the transport's copy of the body (the parser's copy is
  // charged), the reply and gRPC's and libcurl's buffers.
  const int64_t slack = static_cast<int64_t>(body.size()) + 16 * kMiB;

  struct Case {
    const char* name;
    std::map<std::string, std::string> env;
    grpc::StatusCode code;
    const char* message;
    int64_t bound;  // most the peak may grow; 0: none, the peak must grow more than 100 MiB
  };
  const Case cases[] = {
      {"the default max_report_records (100000)", {}, grpc::StatusCode::FAILED_PRECONDITION,
       "max_report_records (100000) allows", 32 * kMiB},
      {"max_report_memory=32MiB",
       {{"ROLLCALL_MAX_REPORT_RECORDS", "100000000"}, {"ROLLCALL_MAX_REPORT_MEMORY", "32MiB"}},
       grpc::StatusCode::FAILED_PRECONDITION, "max_report_memory (33554432 bytes) allows",
       32 * kMiB + slack},
      {"no bound in the way",
       {{"ROLLCALL_MAX_REPORT_RECORDS", "100000000"}, {"ROLLCALL_MAX_REPORT_MEMORY", "4GiB"}},
       grpc::StatusCode::OK, "", 0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    RollcallProcess* server = StartServer(c.env);
    ASSERT_NE(server, nullptr);
    ExpectFreshReport(*server);  // warm: connections, token, threads
    FaultSpec hostile;
    hostile.status = 200;
    hostile.path_contains = "/attendanceReports/big";
    hostile.body = body;
    AddFault(hostile);
    ASSERT_TRUE(server->ResetPeakResidentBytes());
    const int64_t before = server->PeakResidentBytes();
    ASSERT_GT(before, 0);

    GetAttendanceReportResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    const grpc::Status status =
        server->stub().GetAttendanceReport(&context, Request("big"), &response);
    const int64_t grown = server->PeakResidentBytes() - before;
    std::cerr << c.name << ": peak resident set grew " << grown / kMiB << " MiB\n";
    EXPECT_EQ(status.error_code(), c.code) << Describe(status);
    if (c.code == grpc::StatusCode::OK) {
      EXPECT_EQ(response.report().attendance_records_size(), kRecords);
#ifndef ROLLCALL_UNDER_ASAN
      EXPECT_GT(grown, 100 * kMiB);
#endif
    } else {
      EXPECT_EQ(ReasonOf(status), "REPORT_TOO_LARGE");
      EXPECT_THAT(status.error_message(), ::testing::HasSubstr(c.message));
#ifndef ROLLCALL_UNDER_ASAN  // its quarantine and shadow memory make RSS no measure
      EXPECT_LE(grown, c.bound);
#endif
      ExpectFreshReport(*server, "big");  // nothing was cached, and it keeps serving
    }
    ASSERT_TRUE(graph_->ClearFaults().ok());
  }
}

// An identity is an open type: Graph may send any members, nested. graph_client's JSON reader
// takes documents up to 32 levels deep (json_mapping.h; the root object is level 1): here the
// root, attendanceRecords, the record and the identity are 4 levels, and a member nested
// `depth` objects deep reaches 4 + depth. Within the limit (depth 28 and less) the member must
// reach the caller intact, every level of it, in a reply the client parses; beyond it (29 and
// more) the body is refused as INTERNAL GRAPH_BAD_RESPONSE, never cached or sent half-kept.
TEST_F(ResilienceTest, NestedIdentityMembersReachTheClientWithinTheDepthLimitAndAreRefusedBeyond) {
  RollcallProcess* server = StartServer();
  ASSERT_NE(server, nullptr);
  struct Case {
    int depth;
    bool accepted;
  };
  for (const Case& c : {Case{8, true}, Case{28, true}, Case{29, false}, Case{40, false}}) {
    SCOPED_TRACE(absl::StrCat("identity member nested ", c.depth, " levels"));
    std::string nested = "1";
    for (int i = 0; i < c.depth; ++i) nested = absl::StrCat(R"({"level":)", nested, "}");
    const std::string id = absl::StrCat("nested-", c.depth);
    ASSERT_TRUE(graph_
                    ->AddReport(kDocsUser, kDocsMeeting, id,
                                absl::StrCat(R"({"id":")", id,
                                             R"(","attendanceRecords":[{"identity":{"id":"i",)",
                                             R"("custom":)", nested, "}}]}"))
                    .ok());
    GetAttendanceReportResponse response;
    const grpc::Status status = Call(server->stub(), Request(id), &response);
    if (c.accepted) {
      ASSERT_TRUE(status.ok()) << Describe(status);
      ASSERT_EQ(response.report().attendance_records_size(), 1);
      const auto& identity = response.report().attendance_records(0).identity();
      EXPECT_EQ(identity.id(), "i");
      const auto& fields = identity.additional_properties().fields();
      ASSERT_EQ(fields.size(), 1u);
      ASSERT_TRUE(fields.contains("custom"));
      const google::protobuf::Value* value = &fields.at("custom");
      int levels = 0;
      while (value->has_struct_value()) {
        ASSERT_EQ(value->struct_value().fields().size(), 1u) << "at level " << levels;
        ASSERT_TRUE(value->struct_value().fields().contains("level")) << "at level " << levels;
        value = &value->struct_value().fields().at("level");
        ++levels;
      }
      EXPECT_EQ(levels, c.depth);
      ASSERT_EQ(value->kind_case(), google::protobuf::Value::kNumberValue);
      EXPECT_EQ(value->number_value(), 1);
    } else {
      EXPECT_EQ(status.error_code(), grpc::StatusCode::INTERNAL) << Describe(status);
      EXPECT_EQ(ReasonOf(status), "GRAPH_BAD_RESPONSE") << Describe(status);
    }
  }
  // Each report was fetched once: nothing refused was retried, nothing accepted came from
  // anywhere but Graph.
  EXPECT_EQ(graph_->Counter("report"), 4);
}

// --- Authentication ------------------------------------------------------------------------

TEST_F(ResilienceTest, RejectedTokenIsRefetchedOnceAndTheCallSucceeds) {
  RollcallProcess* server = StartServer();
  ASSERT_NE(server, nullptr);
  FaultSpec unauthorized;
  unauthorized.status = 401;
  unauthorized.body = kInvalidTokenBody;
  AddFault(unauthorized);

  ExpectFreshReport(*server);
  EXPECT_EQ(graph_->Counter("token"), 2) << "one extra token request after the 401";
  EXPECT_EQ(graph_->Counter("report"), 2);
  const auto log = LoggedRequests(*graph_);
  std::vector<std::string> kinds;
  for (const auto& r : log) kinds.push_back(absl::StrCat(r.kind, " ", r.status));
  EXPECT_THAT(kinds, ::testing::ElementsAre("token 200", "report 401", "token 200", "report 200"));
}

TEST_F(ResilienceTest, TokenRejectedTwiceIsFailedPreconditionAfterOneRefetch) {
  RollcallProcess* server = StartServer();
  ASSERT_NE(server, nullptr);
  FaultSpec unauthorized;
  unauthorized.status = 401;
  unauthorized.body = kInvalidTokenBody;
  unauthorized.count = 10;
  AddFault(unauthorized);

  GetAttendanceReportResponse response;
  const grpc::Status status = Call(server->stub(), Request(kDocsReport), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << Describe(status);
  EXPECT_EQ(ReasonOf(status), "GRAPH_UNAUTHORIZED");
  EXPECT_EQ(graph_->Counter("token"), 2) << "re-token once, not in a loop";
  EXPECT_EQ(graph_->Counter("report"), 2);
}

TEST_F(ResilienceTest, AGraphRefusingEveryTokenCostsTwoTokenRequestsOverTenCalls) {
  RollcallProcess* server = StartServer();
  ASSERT_NE(server, nullptr);
  // Graph refuses every token, however fresh, as it does one for another audience (the
  // emulator's built-in 401: "Access token validation failure. Invalid audience.").
  FaultSpec refuse_all;
  refuse_all.kind = "graph";
  refuse_all.status = 401;
  refuse_all.seconds = 600;
  AddFault(refuse_all);

  // The back-off's first window is 30 s of the server's (wall) clock; ten calls of one or two
  // loopback requests each take a small fraction of it even under ASan and ctest -j. A window
  // running out would show as a third token request, not pass unnoticed.
  std::vector<std::string> messages;
  for (int call = 0; call < 10; ++call) {
    GetAttendanceReportResponse response;
    const grpc::Status status = Call(server->stub(), Request(kDocsReport), &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION)
        << call << ": " << Describe(status);
    EXPECT_EQ(ReasonOf(status), "GRAPH_UNAUTHORIZED") << call;
    // Every caller, the first included, is told that Rollcall backs off, until when, and
    // what to fix.
    EXPECT_THAT(status.error_message(),
                ::testing::ContainsRegex("Graph refused the token fetched to replace a refused "
                                         "one too, so Rollcall keeps it and will not fetch "
                                         "another token before "
                                         "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z \\(a back-off "
                                         "of 30s,"))
        << call;
    EXPECT_THAT(status.error_message(), ::testing::HasSubstr("Invalid audience.")) << call;
    EXPECT_THAT(status.error_message(), ::testing::HasSubstr("AZURE_TENANT_ID")) << call;
    messages.push_back(status.error_message());
  }
  // The first token (at start) and the one replacement the first call's 401 allowed; the first
  // call sent two report requests, every other call one.
  EXPECT_EQ(graph_->Counter("token"), 2) << "a token Graph keeps refusing is not refetched";
  EXPECT_EQ(graph_->Counter("report"), 11);
  EXPECT_EQ(graph_->Counter("token_error"), 0);

  // No token in any message or in the server's log.
  auto tokens = graph_->GetJson("/_emulator/tokens");
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  ASSERT_TRUE(tokens->IsArray());
  ASSERT_EQ(tokens->Size(), 2u);
  const std::string log = server->Stderr();
  for (const auto& token : tokens->GetArray()) {
    const std::string issued = token.GetString();
    for (const std::string& message : messages) EXPECT_FALSE(absl::StrContains(message, issued));
    EXPECT_FALSE(absl::StrContains(log, issued));
  }
}

// --- Caching what Graph said ----------------------------------------------------------------

TEST_F(ResilienceTest, NotFoundIsCachedForTheNegativeTtl) {
  RollcallProcess* server = StartServer({{"ROLLCALL_NEGATIVE_CACHE_TTL", "30s"}});
  ASSERT_NE(server, nullptr);
  for (int i = 0; i < 2; ++i) {
    GetAttendanceReportResponse response;
    const grpc::Status status = Call(server->stub(), Request("no-such-report"), &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << Describe(status);
    EXPECT_EQ(ReasonOf(status), "REPORT_NOT_FOUND");
  }
  EXPECT_EQ(graph_->Counter("report"), 1) << "the second 404 came from the negative cache";
  EXPECT_EQ(graph_->Counter("not_found"), 1);

  // Another report is not affected.
  ExpectFreshReport(*server);
  EXPECT_EQ(graph_->Counter("report"), 2);
}

TEST_F(ResilienceTest, NegativeTtlZeroAsksGraphEveryTime) {
  RollcallProcess* server = StartServer({{"ROLLCALL_NEGATIVE_CACHE_TTL", "0s"}});
  ASSERT_NE(server, nullptr);
  for (int i = 0; i < 2; ++i) {
    GetAttendanceReportResponse response;
    const grpc::Status status = Call(server->stub(), Request("no-such-report"), &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << Describe(status);
  }
  EXPECT_EQ(graph_->Counter("report"), 2);
}

TEST_F(ResilienceTest, ExpiredReportIsServedStaleWhileGraphFails) {
  RollcallProcess* server = StartServer({{"ROLLCALL_CACHE_TTL", "0s"},
                                         {"ROLLCALL_CACHE_TTL_RECENT", "0s"},
                                         {"ROLLCALL_STALE_IF_ERROR", "24h"},
                                         {"ROLLCALL_GRAPH_MAX_ATTEMPTS", "2"},
                                         {"ROLLCALL_GRAPH_INITIAL_BACKOFF", "10ms"}});
  ASSERT_NE(server, nullptr);
  GetAttendanceReportResponse first;
  ASSERT_TRUE(Call(server->stub(), Request(kDocsReport), &first).ok());
  EXPECT_FALSE(first.from_cache());
  EXPECT_FALSE(first.stale());
  EXPECT_EQ(graph_->Counter("report"), 1);

  FaultSpec unavailable;
  unavailable.status = 503;
  unavailable.seconds = 60;
  AddFault(unavailable);
  GetAttendanceReportResponse second;
  const grpc::Status status = Call(server->stub(), Request(kDocsReport), &second);
  ASSERT_TRUE(status.ok()) << Describe(status);
  EXPECT_TRUE(second.stale());
  EXPECT_TRUE(second.from_cache());
  EXPECT_TRUE(MessageDifferencer::Equals(second.report(), first.report()));
  EXPECT_EQ(second.graph_fetch_time().SerializeAsString(),
            first.graph_fetch_time().SerializeAsString())
      << "a stale reply says when Graph last gave the report";
  EXPECT_EQ(graph_->Counter("report"), 1 + 2) << "the expired entry was re-fetched, twice";

  // Graph is back: the next call refreshes the entry.
  ASSERT_TRUE(graph_->ClearFaults().ok());
  GetAttendanceReportResponse third;
  ASSERT_TRUE(Call(server->stub(), Request(kDocsReport), &third).ok());
  EXPECT_FALSE(third.stale());
  EXPECT_FALSE(third.from_cache());
  EXPECT_EQ(graph_->Counter("report"), 4);
}

// --- Load shedding -------------------------------------------------------------------------

TEST_F(ResilienceTest, FullUpstreamQueueRefusesNewMissesAtOnceWhileHitsStillAnswer) {
  RollcallProcess* server = StartServer({{"ROLLCALL_UPSTREAM_CONCURRENCY", "1"},
                                         {"ROLLCALL_UPSTREAM_QUEUE", "1"}});
  ASSERT_NE(server, nullptr);
  ExpectFreshReport(*server);  // cached from now on (and the token fetched)
  // Each slow report is held 3 s at Graph, by its own fault, so the fault list tells which
  // reached Graph. "At once" below is shown against slow-a's hold, not by a wall-clock bound:
  // what happens before slow-a's answer did not wait for the upstream thread.
  for (const char* id : {"slow-a", "slow-b", "slow-c"}) {
    AddReport(id);
    FaultSpec slow;
    slow.action = "delay";
    slow.delay_ms = 3000;
    slow.path_contains = id;
    AddFault(slow);
  }

  // slow-a takes the one upstream thread; once it is at Graph, two more distinct misses arrive:
  // one fits the queue, the other must be refused at once.
  auto a = StartCall(server->stub(), Request("slow-a"));
  ASSERT_TRUE(graph_->WaitForActiveFaults(2)) << "slow-a never reached Graph";
  Notification b_or_c_done;
  auto b = StartCall(server->stub(), Request("slow-b"), absl::Seconds(30), &b_or_c_done);
  auto c = StartCall(server->stub(), Request("slow-c"), absl::Seconds(30), &b_or_c_done);
  ASSERT_TRUE(b_or_c_done.WaitForNotificationWithTimeout(absl::Seconds(30)))
      << "neither extra miss ended";
  // The first of them to end was refused while slow-a was still held: it did not wait for the
  // upstream thread (the queued one cannot end before slow-a does).
  EXPECT_FALSE(a->Wait(absl::ZeroDuration())) << "slow-a ended first: nothing was refused at once";

  // While slow-a is still at Graph, a cached report answers.
  GetAttendanceReportResponse hit;
  const grpc::Status hit_status =
      Call(server->stub(), Request(kDocsReport), &hit, absl::Seconds(30));
  EXPECT_TRUE(hit_status.ok()) << Describe(hit_status);
  EXPECT_TRUE(hit.from_cache());
  // Checked after the hit: the hit did not wait for slow-a (the one upstream thread).
  EXPECT_FALSE(a->Wait(absl::ZeroDuration())) << "slow-a ended before the hit did";

  ASSERT_TRUE(a->Wait(absl::Seconds(30)));
  ASSERT_TRUE(b->Wait(absl::Seconds(30)));
  ASSERT_TRUE(c->Wait(absl::Seconds(30)));
  EXPECT_TRUE(a->status.ok()) << Describe(a->status);
  // Exactly one of b and c was refused, before slow-a's answer; the other waited its turn.
  ASSERT_NE(b->status.ok(), c->status.ok()) << Describe(b->status) << " / " << Describe(c->status);
  AsyncCall* refused = b->status.ok() ? c.get() : b.get();
  AsyncCall* queued = b->status.ok() ? b.get() : c.get();
  EXPECT_EQ(refused->status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << Describe(refused->status);
  EXPECT_EQ(ReasonOf(refused->status), "UPSTREAM_OVERLOADED");
  EXPECT_LT(refused->end, a->end) << "refused, but only after slow-a's answer";
  EXPECT_EQ(queued->response.report().id(), queued->request.report_id());
  EXPECT_EQ(graph_->Counter("report"), 1 + 2) << "the refused miss never reached Graph";
  EXPECT_EQ(graph_->ActiveFaults(), 1) << "the refused report's fault is still unused";
}

// --- Shutdown --------------------------------------------------------------------------------

TEST_F(ResilienceTest, SigtermDrainsCallsInFlightRefusesNewOnesAndExitsZero) {
  RollcallProcess* server = StartServer({{"ROLLCALL_SHUTDOWN_GRACE", "10s"}});
  ASSERT_NE(server, nullptr);
  constexpr int kCalls = 8;
  for (int i = 0; i < kCalls; ++i) AddReport(absl::StrCat("drain-", i), 3);
  ExpectFreshReport(*server);  // the token, so every delayed request below is a report
  FaultSpec slow;
  slow.action = "delay";
  slow.delay_ms = 500;
  slow.count = kCalls;
  AddFault(slow);

  std::vector<std::unique_ptr<AsyncCall>> calls;
  for (int i = 0; i < kCalls; ++i) {
    calls.push_back(StartCall(server->stub(), Request(absl::StrCat("drain-", i))));
  }
  // Every call is at Graph (each took one of the delay fault's count) before the signal.
  ASSERT_TRUE(graph_->WaitForActiveFaults(0)) << "the calls never reached Graph";

  // The server's own signal that shutdown has begun: its health stream turns NOT_SERVING.
  HealthWatch watch(grpc::CreateChannel(server->address(), grpc::InsecureChannelCredentials()));
  ASSERT_EQ(watch.Read(), HealthWatch::Serving());
  const absl::Time sigterm = absl::Now();
  ASSERT_EQ(kill(server->process().pid(), SIGTERM), 0);
  ASSERT_EQ(watch.Read(), HealthWatch::NotServing()) << "health still SERVING after SIGTERM";

  // From NOT_SERVING on, a new call (on a new connection) is refused.
  {
    auto stub = server->NewStub();
    GetAttendanceReportResponse response;
    const grpc::Status refused =
        Call(*stub, Request(kSecondDocsReport), &response, absl::Seconds(10));
    EXPECT_FALSE(refused.ok()) << "a new call was still served after SIGTERM";
  }

  for (int i = 0; i < kCalls; ++i) {
    ASSERT_TRUE(calls[i]->Wait(absl::Seconds(30))) << "call " << i << " never finished";
    EXPECT_TRUE(calls[i]->status.ok()) << i << ": " << Describe(calls[i]->status);
    EXPECT_EQ(calls[i]->response.report().id(), absl::StrCat("drain-", i));
    EXPECT_EQ(calls[i]->response.report().attendance_records_size(), 3);
  }

  const std::optional<int> exit_status = server->process().Stop(absl::Seconds(30));
  const absl::Duration to_exit = absl::Now() - sigterm;
  ASSERT_TRUE(exit_status.has_value()) << "killed: did not exit after draining";
  EXPECT_TRUE(WIFEXITED(*exit_status));
  EXPECT_EQ(WEXITSTATUS(*exit_status), 0);
  // The drain needs what is left of the 500 ms delays; the bound is shutdown_grace (10 s),
  // which a server that waited out its grace instead of exiting once drained would reach:
  // 9.5 s to spare for a loaded machine.
  EXPECT_LT(to_exit, absl::Seconds(10)) << "exit took longer than shutdown_grace";
  EXPECT_TRUE(absl::StrContains(server->Stderr(), "shutting down")) << "no shutdown log line";
  int drained = 0;
  for (const auto& r : LoggedRequests(*graph_, "report")) {
    drained += absl::StrContains(r.raw_path, "drain-") && r.status == 200;
  }
  EXPECT_EQ(drained, kCalls) << "one Graph request per call in flight";
}

}  // namespace
}  // namespace rollcall::testing
