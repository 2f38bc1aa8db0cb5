// AttendanceReportServiceImpl served by a plain gRPC server (no RollcallServer around it),
// with a fake clock and an RpcObserver: one record per answered call, with its code, its cache
// outcome and its latency on the injected clock.

#include "service/attendance_service.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/error_details.h"
#include "common/mutex.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"
#include "grpcpp/grpcpp.h"
#include "rollcall/v1/attendance.grpc.pb.h"
#include "tests/testing/fake_graph_client.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/notification.h"

namespace rollcall::service {
namespace {

using rollcall::testing::Notification;
using rollcall::v1::GetAttendanceReportRequest;
using rollcall::v1::GetAttendanceReportResponse;

constexpr absl::Duration kWait = absl::Seconds(30);  // only a failing test waits this long

class RecordingObserver final : public RpcObserver {
 public:
  void OnRpcDone(const RpcRecord& record) override {
    common::MutexLock lock(&mu_);
    records_.push_back(Record{std::string(record.method), record.code, record.cache,
                              record.latency});
  }
  struct Record {
    std::string method;
    grpc::StatusCode code;
    CacheOutcome cache;
    absl::Duration latency;
  };
  std::vector<Record> records() const {
    common::MutexLock lock(&mu_);
    return records_;
  }

 private:
  mutable common::Mutex mu_;
  std::vector<Record> records_ ABSL_GUARDED_BY(mu_);
};

GetAttendanceReportRequest Request(const std::string& report_id) {
  GetAttendanceReportRequest request;
  request.set_user_id("dc17674c-81d9-4adb-bfb2-8f6a442e4623");
  request.set_meeting_id("MSpkYzE3Njc0Yy04MWQ5LTRhZGItYmZ");
  request.set_report_id(report_id);
  return request;
}

ReportCache::Options CacheOptions() {
  ReportCache::Options options;
  options.max_bytes = 1 << 20;
  options.negative_ttl = absl::Seconds(30);
  options.stale_if_error = absl::Hours(24);
  return options;
}

class ObservedServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port_, 0);
    stub_ = rollcall::v1::AttendanceReportService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", port_), grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
    executor_.Shutdown();
  }

  grpc::Status Call(const GetAttendanceReportRequest& request,
                    GetAttendanceReportResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + kWait));
    return stub_->GetAttendanceReport(&context, request, response);
  }

  rollcall::testing::FakeClock clock_;
  std::shared_ptr<test::FakeGraphClient> graph_ = std::make_shared<test::FakeGraphClient>();
  Logger logger_{LogLevel::kError, &clock_, [](absl::string_view) {}};
  RecordingObserver observer_;
  UpstreamExecutor executor_{2, 10};
  ReportCache cache_{CacheOptions(), &clock_, &executor_};
  AttendanceReportServiceImpl service_{
      ServiceOptions{absl::Seconds(7), TtlPolicy{absl::Hours(1), absl::Seconds(60), absl::Hours(1)}},
      graph_, &cache_, &clock_, &logger_, &observer_};
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<rollcall::v1::AttendanceReportService::Stub> stub_;
};

TEST_F(ObservedServiceTest, EachAnsweredCallIsReportedOnceWithItsOutcomeAndLatency) {
  // A miss whose Graph call takes 250 ms of the fake clock.
  Notification gate;
  graph_->SetGate(&gate);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + kWait));
  GetAttendanceReportResponse response;
  Notification answered;
  grpc::Status status;
  const GetAttendanceReportRequest request = Request("r1");
  stub_->async()->GetAttendanceReport(&context, &request, &response, [&](grpc::Status s) {
    status = std::move(s);
    answered.Notify();
  });
  ASSERT_TRUE(graph_->AwaitCalls(1, kWait));
  clock_.Advance(absl::Milliseconds(250));
  gate.Notify();
  ASSERT_TRUE(answered.WaitForNotificationWithTimeout(kWait));
  ASSERT_TRUE(status.ok()) << status.error_message();
  graph_->SetGate(nullptr);

  // A hit, answered on arrival: no time passes on the fake clock.
  ASSERT_TRUE(Call(Request("r1"), &response).ok());
  EXPECT_TRUE(response.from_cache());
  // An invalid request never reaches the cache.
  EXPECT_EQ(Call(Request(""), &response).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // A 404, then the remembered 404.
  common::ErrorDetails not_found;
  not_found.reason = std::string(common::reason::kReportNotFound);
  graph_->SetError(common::MakeError(absl::StatusCode::kNotFound, "no such report", not_found));
  EXPECT_EQ(Call(Request("gone"), &response).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Call(Request("gone"), &response).error_code(), grpc::StatusCode::NOT_FOUND);
  // Past r1's TTL with Graph down: the expired copy, stale.
  clock_.Advance(absl::Hours(2));
  graph_->SetError(absl::UnavailableError("Graph is down"));
  ASSERT_TRUE(Call(Request("r1"), &response).ok());
  EXPECT_TRUE(response.stale());

  const std::vector<RecordingObserver::Record> records = observer_.records();
  ASSERT_EQ(records.size(), 6u);
  const struct {
    grpc::StatusCode code;
    CacheOutcome cache;
  } kExpected[] = {
      {grpc::StatusCode::OK, CacheOutcome::kMiss},
      {grpc::StatusCode::OK, CacheOutcome::kHit},
      {grpc::StatusCode::INVALID_ARGUMENT, CacheOutcome::kNone},
      {grpc::StatusCode::NOT_FOUND, CacheOutcome::kMiss},
      {grpc::StatusCode::NOT_FOUND, CacheOutcome::kNegativeHit},
      {grpc::StatusCode::OK, CacheOutcome::kStale},
  };
  for (std::size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(records[i].method, "GetAttendanceReport") << i;
    EXPECT_EQ(records[i].code, kExpected[i].code) << i;
    EXPECT_EQ(records[i].cache, kExpected[i].cache) << i << ": " << CacheOutcomeName(records[i].cache);
  }
  EXPECT_EQ(records[0].latency, absl::Milliseconds(250));
  for (std::size_t i = 1; i < records.size(); ++i) {
    EXPECT_EQ(records[i].latency, absl::ZeroDuration()) << i;
  }
}

TEST_F(ObservedServiceTest, ANegativeHitRepliesWithTheStoredStatusAsItIs) {
  common::ErrorDetails details;
  details.reason = std::string(common::reason::kReportNotFound);
  details.metadata["graph_request_id"] = "req-7";
  graph_->SetError(common::MakeError(absl::StatusCode::kNotFound, "no such report", details));
  GetAttendanceReportResponse response;
  grpc::ClientContext first_context;
  first_context.set_deadline(absl::ToChronoTime(absl::Now() + kWait));
  const grpc::Status first = stub_->GetAttendanceReport(&first_context, Request("r"), &response);
  const grpc::Status second = Call(Request("r"), &response);
  EXPECT_EQ(first.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(second.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(second.error_message(), first.error_message());
  EXPECT_EQ(second.error_details(), first.error_details());
  EXPECT_EQ(graph_->call_count(), 1);
  EXPECT_EQ(cache_.GetStats().negative_hits, 1u);
}

// max_send_message_bytes: a whole report over it is refused with a clear error before any of it
// is sent, from a load and from the cache alike, and stays cached for paging.
TEST(ReplyCapTest, AReportOverTheCapIsRefusedWithReportTooLargeAndStaysPageable) {
  rollcall::testing::FakeClock clock;
  auto graph = std::make_shared<test::FakeGraphClient>();
  Logger logger{LogLevel::kError, &clock, [](absl::string_view) {}};
  RecordingObserver observer;
  UpstreamExecutor executor{2, 10};
  ReportCache cache{CacheOptions(), &clock, &executor};
  ServiceOptions options{absl::Seconds(7),
                         TtlPolicy{absl::Hours(1), absl::Seconds(60), absl::Hours(1)}};
  options.max_reply_bytes = 64;  // the fake's report is larger; a page of one record is not
  AttendanceReportServiceImpl service{options, graph, &cache, &clock, &logger, &observer};
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  auto stub = rollcall::v1::AttendanceReportService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));

  for (const CacheOutcome outcome : {CacheOutcome::kMiss, CacheOutcome::kHit}) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + kWait));
    GetAttendanceReportResponse response;
    const grpc::Status status = stub->GetAttendanceReport(&context, Request("big"), &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION)
        << CacheOutcomeName(outcome) << ": " << status.error_message();
    EXPECT_NE(status.error_message().find("more than max_send_message_bytes (64 bytes)"),
              std::string::npos)
        << status.error_message();
    EXPECT_NE(status.error_message().find("ListAttendanceRecords"), std::string::npos);
    google::rpc::Status details;
    ASSERT_TRUE(details.ParseFromString(status.error_details()));
    google::rpc::ErrorInfo info;
    ASSERT_GT(details.details_size(), 0);
    ASSERT_TRUE(details.details(0).UnpackTo(&info));
    EXPECT_EQ(info.reason(), common::reason::kReportTooLarge);
  }
  EXPECT_EQ(graph->call_count(), 1);  // the report was loaded once and is cached

  // Its records page as usual, from the cache.
  rollcall::v1::ListAttendanceRecordsRequest page_request;
  page_request.set_user_id(Request("big").user_id());
  page_request.set_meeting_id(Request("big").meeting_id());
  page_request.set_report_id("big");
  page_request.set_page_size(1);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + kWait));
  rollcall::v1::ListAttendanceRecordsResponse page;
  const grpc::Status status = stub->ListAttendanceRecords(&context, page_request, &page);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(page.attendance_records_size(), 1);
  EXPECT_EQ(graph->call_count(), 1);

  const std::vector<RecordingObserver::Record> records = observer.records();
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].code, grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(records[0].cache, CacheOutcome::kMiss);
  EXPECT_EQ(records[1].code, grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(records[1].cache, CacheOutcome::kHit);
  EXPECT_EQ(records[2].code, grpc::StatusCode::OK);
  server->Shutdown();
  executor.Shutdown();
}

}  // namespace
}  // namespace rollcall::service
