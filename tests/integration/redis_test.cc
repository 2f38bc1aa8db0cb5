// Issue 14, the L2 tier in Redis (service/redis_l2.h), end to end: two rollcall_server
// replicas, one redis-server of the test's own and the emulator. The emulator's `report`
// counter is the number of Graph report GETs.

#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "service/cached_report.h"
#include "service/redis_l2.h"
#include "tests/integration/environment.h"

namespace rollcall::testing {
namespace {

using rollcall::v1::GetAttendanceReportResponse;

std::string ReportJson(const std::string& id) {
  return absl::StrCat(
      R"({"id":")", id,
      R"(","totalParticipantCount":1,"meetingStartDateTime":"2021-10-05T04:38:23.945Z",)"
      R"("meetingEndDateTime":"2021-10-05T05:43:49.77Z","attendanceRecords":[{"id":"rec-0",)"
      R"("emailAddress":"user0@contoso.com","totalAttendanceInSeconds":60,"role":"Attendee",)"
      R"("identity":{"id":"id-0","displayName":"User 0","tenantId":null},)"
      R"("attendanceIntervals":[{"joinDateTime":"2021-10-05T04:38:27.6027225Z",)"
      R"("leaveDateTime":"2021-10-05T04:39:27.6027225Z","durationInSeconds":60}]}]})");
}

// The Redis key of a report's full view, as the service computes it.
std::string ValueKey(const std::string& report_id) {
  const service::ReportKey key(kDocsUser, kDocsMeeting, report_id,
                               rollcall::v1::REPORT_VIEW_FULL);
  // The server's namespace: the tenant and the Graph version (v1.0 by default).
  return service::L2ValueKey(absl::StrCat(kTenant, ":v1.0"), key.encoded());
}

grpc::Status Get(RollcallProcess& server, const std::string& report_id,
                 GetAttendanceReportResponse* response,
                 absl::Duration timeout = absl::Seconds(20)) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return server.stub().GetAttendanceReport(
      &context, ReportRequest(kDocsUser, kDocsMeeting, report_id), response);
}

class RedisTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto graph = FakeGraph::Start();
    ASSERT_TRUE(graph.ok()) << graph.status();
    graph_ = *std::move(graph);
    auto redis = RedisProcess::Start();
    ASSERT_TRUE(redis.ok()) << redis.status();
    redis_ = *std::move(redis);
    a_ = StartReplica();
    b_ = StartReplica();
    ASSERT_NE(a_, nullptr);
    ASSERT_NE(b_, nullptr);
  }

  void TearDown() override {
    if (!HasFailure()) return;
    for (auto* server : {a_.get(), b_.get()}) {
      if (server != nullptr) std::cerr << "rollcall_server stderr:\n" << server->Stderr() << "\n";
    }
  }

  std::unique_ptr<RollcallProcess> StartReplica() {
    auto server = RollcallProcess::Start(
        *graph_, {{"ROLLCALL_REDIS_URL", redis_->url()}, {"ROLLCALL_REDIS_TIMEOUT", "200ms"}});
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? *std::move(server) : nullptr;
  }

  void AddReport(const std::string& id) {
    ASSERT_TRUE(graph_->AddReport(kDocsUser, kDocsMeeting, id, ReportJson(id)).ok());
  }

  void ExpectReport(RollcallProcess& server, const std::string& id,
                    GetAttendanceReportResponse* response = nullptr) {
    GetAttendanceReportResponse local;
    if (response == nullptr) response = &local;
    const grpc::Status status = Get(server, id, response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response->report().id(), id);
  }

  std::unique_ptr<FakeGraph> graph_;
  std::unique_ptr<RedisProcess> redis_;
  std::unique_ptr<RollcallProcess> a_;
  std::unique_ptr<RollcallProcess> b_;
};

// (1) What replica A fetched, replica B serves with no Graph call.
TEST_F(RedisTest, ReportFetchedThroughOneReplicaIsServedByTheOtherWithoutGraph) {
  GetAttendanceReportResponse from_a;
  ExpectReport(*a_, kDocsReport, &from_a);
  EXPECT_EQ(graph_->Counter("report"), 1);
  auto stored = redis_->Command({"GET", ValueKey(kDocsReport)});
  ASSERT_TRUE(stored.ok());
  ASSERT_TRUE(service::DecodeL2Value(ValueKey(kDocsReport), *stored).ok());
  auto ttl = redis_->Command({"PTTL", ValueKey(kDocsReport)});
  ASSERT_TRUE(ttl.ok());
  EXPECT_GT(std::stoll(*ttl), 0);  // written with its remaining TTL

  GetAttendanceReportResponse from_b;
  ExpectReport(*b_, kDocsReport, &from_b);
  EXPECT_EQ(graph_->Counter("report"), 1);
  EXPECT_EQ(from_b.report().SerializeAsString(), from_a.report().SerializeAsString());
  EXPECT_EQ(from_b.graph_fetch_time().seconds(), from_a.graph_fetch_time().seconds());
  // The lease is gone once the value is written.
  auto lease = redis_->Command({"EXISTS", ValueKey(kDocsReport) + ":lease"});
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ(*lease, "0");
}

// (1) 100 concurrent cold requests over both replicas: one Graph call.
TEST_F(RedisTest, ConcurrentColdRequestsOverBothReplicasMakeOneGraphCall) {
  FaultSpec delay;
  delay.action = "delay";
  delay.kind = "report";
  delay.delay_ms = 1000;
  delay.seconds = 30;
  ASSERT_TRUE(graph_->AddFault(delay).ok());
  constexpr int kCalls = 100;
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kCalls; ++i) {
    threads.emplace_back([&, i] {
      RollcallProcess& server = i % 2 == 0 ? *a_ : *b_;
      GetAttendanceReportResponse response;
      const grpc::Status status = Get(server, kDocsReport, &response);
      if (!status.ok() || response.report().id() != kDocsReport) {
        ++failed;
        ADD_FAILURE() << "call " << i << ": " << status.error_message();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(graph_->Counter("report"), 1);
}

// (2) Redis killed while a load runs, and while it is down: no call fails (they go to Graph);
// restarted on the same port, the replicas use it again without a restart.
TEST_F(RedisTest, RedisDownIsNotAnOutageAndItsReturnIsNoticed) {
  FaultSpec delay;
  delay.action = "delay";
  delay.kind = "report";
  delay.delay_ms = 700;
  delay.count = 1;
  ASSERT_TRUE(graph_->AddFault(delay).ok());
  AddReport("mid-load");
  std::thread in_flight([&] { ExpectReport(*a_, "mid-load"); });
  ASSERT_TRUE(graph_->WaitForActiveFaults(0));  // the load is at Graph, holding its lease
  const int port = redis_->port();
  redis_->Kill();
  in_flight.join();

  // While Redis is down: every call answers, each from Graph.
  for (int i = 0; i < 10; ++i) {
    const std::string id = absl::StrCat("while-down-", i);
    AddReport(id);
    ExpectReport(i % 2 == 0 ? *a_ : *b_, id);
  }
  EXPECT_EQ(graph_->Counter("report"), 11);

  auto redis = RedisProcess::Start(port);
  ASSERT_TRUE(redis.ok()) << redis.status();
  redis_ = *std::move(redis);
  // Within the circuit breaker's backoff (at most 5s), a value A writes is read by B.
  bool shared = false;
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  for (int i = 0; !shared && absl::Now() < give_up; ++i) {
    const std::string id = absl::StrCat("after-restart-", i);
    AddReport(id);
    ExpectReport(*a_, id);
    const int before = graph_->Counter("report");
    ExpectReport(*b_, id);
    shared = graph_->Counter("report") == before;
    if (!shared) absl::SleepFor(absl::Milliseconds(250));
  }
  EXPECT_TRUE(shared) << "the replicas never used the restarted Redis";
  EXPECT_NE(a_->Stderr().find("redis unavailable"), std::string::npos);
}

// (3) A garbage value under a report's key is never served: the call goes to Graph, and the
// value is overwritten with a good one. So is a genuine value copied under another key.
TEST_F(RedisTest, GarbageAndForeignValuesAreNeverServedAndAreOverwritten) {
  const std::string key = ValueKey(kDocsReport);
  ASSERT_TRUE(redis_->Command({"SET", key, "RCL2\x01R garbage that is not a value"}).ok());
  ExpectReport(*a_, kDocsReport);
  EXPECT_EQ(graph_->Counter("report"), 1);
  auto stored = redis_->Command({"GET", key});
  ASSERT_TRUE(stored.ok());
  ASSERT_TRUE(service::DecodeL2Value(key, *stored).ok()) << "not overwritten";
  ExpectReport(*b_, kDocsReport);
  EXPECT_EQ(graph_->Counter("report"), 1);

  // The docs report's genuine value planted under another report's key.
  AddReport("other");
  ASSERT_TRUE(redis_->Command({"SET", ValueKey("other"), *stored}).ok());
  GetAttendanceReportResponse response;
  ExpectReport(*b_, "other", &response);
  EXPECT_EQ(response.report().id(), "other");
  EXPECT_EQ(graph_->Counter("report"), 2);
  EXPECT_NE(b_->Stderr().find("redis value refused"), std::string::npos);
}

// A remembered 404 is shared too: B answers NOT_FOUND for what A was told, with no Graph call.
TEST_F(RedisTest, NotFoundIsSharedForTheNegativeTtl) {
  GetAttendanceReportResponse response;
  grpc::Status status = Get(*a_, "no-such-report", &response);
  ASSERT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << status.error_message();
  EXPECT_EQ(graph_->Counter("report"), 1);
  status = Get(*b_, "no-such-report", &response);
  ASSERT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << status.error_message();
  EXPECT_EQ(ErrorInfoOf(status).reason(), "REPORT_NOT_FOUND");
  EXPECT_EQ(graph_->Counter("report"), 1);
}

// AUTH from redis_password_file (one line: the password), never logged.
TEST(RedisAuthTest, PasswordFileAuthenticatesAndIsNeverLogged) {
  constexpr char kPassword[] = "redis-pa55:word-never-logged";
  auto graph = FakeGraph::Start();
  ASSERT_TRUE(graph.ok()) << graph.status();
  auto redis = RedisProcess::Start(0, kPassword);
  ASSERT_TRUE(redis.ok()) << redis.status();
  char path[] = "/tmp/rollcall-redis-password-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  std::ofstream(path) << kPassword << "\n";
  const std::map<std::string, std::string> env = {{"ROLLCALL_REDIS_URL", (*redis)->url()},
                                                  {"ROLLCALL_REDIS_PASSWORD_FILE", path}};
  auto a = RollcallProcess::Start(**graph, env);
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = RollcallProcess::Start(**graph, env);
  ASSERT_TRUE(b.ok()) << b.status();
  GetAttendanceReportResponse response;
  ASSERT_TRUE(Get(**a, kDocsReport, &response).ok());
  ASSERT_TRUE(Get(**b, kDocsReport, &response).ok());
  EXPECT_EQ((*graph)->Counter("report"), 1) << (*b)->Stderr();
  EXPECT_EQ((*a)->Stderr().find(kPassword), std::string::npos);
  EXPECT_EQ((*b)->Stderr().find(kPassword), std::string::npos);
  std::remove(path);
}

}  // namespace
}  // namespace rollcall::testing
