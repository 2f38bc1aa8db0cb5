// The physical limit for this gRPC stack on this machine: a server that answers
// rollcall.v1.AttendanceReportService/GetAttendanceReport with one fixed, pre-serialized
// response, and does nothing else (no parsing, no validation, no cache lookup). Rollcall's cache
// hits are measured against it.
//
//   bench_baseline_server --listen 127.0.0.1:0 --response FILE [--count_file PATH]
// FILE holds the serialized GetAttendanceReportResponse to send. Prints
// "baseline listening on HOST:PORT", then serves until SIGTERM or SIGINT.
//
// It only ever answers OK, and counts the replies it sent: on SIGUSR1 it writes that count, in
// decimal, to the --count_file PATH (to PATH.tmp first, then renamed, so a reader never sees a
// partial file). The benchmark removes the file, signals, and waits for it, before and after
// each load run: the load tool (h2load) cannot read gRPC status trailers, so the count is how
// it checks that every request it completed was answered by this method.

#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <atomic>
#include <cstdint>
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
    replies_.fetch_add(1, std::memory_order_relaxed);
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  uint64_t replies() const { return replies_.load(std::memory_order_relaxed); }

 private:
  const grpc::Slice reply_;
  std::atomic<uint64_t> replies_{0};
};

}  // namespace

int main(int argc, char** argv) {
  // As in rollcall_server: no lock-order checking on every absl::Mutex (Debian's Abseil has it
  // on), so both servers run the gRPC stack configured alike.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  std::string listen = "127.0.0.1:0";
  std::string response_path;
  std::string count_path;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--listen") listen = argv[i + 1];
    if (flag == "--response") response_path = argv[i + 1];
    if (flag == "--count_file") count_path = argv[i + 1];
  }
  std::ifstream in(response_path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr,
                 "usage: bench_baseline_server --listen HOST:PORT --response FILE "
                 "[--count_file PATH]\n");
    return 2;
  }
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());

  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGUSR1);
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
  while (sigwait(&stop, &sig) == 0 && sig == SIGUSR1) {
    if (count_path.empty()) continue;
    const std::string tmp = count_path + ".tmp";
    if (FILE* f = std::fopen(tmp.c_str(), "w")) {
      std::fprintf(f, "%llu\n", static_cast<unsigned long long>(service.replies()));
      std::fclose(f);
      std::rename(tmp.c_str(), count_path.c_str());
    }
  }
  server->Shutdown();
  return 0;
}
