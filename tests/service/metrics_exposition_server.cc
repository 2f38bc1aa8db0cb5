// A RollcallServer with a fake Graph client, for metrics_exposition_test.py: it serves gRPC and
// /metrics on loopback ports the OS picks, answers two calls (a miss, then a hit) so that the
// counters move, feeds both observers a few records (until the service and the Graph client
// report through them themselves), prints `metrics port N`, and shuts down when stdin closes.

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/grpcpp.h"
#include "rollcall/v1/attendance.grpc.pb.h"
#include "service/server.h"
#include "tests/testing/fake_graph_client.h"

int main() {
  using namespace rollcall::service;
  Logger logger(LogLevel::kError, rollcall::common::SystemClock());
  Config config;
  config.listen = "127.0.0.1:0";
  config.plaintext = true;
  config.metrics_listen = "127.0.0.1:0";
  auto graph = std::make_shared<test::FakeGraphClient>();
  absl::StatusOr<std::unique_ptr<RollcallServer>> server =
      RollcallServer::Start(config, graph, rollcall::common::SystemClock(), &logger);
  if (!server.ok()) {
    std::fprintf(stderr, "cannot start: %s\n", std::string(server.status().message()).c_str());
    return 1;
  }

  auto stub = rollcall::v1::AttendanceReportService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", (*server)->port()), grpc::InsecureChannelCredentials()));
  rollcall::v1::GetAttendanceReportRequest request;
  request.set_user_id("16664f75-11dc-4870-bec6-38c1aaa81431");
  request.set_meeting_id("MSpkYzE3Njc0Yy04MWQ5LTRhZGItYmZ");
  request.set_report_id("c9b6db1c-d5eb-427d-a5c0-20088d9b22d7");
  for (int i = 0; i < 2; ++i) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    rollcall::v1::GetAttendanceReportResponse response;
    const grpc::Status status = stub->GetAttendanceReport(&context, request, &response);
    if (!status.ok()) {
      std::fprintf(stderr, "call failed: %s\n", status.error_message().c_str());
      return 1;
    }
  }

  // The client has its reply a moment before the server is done with the call (the reactor's
  // OnDone runs after the status is sent); wait for that, so the in-flight gauge reads 0.
  if (!(*server)->service().AwaitNoCallsInFlight(absl::Now() + absl::Seconds(30))) {
    std::fprintf(stderr, "the two calls were never done with\n");
    return 1;
  }

  RpcObserver* rpc = (*server)->rpc_observer();
  rpc->OnRpcDone({"GetAttendanceReport", grpc::StatusCode::OK, CacheOutcome::kMiss,
                  absl::Milliseconds(180)});
  rpc->OnRpcDone({"GetAttendanceReport", grpc::StatusCode::OK, CacheOutcome::kHit,
                  absl::Microseconds(40)});
  rpc->OnRpcDone({"GetAttendanceReport", grpc::StatusCode::NOT_FOUND, CacheOutcome::kNegativeHit,
                  absl::Microseconds(55)});
  rollcall::graph::GraphCallObserver* graph_observer = &(*server)->metrics();
  rollcall::graph::GraphCallRecord call;
  call.endpoint = "token";
  call.http_status = 200;
  call.latency = absl::Milliseconds(90);
  graph_observer->OnGraphCall(call);
  call.endpoint = "attendance_report";
  call.latency = absl::Milliseconds(150);
  graph_observer->OnGraphCall(call);
  call.http_status = 429;
  call.attempt = 1;
  graph_observer->OnGraphCall(call);

  std::printf("metrics port %d\n", (*server)->metrics_port());
  std::fflush(stdout);
  std::string ignored;
  while (std::getline(std::cin, ignored)) {
  }
  return (*server)->Shutdown(rollcall::common::SystemClock()->Now() + absl::Seconds(5)) ? 0 : 1;
}
