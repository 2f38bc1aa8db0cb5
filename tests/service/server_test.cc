// End to end in one process: RollcallServer on 127.0.0.1:0 with a fake GraphClient, called
// through a real gRPC channel.

#include "service/server.h"

#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "common/error_details.h"
#include "common/mutex.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "rollcall/v1/attendance.grpc.pb.h"
#include "tests/testing/fake_graph_client.h"
#include "tests/testing/health_watch.h"
#include "tests/testing/http_test_client.h"
#include "tests/testing/blocking_counter.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/notification.h"

namespace rollcall::service {
namespace {

using ::testing::HasSubstr;
using rollcall::testing::BlockingCounter;
using rollcall::testing::HealthWatch;
using rollcall::testing::Notification;
using rollcall::v1::GetAttendanceReportRequest;
using rollcall::v1::GetAttendanceReportResponse;

constexpr absl::Duration kWait = absl::Seconds(30);  // only a failing test waits this long
constexpr char kMethod[] = "/rollcall.v1.AttendanceReportService/GetAttendanceReport";

GetAttendanceReportRequest Request(
    rollcall::v1::ReportView view = rollcall::v1::REPORT_VIEW_FULL) {
  GetAttendanceReportRequest request;
  request.set_user_id("dc17674c-81d9-4adb-bfb2-8f6a442e4623");
  request.set_meeting_id(
      "MSpkYzE3Njc0Yy04MWQ5LTRhZGItYmZiMi04ZjZhNDQyZTQ2MjMqMCoqMTk6bWVldGluZw==");
  request.set_report_id("c9b6db1c-d5eb-427d-a5c0-20088d9b22d7");
  request.set_view(view);
  return request;
}

std::string ToString(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  EXPECT_TRUE(buffer.Dump(&slices).ok());
  std::string out;
  for (const grpc::Slice& slice : slices) {
    out.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return out;
}

grpc::ByteBuffer ToBuffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

void SetDeadline(grpc::ClientContext* context) {
  context->set_deadline(absl::ToChronoTime(absl::Now() + kWait));
}

// The details a failed call carried in grpc-status-details-bin.
struct WireDetails {
  google::rpc::ErrorInfo info;
  google::rpc::BadRequest bad_request;
  google::rpc::RetryInfo retry;
  bool has_info = false;
  bool has_bad_request = false;
  bool has_retry = false;
};
WireDetails DetailsOf(const grpc::Status& status) {
  WireDetails out;
  google::rpc::Status proto;
  EXPECT_TRUE(proto.ParseFromString(status.error_details()));
  EXPECT_EQ(proto.code(), static_cast<int>(status.error_code()));
  for (const google::protobuf::Any& any : proto.details()) {
    if (any.Is<google::rpc::ErrorInfo>()) out.has_info = any.UnpackTo(&out.info);
    if (any.Is<google::rpc::BadRequest>()) out.has_bad_request = any.UnpackTo(&out.bad_request);
    if (any.Is<google::rpc::RetryInfo>()) out.has_retry = any.UnpackTo(&out.retry);
  }
  return out;
}

class ServerTest : public ::testing::Test {
 protected:
  ServerTest() {
    config_.listen = "127.0.0.1:0";
    config_.plaintext = true;  // the in-process client speaks plaintext
    config_.upstream_concurrency = 4;
    config_.default_deadline = absl::Seconds(7);
  }

  // Derived fixtures change config_ and clock_ in their constructors.
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<RollcallServer>> server =
        RollcallServer::Start(config_, graph_, clock_, &logger_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    ASSERT_GT(server_->port(), 0);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = rollcall::v1::AttendanceReportService::NewStub(channel_);
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(clock_->Now() + absl::Seconds(5));
  }

  grpc::Status Call(const GetAttendanceReportRequest& request,
                    GetAttendanceReportResponse* response) {
    grpc::ClientContext context;
    SetDeadline(&context);
    return stub_->GetAttendanceReport(&context, request, response);
  }

  // A unary call with raw bytes both ways.
  grpc::Status RawCall(const std::string& method, const std::string& request,
                       std::string* response) {
    grpc::GenericStub generic(channel_);
    grpc::ClientContext context;
    SetDeadline(&context);
    const grpc::ByteBuffer request_buffer = ToBuffer(request);
    grpc::ByteBuffer response_buffer;
    Notification done;
    grpc::Status status;
    generic.UnaryCall(&context, method, grpc::StubOptions(), &request_buffer, &response_buffer,
                      [&](grpc::Status s) {
                        status = std::move(s);
                        done.Notify();
                      });
    EXPECT_TRUE(done.WaitForNotificationWithTimeout(kWait));
    if (status.ok()) *response = ToString(response_buffer);
    return status;
  }

  std::vector<std::string> LogLines() {
    common::MutexLock lock(&log_mu_);
    return log_lines_;
  }

  Config config_;
  const common::Clock* clock_ = common::SystemClock();
  std::shared_ptr<test::FakeGraphClient> graph_ = std::make_shared<test::FakeGraphClient>();
  common::Mutex log_mu_;
  std::vector<std::string> log_lines_ ABSL_GUARDED_BY(log_mu_);
  Logger logger_{LogLevel::kDebug, common::SystemClock(), [this](absl::string_view line) {
                   common::MutexLock lock(&log_mu_);
                   log_lines_.emplace_back(line);
                 }};
  std::unique_ptr<RollcallServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<rollcall::v1::AttendanceReportService::Stub> stub_;
};

TEST_F(ServerTest, MissThenHit) {
  GetAttendanceReportResponse first;
  ASSERT_TRUE(Call(Request(), &first).ok());
  EXPECT_FALSE(first.from_cache());
  EXPECT_TRUE(first.has_graph_fetch_time());
  EXPECT_EQ(first.report().SerializeAsString(), test::SampleReport().SerializeAsString());

  GetAttendanceReportResponse second;
  ASSERT_TRUE(Call(Request(), &second).ok());
  EXPECT_TRUE(second.from_cache());
  EXPECT_EQ(second.graph_fetch_time().SerializeAsString(),
            first.graph_fetch_time().SerializeAsString());
  EXPECT_EQ(second.report().SerializeAsString(), first.report().SerializeAsString());

  EXPECT_EQ(graph_->call_count(), 1);
  const std::vector<test::FakeGraphClient::Call> calls = graph_->calls();
  EXPECT_EQ(calls[0].ref.user_id, Request().user_id());
  EXPECT_EQ(calls[0].ref.meeting_id, Request().meeting_id());
  EXPECT_EQ(calls[0].ref.report_id, Request().report_id());
  EXPECT_TRUE(calls[0].with_records);

  // One log line for the Graph fetch, naming the IDs.
  int fetch_lines = 0;
  for (const std::string& line : LogLines()) {
    if (absl::StrContains(line, "\"msg\":\"graph fetch\"")) {
      ++fetch_lines;
      EXPECT_THAT(line, HasSubstr(Request().report_id()));
    }
  }
  EXPECT_EQ(fetch_lines, 1);
}

TEST_F(ServerTest, HitSendsTheCachedBytesPlusFromCache) {
  const std::string request = Request().SerializeAsString();
  std::string miss;
  std::string hit;
  ASSERT_TRUE(RawCall(kMethod, request, &miss).ok());
  ASSERT_TRUE(RawCall(kMethod, request, &hit).ok());
  EXPECT_EQ(hit, miss + std::string("\x18\x01", 2));
}

TEST_F(ServerTest, ConcurrentColdCallsMakeOneGraphCall) {
  constexpr int kCalls = 100;
  Notification gate;
  graph_->SetGate(&gate);

  struct Pending {
    grpc::ClientContext context;
    GetAttendanceReportResponse response;
    grpc::Status status;
  };
  std::vector<std::unique_ptr<Pending>> pending;
  BlockingCounter finished(kCalls);
  const GetAttendanceReportRequest request = Request();
  for (int i = 0; i < kCalls; ++i) {
    pending.push_back(std::make_unique<Pending>());
    Pending* p = pending.back().get();
    SetDeadline(&p->context);
    stub_->async()->GetAttendanceReport(&p->context, &request, &p->response,
                                        [p, &finished](grpc::Status status) {
                                          p->status = std::move(status);
                                          finished.DecrementCount();
                                        });
  }
  // Hold Graph until every call has joined the one load.
  ASSERT_TRUE(server_->cache().AwaitStats(
      [](const ReportCache::Stats& s) { return s.waiters_in_flight == kCalls; }, kWait));
  EXPECT_EQ(server_->cache().GetStats().loads_in_flight, 1u);
  gate.Notify();
  finished.Wait();

  EXPECT_EQ(graph_->call_count(), 1);
  for (const auto& p : pending) {
    ASSERT_TRUE(p->status.ok()) << p->status.error_message();
    EXPECT_FALSE(p->response.from_cache());
    EXPECT_EQ(p->response.report().SerializeAsString(), test::SampleReport().SerializeAsString());
  }
}

TEST_F(ServerTest, BasicAndFullViewsAreSeparate) {
  GetAttendanceReportResponse basic;
  GetAttendanceReportResponse full;
  GetAttendanceReportResponse unspecified;
  ASSERT_TRUE(Call(Request(rollcall::v1::REPORT_VIEW_BASIC), &basic).ok());
  ASSERT_TRUE(Call(Request(rollcall::v1::REPORT_VIEW_FULL), &full).ok());
  ASSERT_TRUE(Call(Request(rollcall::v1::REPORT_VIEW_UNSPECIFIED), &unspecified).ok());
  EXPECT_EQ(basic.report().attendance_records_size(), 0);
  EXPECT_EQ(full.report().attendance_records_size(), 2);
  EXPECT_EQ(basic.report().id(), full.report().id());
  EXPECT_TRUE(unspecified.from_cache());  // UNSPECIFIED is FULL
  EXPECT_EQ(unspecified.report().attendance_records_size(), 2);

  const std::vector<test::FakeGraphClient::Call> calls = graph_->calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_FALSE(calls[0].with_records);
  EXPECT_TRUE(calls[1].with_records);
}

TEST_F(ServerTest, DeadlineReachesGraph) {
  grpc::ClientContext with_deadline;
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  with_deadline.set_deadline(absl::ToChronoTime(deadline));
  GetAttendanceReportResponse response;
  ASSERT_TRUE(stub_->GetAttendanceReport(&with_deadline, Request(), &response).ok());

  grpc::ClientContext without_deadline;  // the server applies default_deadline (7s)
  const absl::Time before = absl::Now();
  ASSERT_TRUE(stub_
                  ->GetAttendanceReport(&without_deadline,
                                        Request(rollcall::v1::REPORT_VIEW_BASIC), &response)
                  .ok());
  const absl::Time after = absl::Now();

  const std::vector<test::FakeGraphClient::Call> calls = graph_->calls();
  ASSERT_EQ(calls.size(), 2u);
  // gRPC rounds the grpc-timeout it sends up to a coarse unit, and the server measures it
  // from arrival.
  EXPECT_LE(absl::AbsDuration(calls[0].deadline - deadline), absl::Seconds(1));
  EXPECT_GE(calls[1].deadline, before + absl::Seconds(7));
  EXPECT_LE(calls[1].deadline, after + absl::Seconds(7));
}

TEST_F(ServerTest, InvalidRequestIsRejectedWithDetailsAndNoGraphCall) {
  GetAttendanceReportRequest request = Request();
  request.set_user_id("");
  GetAttendanceReportResponse response;
  const grpc::Status status = Call(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("user_id"));
  const WireDetails details = DetailsOf(status);
  ASSERT_TRUE(details.has_info);
  EXPECT_EQ(details.info.reason(), "INVALID_ID");
  EXPECT_EQ(details.info.domain(), "rollcall.v1");
  EXPECT_EQ(details.info.metadata().at("field"), "user_id");
  ASSERT_TRUE(details.has_bad_request);
  ASSERT_EQ(details.bad_request.field_violations_size(), 1);
  EXPECT_EQ(details.bad_request.field_violations(0).field(), "user_id");

  request = Request();
  request.set_report_id(std::string(1025, 'r'));
  EXPECT_EQ(Call(request, &response).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  request = Request();
  request.set_view(static_cast<rollcall::v1::ReportView>(9));
  EXPECT_EQ(Call(request, &response).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  EXPECT_EQ(graph_->call_count(), 0);
  EXPECT_EQ(server_->service().GetStats().invalid_requests, 3u);
}

TEST_F(ServerTest, MalformedAndNonUtf8RequestsAreRejected) {
  std::string ignored;
  grpc::Status status = RawCall(kMethod, std::string("\x0a\x7f\x01", 3), &ignored);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(DetailsOf(status).info.reason(), "MALFORMED_REQUEST");

  // Bytes protobuf's own parser would refuse as a whole; Rollcall names the field.
  std::string request = Request().SerializeAsString();
  request += std::string("\x12\x02\xc3\x28", 4);  // meeting_id = invalid UTF-8 (last wins)
  status = RawCall(kMethod, request, &ignored);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(DetailsOf(status).info.metadata().at("field"), "meeting_id");
  EXPECT_EQ(graph_->call_count(), 0);
}

TEST_F(ServerTest, GraphNotFoundIsPropagatedAndRemembered) {
  common::ErrorDetails details;
  details.reason = "REPORT_NOT_FOUND";
  details.metadata["graph_code"] = "NotFound";
  details.metadata["graph_request_id"] = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0";
  graph_->SetError(common::MakeError(absl::StatusCode::kNotFound,
                                    "Graph has no such attendance report", details));
  GetAttendanceReportResponse response;
  grpc::Status status = Call(Request(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "Graph has no such attendance report");
  const WireDetails wire = DetailsOf(status);
  ASSERT_TRUE(wire.has_info);
  EXPECT_EQ(wire.info.reason(), "REPORT_NOT_FOUND");
  EXPECT_EQ(wire.info.metadata().at("graph_code"), "NotFound");
  EXPECT_EQ(wire.info.metadata().at("graph_request_id"), "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0");
  EXPECT_FALSE(wire.has_bad_request);

  // The second call is answered from the negative cache, with the very same error.
  grpc::Status again = Call(Request(), &response);
  EXPECT_EQ(again.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(again.error_message(), status.error_message());
  EXPECT_EQ(again.error_details(), status.error_details());
  EXPECT_EQ(graph_->call_count(), 1);
  EXPECT_EQ(server_->cache().GetStats().negative_hits, 1u);

  bool logged = false;
  for (const std::string& line : LogLines()) {
    if (absl::StrContains(line, "\"msg\":\"graph fetch failed\"")) {
      logged = true;
      EXPECT_THAT(line, HasSubstr("\"reason\":\"REPORT_NOT_FOUND\""));
      EXPECT_THAT(line, HasSubstr("\"graph_code\":\"NotFound\""));
      EXPECT_THAT(line, HasSubstr("\"graph_request_id\":\"0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0\""));
    }
  }
  EXPECT_TRUE(logged);
}

TEST_F(ServerTest, ThrottlingCarriesRetryInfo) {
  common::ErrorDetails details;
  details.reason = "GRAPH_THROTTLED";
  details.retry_after = absl::Seconds(2);
  graph_->SetError(
      common::MakeError(absl::StatusCode::kResourceExhausted, "Graph throttled the call", details));
  GetAttendanceReportResponse response;
  const grpc::Status status = Call(Request(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  const WireDetails wire = DetailsOf(status);
  EXPECT_EQ(wire.info.reason(), "GRAPH_THROTTLED");
  ASSERT_TRUE(wire.has_retry);
  EXPECT_EQ(wire.retry.retry_delay().seconds(), 2);
  // Throttling is not cached: the next call asks Graph again.
  EXPECT_EQ(Call(Request(), &response).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(graph_->call_count(), 2);
}

TEST_F(ServerTest, HealthIsServing) {
  // grpc.health.v1.HealthCheckRequest{service} by hand; HealthCheckResponse{status: SERVING}
  // is the two bytes 08 01.
  for (const std::string& service : {std::string(), std::string(kServiceName)}) {
    std::string request;
    if (!service.empty()) {
      request = std::string("\x0a", 1) + static_cast<char>(service.size()) + service;
    }
    std::string response;
    const grpc::Status status = RawCall("/grpc.health.v1.Health/Check", request, &response);
    ASSERT_TRUE(status.ok()) << service << ": " << status.error_message();
    EXPECT_EQ(response, std::string("\x08\x01", 2)) << service;
  }
}

// One ServerReflectionInfo exchange with list_services, over a generic bidi stream.
TEST_F(ServerTest, ReflectionListsTheService) {
  grpc::GenericStub generic(channel_);
  grpc::CompletionQueue cq;
  grpc::ClientContext context;
  SetDeadline(&context);
  auto next = [&cq](intptr_t expected) {
    void* tag = nullptr;
    bool ok = false;
    EXPECT_TRUE(cq.Next(&tag, &ok));
    EXPECT_EQ(reinterpret_cast<intptr_t>(tag), expected);
    return ok;
  };
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call = generic.PrepareCall(
      &context, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  call->StartCall(reinterpret_cast<void*>(1));
  ASSERT_TRUE(next(1));
  // ServerReflectionRequest{list_services: ""} = field 7, length 0.
  call->Write(ToBuffer(std::string("\x3a\x00", 2)), reinterpret_cast<void*>(2));
  ASSERT_TRUE(next(2));
  call->WritesDone(reinterpret_cast<void*>(3));
  ASSERT_TRUE(next(3));
  std::string replies;
  while (true) {
    grpc::ByteBuffer reply;
    call->Read(&reply, reinterpret_cast<void*>(4));
    if (!next(4)) break;
    replies += ToString(reply);
  }
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  ASSERT_TRUE(next(5));
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(replies, HasSubstr(kServiceName));
  EXPECT_THAT(replies, HasSubstr("grpc.health.v1.Health"));
  cq.Shutdown();
  void* tag;
  bool ok;
  while (cq.Next(&tag, &ok)) {
  }
}

TEST_F(ServerTest, ShutdownLetsALoadInFlightFinish) {
  HealthWatch watch(channel_);
  ASSERT_EQ(watch.Read(), std::string("\x08\x01", 2));  // SERVING
  Notification gate;
  graph_->SetGate(&gate);
  grpc::ClientContext context;
  SetDeadline(&context);
  GetAttendanceReportResponse response;
  Notification finished;
  grpc::Status status;
  const GetAttendanceReportRequest request = Request();
  stub_->async()->GetAttendanceReport(&context, &request, &response, [&](grpc::Status s) {
    status = std::move(s);
    finished.Notify();
  });
  ASSERT_TRUE(graph_->AwaitCalls(1, kWait));
  bool stopped = false;
  std::thread stopper([&] { stopped = server_->Shutdown(clock_->Now() + kWait); });
  // Shutdown has begun (health turns NOT_SERVING as it starts draining) while the load is
  // still held at Graph: the call is in flight through the shutdown, not finished before it.
  ASSERT_EQ(watch.Read(), std::string("\x08\x02", 2));  // NOT_SERVING
  EXPECT_FALSE(finished.HasBeenNotified());
  gate.Notify();
  ASSERT_TRUE(finished.WaitForNotificationWithTimeout(kWait));
  stopper.join();
  EXPECT_TRUE(stopped) << "the drain did not finish within its deadline";
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.report().id(), test::SampleReport().id());
  EXPECT_EQ(graph_->call_count(), 1);
}

// --- Negative caching and stale-if-error through the server, on a fake clock ----------------

common::ErrorDetails Details(const std::string& reason) {
  common::ErrorDetails details;
  details.reason = reason;
  details.metadata["graph_request_id"] = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0";
  return details;
}

// max_connection_age: the server closes each connection when it is that old (GOAWAY), and the
// client's next call opens a new one, which is how clients come to spread over new replicas.
class AgedConnectionServerTest : public ServerTest {
 protected:
  AgedConnectionServerTest() { config_.max_connection_age = absl::Milliseconds(300); }
};

TEST_F(AgedConnectionServerTest, ConnectionsAreClosedWhenOldAndCallsGoOn) {
  GetAttendanceReportResponse response;
  ASSERT_TRUE(Call(Request(), &response).ok());
  ASSERT_EQ(channel_->GetState(false), GRPC_CHANNEL_READY);
  // Waits for the state to change (the server's GOAWAY), not for a guessed time.
  EXPECT_TRUE(channel_->WaitForStateChange(GRPC_CHANNEL_READY,
                                           absl::ToChronoTime(absl::Now() + absl::Seconds(10))))
      << "the connection outlived max_connection_age";
  EXPECT_NE(channel_->GetState(false), GRPC_CHANNEL_READY);
  ASSERT_TRUE(Call(Request(), &response).ok());
  EXPECT_TRUE(response.from_cache());
}

class FakeClockServerTest : public ServerTest {
 protected:
  FakeClockServerTest() {
    clock_ = &fake_clock_;
    config_.negative_cache_ttl = absl::Seconds(30);
    config_.stale_if_error = absl::Hours(24);
    config_.cache_ttl = absl::Hours(1);  // SampleReport's meeting ended long ago
  }
  rollcall::testing::FakeClock fake_clock_;
};

TEST_F(FakeClockServerTest, NotFoundIsAnsweredFromTheCacheUntilTheNegativeTtl) {
  graph_->SetError(common::MakeError(absl::StatusCode::kNotFound, "no such report",
                                    Details("REPORT_NOT_FOUND")));
  GetAttendanceReportResponse response;
  const grpc::Status first = Call(Request(), &response);
  const grpc::Status second = Call(Request(), &response);
  EXPECT_EQ(first.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(second.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(second.error_message(), first.error_message());
  EXPECT_EQ(second.error_details(), first.error_details());
  EXPECT_EQ(DetailsOf(second).info.reason(), "REPORT_NOT_FOUND");
  EXPECT_EQ(graph_->call_count(), 1);

  fake_clock_.Advance(absl::Seconds(29));
  EXPECT_EQ(Call(Request(), &response).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(graph_->call_count(), 1);

  // Past the TTL Graph is asked again, and now the report is there.
  fake_clock_.Advance(absl::Seconds(1));
  graph_->SetError(absl::OkStatus());
  ASSERT_TRUE(Call(Request(), &response).ok());
  EXPECT_FALSE(response.from_cache());
  EXPECT_EQ(graph_->call_count(), 2);
  EXPECT_EQ(server_->cache().GetStats().negative_hits, 2u);
  EXPECT_EQ(server_->service().GetStats().replies_by_code[grpc::StatusCode::NOT_FOUND], 3u);
}

TEST_F(FakeClockServerTest, OtherErrorsAreNeverCached) {
  graph_->SetError(common::MakeError(absl::StatusCode::kInternal, "broken body",
                                    Details("GRAPH_BAD_RESPONSE")));
  GetAttendanceReportResponse response;
  EXPECT_EQ(Call(Request(), &response).error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(Call(Request(), &response).error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(graph_->call_count(), 2);
  EXPECT_EQ(server_->cache().GetStats().entries, 0u);
}

class StaleServerTest
    : public FakeClockServerTest,
      public ::testing::WithParamInterface<std::pair<absl::StatusCode, std::string>> {};
// (A std::string, not a const char*: gtest prints the value, so the test names that
// gtest_discover_tests registers do not carry an address that changes from build to build.)

TEST_P(StaleServerTest, GraphFailureServesTheExpiredCopyMarkedStale) {
  const auto [code, why] = GetParam();
  const std::string request = Request().SerializeAsString();
  std::string fresh;
  ASSERT_TRUE(RawCall(kMethod, request, &fresh).ok());

  fake_clock_.Advance(absl::Hours(2));  // expired an hour ago, within the 24h stale window
  graph_->SetError(common::MakeError(code, "Graph is having a bad day", Details(why)));
  std::string stale;
  const grpc::Status status = RawCall(kMethod, request, &stale);
  ASSERT_TRUE(status.ok()) << status.error_message();
  // The very bytes loaded before, plus from_cache: true and stale: true.
  EXPECT_EQ(stale, fresh + std::string("\x18\x01\x20\x01", 4));
  GetAttendanceReportResponse response;
  ASSERT_TRUE(response.ParseFromString(stale));
  EXPECT_TRUE(response.from_cache());
  EXPECT_TRUE(response.stale());
  EXPECT_EQ(response.report().SerializeAsString(), test::SampleReport().SerializeAsString());
  EXPECT_EQ(graph_->call_count(), 2);  // the expired entry was a miss: Graph was asked
  EXPECT_EQ(server_->cache().GetStats().stale_served, 1u);

  bool logged = false;
  for (const std::string& line : LogLines()) {
    if (absl::StrContains(line, "\"msg\":\"serving stale report\"")) {
      logged = true;
      EXPECT_THAT(line, HasSubstr(absl::StrCat("\"reason\":\"", why, "\"")));
    }
  }
  EXPECT_TRUE(logged);

  // Beyond the stale window the error goes through.
  fake_clock_.Advance(absl::Hours(23));
  EXPECT_EQ(RawCall(kMethod, request, &stale).error_code(), static_cast<grpc::StatusCode>(code));
}

INSTANTIATE_TEST_SUITE_P(
    OutageErrors, StaleServerTest,
    ::testing::Values(std::make_pair(absl::StatusCode::kUnavailable, std::string("GRAPH_UNAVAILABLE")),
                      std::make_pair(absl::StatusCode::kDeadlineExceeded, std::string("GRAPH_UNAVAILABLE")),
                      std::make_pair(absl::StatusCode::kResourceExhausted, std::string("GRAPH_THROTTLED")),
                      std::make_pair(absl::StatusCode::kInternal, std::string("GRAPH_BAD_RESPONSE"))));

TEST_F(FakeClockServerTest, NotFoundAndCredentialErrorsAreNotMaskedByAStaleCopy) {
  GetAttendanceReportResponse response;
  ASSERT_TRUE(Call(Request(), &response).ok());
  fake_clock_.Advance(absl::Hours(2));
  graph_->SetError(common::MakeError(absl::StatusCode::kFailedPrecondition, "secret expired",
                                    Details("CREDENTIALS_REJECTED")));
  EXPECT_EQ(Call(Request(), &response).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  graph_->SetError(common::MakeError(absl::StatusCode::kNotFound, "gone",
                                    Details("REPORT_NOT_FOUND")));
  EXPECT_EQ(Call(Request(), &response).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(server_->cache().GetStats().stale_served, 0u);
}

// cache_ttl 0s: every report expires at once but is kept for stale_if_error, so a test (or an
// operator) sees stale-if-error without waiting.
class ZeroTtlServerTest : public ServerTest {
 protected:
  ZeroTtlServerTest() {
    config_.cache_ttl = absl::ZeroDuration();
    config_.cache_ttl_recent = absl::ZeroDuration();
  }
};

TEST_F(ZeroTtlServerTest, EveryCallAsksGraphAndAFailureServesTheLastCopy) {
  GetAttendanceReportResponse response;
  ASSERT_TRUE(Call(Request(), &response).ok());
  ASSERT_TRUE(Call(Request(), &response).ok());
  EXPECT_FALSE(response.from_cache());
  EXPECT_EQ(graph_->call_count(), 2);
  graph_->SetError(common::MakeError(absl::StatusCode::kUnavailable, "503",
                                    Details("GRAPH_UNAVAILABLE")));
  ASSERT_TRUE(Call(Request(), &response).ok());
  EXPECT_TRUE(response.from_cache());
  EXPECT_TRUE(response.stale());
  EXPECT_EQ(graph_->call_count(), 3);
}

// --- The upstream queue's bound ----------------------------------------------------------

class QueueBoundServerTest : public ServerTest {
 protected:
  QueueBoundServerTest() {
    config_.upstream_concurrency = 1;
    config_.upstream_queue = 1;
  }
};

TEST_F(QueueBoundServerTest, AMissBeyondTheQueueIsRefusedAtOnceWhileHitsStillAnswer) {
  GetAttendanceReportRequest cached = Request();
  cached.set_report_id("cached");
  GetAttendanceReportResponse response;
  ASSERT_TRUE(Call(cached, &response).ok());
  ASSERT_TRUE(server_->executor().AwaitIdle(kWait));

  Notification gate;
  graph_->SetGate(&gate);
  struct Pending {
    GetAttendanceReportRequest request;
    grpc::ClientContext context;
    GetAttendanceReportResponse response;
    grpc::Status status;
  };
  std::vector<std::unique_ptr<Pending>> pending;
  BlockingCounter finished(3);
  auto start = [&](const std::string& report_id) {
    pending.push_back(std::make_unique<Pending>());
    Pending* p = pending.back().get();
    p->request = Request();
    p->request.set_report_id(report_id);
    SetDeadline(&p->context);
    stub_->async()->GetAttendanceReport(&p->context, &p->request, &p->response,
                                        [p, &finished](grpc::Status status) {
                                          p->status = std::move(status);
                                          finished.DecrementCount();
                                        });
  };
  start("running");  // takes the one upstream thread and blocks in Graph
  ASSERT_TRUE(graph_->AwaitCalls(2, kWait));
  start("queued");   // waits in the one queue slot
  start("running");  // joins the load in flight: never refused
  ASSERT_TRUE(server_->cache().AwaitStats(
      [](const ReportCache::Stats& s) {
        return s.loads_in_flight == 2 && s.waiters_in_flight == 3;
      },
      kWait));

  GetAttendanceReportRequest third = Request();
  third.set_report_id("refused");
  const grpc::Status refused = Call(third, &response);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  const WireDetails wire = DetailsOf(refused);
  EXPECT_EQ(wire.info.reason(), "UPSTREAM_OVERLOADED");
  EXPECT_EQ(wire.info.domain(), "rollcall.v1");
  ASSERT_TRUE(wire.has_retry);
  EXPECT_EQ(wire.retry.retry_delay().seconds(), 1);

  // A hit never waits behind the misses.
  ASSERT_TRUE(Call(cached, &response).ok());
  EXPECT_TRUE(response.from_cache());

  gate.Notify();
  finished.Wait();
  for (const auto& p : pending) EXPECT_TRUE(p->status.ok()) << p->status.error_message();
  EXPECT_EQ(graph_->call_count(), 3);  // cached, running, queued; never the refused one
  EXPECT_EQ(server_->cache().GetStats().rejected, 1u);
}

// --- One clock: the service's fake clock decades away from the wall clock ---------------------

// The server runs on a fake clock set to June of the year given, while gRPC's deadlines are
// wall-clock instants: the service converts each at arrival, so misses, hits and expiry all
// follow the fake clock.
class FarClockServerTest : public ServerTest, public ::testing::WithParamInterface<int> {
 protected:
  FarClockServerTest()
      : far_clock_(absl::FromCivil(absl::CivilSecond(GetParam(), 6, 1, 12, 0, 0),
                                   absl::UTCTimeZone())) {
    clock_ = &far_clock_;
    config_.cache_ttl = absl::Hours(1);
    config_.cache_ttl_recent = absl::Seconds(60);
    config_.recent_report_age = absl::Hours(1);
  }
  rollcall::testing::FakeClock far_clock_;
};

TEST_P(FarClockServerTest, AMissAndAHitSucceedAndTheTtlFollowsTheFakeClock) {
  const absl::Time start = far_clock_.Now();
  ASSERT_GT(absl::AbsDuration(start - absl::Now()), absl::Hours(24 * 365 * 20));
  // SampleReport's meeting ended in 2021: long before 2080 (the long TTL); after 1990 (a
  // meeting that has not ended yet: the short one).
  const absl::Time ended = absl::FromUnixSeconds(test::SampleReport().meeting_end_date_time().seconds());
  const absl::Duration ttl = start - ended >= absl::Hours(1) ? absl::Hours(1) : absl::Seconds(60);

  GetAttendanceReportResponse response;
  const grpc::Status miss = Call(Request(), &response);
  ASSERT_TRUE(miss.ok()) << miss.error_message();
  EXPECT_FALSE(response.from_cache());
  EXPECT_EQ(response.graph_fetch_time().seconds(), absl::ToUnixSeconds(start));
  // Graph was given the call's deadline in the fake clock's time: what was left of it (kWait).
  std::vector<test::FakeGraphClient::Call> calls = graph_->calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_LE(absl::AbsDuration(calls[0].deadline - (start + kWait)), absl::Seconds(2));

  ASSERT_TRUE(Call(Request(), &response).ok());
  EXPECT_TRUE(response.from_cache());
  far_clock_.Advance(ttl - absl::Seconds(1));
  ASSERT_TRUE(Call(Request(), &response).ok());
  EXPECT_TRUE(response.from_cache());
  EXPECT_EQ(graph_->call_count(), 1);

  // Expired by the fake clock: loaded again.
  far_clock_.Advance(absl::Seconds(1));
  ASSERT_TRUE(Call(Request(), &response).ok());
  EXPECT_FALSE(response.from_cache());
  EXPECT_EQ(response.graph_fetch_time().seconds(), absl::ToUnixSeconds(start + ttl));
  EXPECT_EQ(graph_->call_count(), 2);

  // A call without a deadline gets default_deadline (7s) from the fake clock's now.
  grpc::ClientContext no_deadline;
  ASSERT_TRUE(stub_->GetAttendanceReport(&no_deadline, Request(rollcall::v1::REPORT_VIEW_BASIC),
                                         &response)
                  .ok());
  calls = graph_->calls();
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[2].deadline, far_clock_.Now() + absl::Seconds(7));
  EXPECT_EQ(server_->cache().GetStats().hits, 2u);
}

INSTANTIATE_TEST_SUITE_P(Years, FarClockServerTest, ::testing::Values(2080, 1990));

// --- Calls that end before their load --------------------------------------------------------

TEST_F(ServerTest, ACallPastItsDeadlineEndsWithoutWaitingForItsLoad) {
  Notification gate;
  graph_->SetGate(&gate);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Milliseconds(200)));
  GetAttendanceReportResponse response;
  EXPECT_EQ(stub_->GetAttendanceReport(&context, Request(), &response).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  // The server let go of the call while Graph is still held ...
  EXPECT_TRUE(server_->service().AwaitNoCallsInFlight(clock_->Now() + kWait));
  EXPECT_EQ(graph_->call_count(), 1);
  EXPECT_EQ(server_->cache().GetStats().loads_in_flight, 1u);
  // ... and the load, once released, still fills the cache.
  gate.Notify();
  ASSERT_TRUE(server_->cache().AwaitStats(
      [](const ReportCache::Stats& s) { return s.entries == 1; }, kWait));
  ASSERT_TRUE(Call(Request(), &response).ok());
  EXPECT_TRUE(response.from_cache());
  const auto stats = server_->service().GetStats();
  EXPECT_EQ(stats.replies_by_code[grpc::StatusCode::DEADLINE_EXCEEDED] +
                stats.replies_by_code[grpc::StatusCode::CANCELLED],
            1u);
}

// --- Graceful shutdown ---------------------------------------------------------------------

TEST_F(ServerTest, ShutdownTurnsHealthNotServingRefusesNewCallsAndFinishesCallsInFlight) {
  HealthWatch watch(channel_);
  EXPECT_EQ(watch.Read(), std::string("\x08\x01", 2));  // SERVING

  Notification gate;
  graph_->SetGate(&gate);
  grpc::ClientContext context;
  SetDeadline(&context);
  GetAttendanceReportResponse in_flight;
  Notification finished;
  grpc::Status in_flight_status;
  const GetAttendanceReportRequest request = Request();
  stub_->async()->GetAttendanceReport(&context, &request, &in_flight, [&](grpc::Status s) {
    in_flight_status = std::move(s);
    finished.Notify();
  });
  ASSERT_TRUE(graph_->AwaitCalls(1, kWait));

  bool stopped = false;
  std::thread stopper([&] { stopped = server_->Shutdown(clock_->Now() + kWait); });
  EXPECT_EQ(watch.Read(), std::string("\x08\x02", 2));  // NOT_SERVING

  // Health said NOT_SERVING: from here on a new call is refused, whichever layer refuses it.
  GetAttendanceReportRequest other = Request();
  other.set_report_id("another");
  GetAttendanceReportResponse refused;
  EXPECT_EQ(Call(other, &refused).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_FALSE(finished.HasBeenNotified());

  gate.Notify();
  ASSERT_TRUE(finished.WaitForNotificationWithTimeout(kWait));
  EXPECT_TRUE(in_flight_status.ok()) << in_flight_status.error_message();
  EXPECT_EQ(in_flight.report().id(), test::SampleReport().id());
  stopper.join();
  EXPECT_TRUE(stopped);
  EXPECT_EQ(graph_->call_count(), 1);
}

// HTTP/2's client preface and an empty SETTINGS frame: a connection that gRPC's server sets up
// and that never reads again, so it never acknowledges the PING of the server's GOAWAY.
TEST_F(ServerTest, ShutdownDoesNotWaitForIdleClientsToAcknowledgeTheGoaway) {
  const int fd = test::ConnectLoopback(server_->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(test::SendAll(
      fd, std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00", 33)));
  char settings[9];
  ASSERT_EQ(recv(fd, settings, sizeof(settings), MSG_WAITALL), 9);  // the server's SETTINGS
  EXPECT_EQ(settings[3], 0x04);

  const absl::Time start = absl::Now();
  EXPECT_TRUE(server_->Shutdown(clock_->Now() + kWait));
  // Without forcing idle connections closed this takes gRPC's GOAWAY timeout (~20 s).
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  close(fd);
}

TEST_F(ServerTest, ShutdownIsIdempotentAndLaterCallsReturnItsResult) {
  EXPECT_TRUE(server_->Shutdown(clock_->Now() + kWait));
  EXPECT_TRUE(server_->Shutdown(clock_->Now()));
}

// --- Metrics -------------------------------------------------------------------------------

class MetricsServerTest : public ServerTest {
 protected:
  MetricsServerTest() { config_.metrics_listen = "127.0.0.1:0"; }

  std::string Scrape() {
    const std::string answer =
        test::HttpExchange(server_->metrics_port(), "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(test::HttpStatus(answer), 200) << answer;
    return test::HttpBody(answer);
  }
};

TEST_F(MetricsServerTest, ExposesEveryMetricAndTheyMove) {
  ASSERT_GT(server_->metrics_port(), 0);
  graph::GraphClientStats graph_stats;
  graph_stats.http_requests = 7;
  graph_stats.retries = 3;
  graph_stats.throttled = 2;
  graph_stats.server_errors = 1;
  graph_stats.transport_errors = 4;
  graph_stats.bad_responses = 5;
  graph_stats.token_refreshes = 6;
  graph_->SetStats(graph_stats);

  const std::string before = Scrape();
  // Every rollcall_ family service/metrics.md lists, and no other (metrics_exposition checks
  // the document against a scrape; this checks the in-process server's scrape against both).
  const std::set<std::string> expected = {
      "rollcall_build_info",
      "rollcall_cache_bytes",
      "rollcall_cache_entries",
      "rollcall_cache_evictions_total",
      "rollcall_cache_expirations_total",
      "rollcall_cache_hits_total",
      "rollcall_cache_joins_total",
      "rollcall_cache_misses_total",
      "rollcall_cache_negative_entries",
      "rollcall_cache_negative_hits_total",
      "rollcall_cache_reloads_total",
      "rollcall_cache_stale_served_total",
      "rollcall_caller_denied_total",
      "rollcall_held_reply_bytes",
      "rollcall_replies_refused_total",
      "rollcall_calls_in_flight",
      "rollcall_graph_bad_responses_total",
      "rollcall_graph_call_duration_seconds",
      "rollcall_graph_errors_total",
      "rollcall_graph_fetches_total",
      "rollcall_graph_http_requests_total",
      "rollcall_graph_retries_total",
      "rollcall_graph_server_errors_total",
      "rollcall_graph_throttled_total",
      "rollcall_graph_token_refreshes_total",
      "rollcall_graph_transport_errors_total",
      "rollcall_redis_errors_total",
      "rollcall_redis_hits_total",
      "rollcall_redis_lease_waits_total",
      "rollcall_redis_misses_total",
      "rollcall_redis_skipped_total",
      "rollcall_redis_writes_total",
      "rollcall_requests_total",
      "rollcall_rpc_duration_seconds",
      "rollcall_upstream_queue_depth",
      "rollcall_upstream_rejected_total",
      "rollcall_upstream_running",
  };
  std::set<std::string> typed;
  for (const absl::string_view line : absl::StrSplit(before, '\n')) {
    if (!absl::StartsWith(line, "# TYPE rollcall_")) continue;
    const std::vector<absl::string_view> words = absl::StrSplit(line, ' ');
    ASSERT_EQ(words.size(), 4u) << line;
    // Prometheus' text format names a counter family without _total in TYPE lines
    // (prometheus-cpp does so), its samples with it.
    std::string name(words[2]);
    if (words[3] == "counter" && !absl::EndsWith(name, "_total")) name += "_total";
    typed.insert(name);
    EXPECT_THAT(before, HasSubstr(absl::StrCat("# HELP ", words[2], " "))) << name;
  }
  EXPECT_EQ(typed, expected);
  EXPECT_THAT(before, HasSubstr("rollcall_requests_total{code=\"OK\"} 0\n"));
  EXPECT_THAT(before, HasSubstr("rollcall_cache_hits_total 0\n"));
  EXPECT_THAT(before, HasSubstr("rollcall_graph_retries_total 3\n"));
  EXPECT_THAT(before, HasSubstr("rollcall_graph_token_refreshes_total 6\n"));

  GetAttendanceReportResponse response;
  ASSERT_TRUE(Call(Request(), &response).ok());
  ASSERT_TRUE(Call(Request(), &response).ok());
  GetAttendanceReportRequest missing = Request();
  missing.set_report_id("missing");
  graph_->SetError(common::MakeError(absl::StatusCode::kNotFound, "no such report",
                                    Details("REPORT_NOT_FOUND")));
  EXPECT_FALSE(Call(missing, &response).ok());
  EXPECT_FALSE(Call(missing, &response).ok());

  const std::string after = Scrape();
  EXPECT_THAT(after, HasSubstr("rollcall_requests_total{code=\"OK\"} 2\n"));
  EXPECT_THAT(after, HasSubstr("rollcall_requests_total{code=\"NOT_FOUND\"} 2\n"));
  EXPECT_THAT(after, HasSubstr("rollcall_cache_hits_total 1\n"));
  EXPECT_THAT(after, HasSubstr("rollcall_cache_misses_total 2\n"));
  EXPECT_THAT(after, HasSubstr("rollcall_cache_negative_hits_total 1\n"));
  EXPECT_THAT(after, HasSubstr("rollcall_cache_entries 2\n"));
  EXPECT_THAT(after, HasSubstr("rollcall_graph_fetches_total 2\n"));
  EXPECT_THAT(after, HasSubstr("rollcall_graph_errors_total{reason=\"REPORT_NOT_FOUND\"} 1\n"));
}

TEST_F(MetricsServerTest, GarbageGets400AndTheEndpointKeepsServing) {
  EXPECT_EQ(test::HttpStatus(test::HttpExchange(server_->metrics_port(),
                                                std::string("\x16\x03\x01\x02\x00\x01\x00", 7))),
            400);
  EXPECT_EQ(test::HttpStatus(test::HttpExchange(server_->metrics_port(), "GET /other HTTP/1.1\r\n\r\n")),
            404);
  EXPECT_THAT(Scrape(), HasSubstr("rollcall_cache_hits_total"));
}

TEST(ServerStartTest, BusyMetricsPortIsAnError) {
  Logger logger(LogLevel::kError, common::SystemClock(), [](absl::string_view) {});
  auto graph = std::make_shared<test::FakeGraphClient>();
  Config config;
  config.listen = "127.0.0.1:0";
  config.plaintext = true;
  config.metrics_listen = "127.0.0.1:0";
  absl::StatusOr<std::unique_ptr<RollcallServer>> first =
      RollcallServer::Start(config, graph, common::SystemClock(), &logger);
  ASSERT_TRUE(first.ok()) << first.status();
  config.metrics_listen = absl::StrCat("127.0.0.1:", (*first)->metrics_port());
  absl::StatusOr<std::unique_ptr<RollcallServer>> second =
      RollcallServer::Start(config, graph, common::SystemClock(), &logger);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
}

TEST(ServerStartTest, BusyPortIsAnError) {
  Logger logger(LogLevel::kError, common::SystemClock(), [](absl::string_view) {});
  auto graph = std::make_shared<test::FakeGraphClient>();
  Config config;
  config.listen = "127.0.0.1:0";
  config.plaintext = true;
  absl::StatusOr<std::unique_ptr<RollcallServer>> first =
      RollcallServer::Start(config, graph, common::SystemClock(), &logger);
  ASSERT_TRUE(first.ok()) << first.status();
  config.listen = absl::StrCat("127.0.0.1:", (*first)->port());
  absl::StatusOr<std::unique_ptr<RollcallServer>> second =
      RollcallServer::Start(config, graph, common::SystemClock(), &logger);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
}

TEST(ServerStartTest, RefusesToStartWithoutTransportSecurity) {
  Logger logger(LogLevel::kError, common::SystemClock(), [](absl::string_view) {});
  auto graph = std::make_shared<test::FakeGraphClient>();
  Config config;
  config.listen = "127.0.0.1:0";
  absl::StatusOr<std::unique_ptr<RollcallServer>> server =
      RollcallServer::Start(config, graph, common::SystemClock(), &logger);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(server.status().message()), HasSubstr("ROLLCALL_TLS_CERT_FILE"));
  EXPECT_THAT(std::string(server.status().message()), HasSubstr("ROLLCALL_PLAINTEXT=true"));
}

TEST(ServerStartTest, PlaintextIsAWarning) {
  std::vector<std::string> lines;
  common::Mutex mu;
  Logger logger(LogLevel::kInfo, common::SystemClock(), [&](absl::string_view line) {
    common::MutexLock lock(&mu);
    lines.emplace_back(line);
  });
  auto graph = std::make_shared<test::FakeGraphClient>();
  Config config;
  config.listen = "127.0.0.1:0";
  config.plaintext = true;
  absl::StatusOr<std::unique_ptr<RollcallServer>> server =
      RollcallServer::Start(config, graph, common::SystemClock(), &logger);
  ASSERT_TRUE(server.ok()) << server.status();
  common::MutexLock lock(&mu);
  bool warned = false;
  for (const std::string& line : lines) {
    if (absl::StrContains(line, "\"warn\"") && absl::StrContains(line, "plaintext")) warned = true;
  }
  EXPECT_TRUE(warned) << absl::StrJoin(lines, "\n");
}

TEST(ServerStartTest, MissingOrBrokenTlsFilesNameTheSetting) {
  Logger logger(LogLevel::kError, common::SystemClock(), [](absl::string_view) {});
  auto graph = std::make_shared<test::FakeGraphClient>();
  const std::string dir = ::testing::TempDir();
  const std::string junk = dir + "/rollcall_junk.pem";
  {
    std::ofstream out(junk);
    out << "not a certificate\n";
  }
  Config config;
  config.listen = "127.0.0.1:0";
  config.tls_cert_file = dir + "/rollcall_no_such_cert.pem";
  config.tls_key_file = junk;
  absl::StatusOr<std::unique_ptr<RollcallServer>> server =
      RollcallServer::Start(config, graph, common::SystemClock(), &logger);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(server.status().message()), HasSubstr("tls_cert_file"));
  EXPECT_THAT(std::string(server.status().message()), HasSubstr("rollcall_no_such_cert.pem"));

  config.tls_cert_file = junk;
  server = RollcallServer::Start(config, graph, common::SystemClock(), &logger);
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(std::string(server.status().message()), HasSubstr("holds no PEM certificate"));
}

}  // namespace
}  // namespace rollcall::service
