// A sequential gRPC client for miss latency: one call at a time, each for a report ID made from
// a prefix and a counter (so each is a cache miss), with the reply taken as raw bytes (a
// GenericStub: no decoding, so a 10,000-record reply costs the client next to nothing). What it
// measures is what the facade adds, not what a client library spends decoding. Prints one JSON
// object with the median and 99th percentile in milliseconds.
//
//   bench_grpc_get --target HOST:PORT --user U --meeting M --prefix miss- --start 0 --count 1000

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "bench/latency.h"
#include "common/mutex.h"
#include "rollcall/v1/attendance.pb.h"

int main(int argc, char** argv) {
  std::map<std::string, std::string> flags = {{"start", "0"}, {"count", "100"}};
  for (int i = 1; i + 1 < argc; i += 2) flags[std::string(argv[i]).substr(2)] = argv[i + 1];
  auto channel = grpc::CreateChannel(flags["target"], grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  const int start = std::stoi(flags["start"]);
  const int count = std::stoi(flags["count"]);
  std::vector<double> ms;
  for (int i = start; i < start + count; ++i) {
    rollcall::v1::GetAttendanceReportRequest request;
    request.set_user_id(flags["user"]);
    request.set_meeting_id(flags["meeting"]);
    request.set_report_id(flags["prefix"] + std::to_string(i));
    const std::string bytes = request.SerializeAsString();
    grpc::Slice slice(bytes);
    grpc::ByteBuffer send(&slice, 1);
    grpc::ByteBuffer reply;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    rollcall::common::Mutex mu;
    rollcall::common::CondVar cv(&mu);
    bool done = false;
    grpc::Status status;
    const auto t0 = std::chrono::steady_clock::now();
    stub.UnaryCall(&context, "/rollcall.v1.AttendanceReportService/GetAttendanceReport",
                   grpc::StubOptions(), &send, &reply, [&](grpc::Status s) {
                     rollcall::common::MutexLock lock(&mu);
                     status = std::move(s);
                     done = true;
                     cv.Signal();
                   });
    {
      rollcall::common::MutexLock lock(&mu);
      while (!done) cv.Wait();
    }
    const auto t1 = std::chrono::steady_clock::now();
    if (!status.ok() || reply.Length() == 0) {
      std::fprintf(stderr, "call %d failed: %s\n", i, status.error_message().c_str());
      return 1;
    }
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  rollcall::bench::PrintLatencies(std::move(ms));
  return 0;
}
