// The physical limit for this gRPC stack on this machine: a server that answers
// rollcall.v1.AttendanceReportService/GetAttendanceReport with one fixed, pre-serialized
// response, and does nothing else (no parsing, no validation, no cache lookup). Rollcall's cache
// hits are measured against it.
//
//   bench_baseline_server --listen 127.0.0.1:0 --response FILE
// FILE holds the serialized GetAttendanceReportResponse to send. Prints
// "baseline listening on HOST:PORT", then serves until SIGTERM or SIGINT.

#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

#include "absl/synchronization/mutex.h"
#include "rollcall/v1/attendance.grpc.pb.h"

namespace {

class BaselineService final
    : public rollcall::v1::AttendanceReportService::WithRawCallbackMethod_GetAttendanceReport<
          rollcall::v1::AttendanceReportService::Service> {
 public:
  explicit BaselineService(const std::string& bytes) : reply_(bytes) {}

  grpc::ServerUnaryReactor* GetAttendanceReport(grpc::CallbackServerContext* context,
                                                const grpc::ByteBuffer* /*request*/,
                                                grpc::ByteBuffer* response) override {
    grpc::ByteBuffer reply(&reply_, 1);
    response->Swap(&reply);
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  const grpc::Slice reply_;
};

}  // namespace

int main(int argc, char** argv) {
  // As in rollcall_server: no lock-order checking on every absl::Mutex (Debian's Abseil has it
  // on), so both servers run the gRPC stack configured alike.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  std::string listen = "127.0.0.1:0";
  std::string response_path;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--listen") listen = argv[i + 1];
    if (flag == "--response") response_path = argv[i + 1];
  }
  std::ifstream in(response_path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "usage: bench_baseline_server --listen HOST:PORT --response FILE\n");
    return 2;
  }
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());

  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  BaselineService service(bytes);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "cannot listen on %s\n", listen.c_str());
    return 1;
  }
  std::printf("baseline listening on %s:%d\n", listen.substr(0, listen.rfind(':')).c_str(), port);
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stop, &sig);
  server->Shutdown();
  return 0;
}
