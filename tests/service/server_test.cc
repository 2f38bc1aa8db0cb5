// End to end in one process: RollcallServer on 127.0.0.1:0 with a fake GraphClient, called
// through a real gRPC channel.

#include "service/server.h"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "graph_client/error_details.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "rollcall/v1/attendance.grpc.pb.h"
#include "tests/service/fake_graph_client.h"

namespace rollcall::service {
namespace {

using ::testing::HasSubstr;
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
  void SetUp() override {
    Config config;
    config.listen = "127.0.0.1:0";
    config.upstream_concurrency = 4;
    config.default_deadline = absl::Seconds(7);
    absl::StatusOr<std::unique_ptr<RollcallServer>> server =
        RollcallServer::Start(config, graph_, graph::SystemClock(), &logger_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    ASSERT_GT(server_->port(), 0);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = rollcall::v1::AttendanceReportService::NewStub(channel_);
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(absl::Now() + absl::Seconds(5));
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
    absl::Notification done;
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
    absl::MutexLock lock(&log_mu_);
    return log_lines_;
  }

  std::shared_ptr<test::FakeGraphClient> graph_ = std::make_shared<test::FakeGraphClient>();
  absl::Mutex log_mu_;
  std::vector<std::string> log_lines_ ABSL_GUARDED_BY(log_mu_);
  Logger logger_{LogLevel::kDebug, graph::SystemClock(), [this](absl::string_view line) {
                   absl::MutexLock lock(&log_mu_);
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
  absl::Notification gate;
  graph_->SetGate(&gate);

  struct Pending {
    grpc::ClientContext context;
    GetAttendanceReportResponse response;
    grpc::Status status;
  };
  std::vector<std::unique_ptr<Pending>> pending;
  absl::BlockingCounter finished(kCalls);
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

TEST_F(ServerTest, GraphNotFoundIsPropagatedAndNotCached) {
  graph::ErrorDetails details;
  details.reason = "REPORT_NOT_FOUND";
  details.metadata["graph_code"] = "NotFound";
  details.metadata["graph_request_id"] = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0";
  graph_->SetError(graph::MakeError(absl::StatusCode::kNotFound,
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

  status = Call(Request(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(graph_->call_count(), 2);  // errors are not cached

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
  graph::ErrorDetails details;
  details.reason = "GRAPH_THROTTLED";
  details.retry_after = absl::Seconds(2);
  graph_->SetError(
      graph::MakeError(absl::StatusCode::kResourceExhausted, "Graph throttled the call", details));
  GetAttendanceReportResponse response;
  const grpc::Status status = Call(Request(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  const WireDetails wire = DetailsOf(status);
  EXPECT_EQ(wire.info.reason(), "GRAPH_THROTTLED");
  ASSERT_TRUE(wire.has_retry);
  EXPECT_EQ(wire.retry.retry_delay().seconds(), 2);
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
  absl::Notification gate;
  graph_->SetGate(&gate);
  grpc::ClientContext context;
  SetDeadline(&context);
  GetAttendanceReportResponse response;
  absl::Notification finished;
  grpc::Status status;
  const GetAttendanceReportRequest request = Request();
  stub_->async()->GetAttendanceReport(&context, &request, &response, [&](grpc::Status s) {
    status = std::move(s);
    finished.Notify();
  });
  ASSERT_TRUE(graph_->AwaitCalls(1, kWait));
  std::thread stopper([this] { server_->Shutdown(absl::Now() + kWait); });
  gate.Notify();  // whether or not Shutdown has begun, the call must complete
  stopper.join();
  ASSERT_TRUE(finished.WaitForNotificationWithTimeout(kWait));
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.report().id(), test::SampleReport().id());
}

TEST(ServerStartTest, BusyPortIsAnError) {
  Logger logger(LogLevel::kError, graph::SystemClock(), [](absl::string_view) {});
  auto graph = std::make_shared<test::FakeGraphClient>();
  Config config;
  config.listen = "127.0.0.1:0";
  absl::StatusOr<std::unique_ptr<RollcallServer>> first =
      RollcallServer::Start(config, graph, graph::SystemClock(), &logger);
  ASSERT_TRUE(first.ok()) << first.status();
  config.listen = absl::StrCat("127.0.0.1:", (*first)->port());
  absl::StatusOr<std::unique_ptr<RollcallServer>> second =
      RollcallServer::Start(config, graph, graph::SystemClock(), &logger);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace rollcall::service
