#pragma once
// What every integration test starts: the Graph emulator over HTTPS with a test CA made for the
// run, and rollcall_server processes pointed at it. Tests reach the emulator's control endpoints
// (counters, request log, dataset, issued tokens) over the same verified HTTPS.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "graph_client/http_transport.h"
#include "google/rpc/error_details.pb.h"
#include "grpcpp/grpcpp.h"
#include "rapidjson/document.h"
#include "rollcall/v1/attendance.grpc.pb.h"
#include "tests/testing/child_process.h"

namespace rollcall::testing {

// The docs' example report, in the emulator's default dataset.
inline constexpr char kDocsUser[] = "16664f75-11dc-4870-bec6-38c1aaa81431";
inline constexpr char kDocsMeeting[] = "MSpkYzE3Njc0Yy04MWQ5LTRhZGItYmZ";
inline constexpr char kDocsReport[] = "c9b6db1c-d5eb-427d-a5c0-20088d9b22d7";
// The app registration the emulator accepts by default.
inline constexpr char kTenant[] = "contoso-tenant";
inline constexpr char kClientId[] = "rollcall-demo-client";
inline constexpr char kClientSecret[] = "rollcall-demo-secret";

// One fault for POST /_emulator/faults (tests/fake_graph/README.md, "Fault injection"); fields
// left at their zero value are not sent, so the emulator's defaults apply.
struct FaultSpec {
  std::string action = "status";  // status, delay, reset, truncate, oversize, html
  std::string kind = "report";    // any, token, graph, report, records, reports_list
  std::string path_contains;
  int count = 1;                  // ignored when seconds > 0
  double seconds = 0;             // applies to every matching request for this long
  int status = 0;
  std::string retry_after;
  std::string body;               // sent verbatim (status and html actions)
  std::string content_type;
  int delay_ms = 0;
  int64_t size_bytes = 0;         // oversize
  int truncate_bytes = -1;        // truncate; -1: half the body

  std::string Json() const;
};

// A GetAttendanceReportRequest for the report `report` of `meeting` organized by `user`.
rollcall::v1::GetAttendanceReportRequest ReportRequest(const std::string& user,
                                                       const std::string& meeting,
                                                       const std::string& report);
// The docs' example report (kDocsUser, kDocsMeeting, kDocsReport).
rollcall::v1::GetAttendanceReportRequest DocsReportRequest();

// The google.rpc.ErrorInfo of a reply's details (empty when it has none).
google::rpc::ErrorInfo ErrorInfoOf(const grpc::Status& status);

class FakeGraph {
 public:
  static absl::StatusOr<std::unique_ptr<FakeGraph>> Start(
      const std::vector<std::string>& extra_args = {});
  // Stops the emulator and removes its TLS folder.
  ~FakeGraph();

  const std::string& url() const { return url_; }  // https://127.0.0.1:PORT
  const std::string& ca_path() const { return ca_path_; }

  // Control endpoints.
  absl::StatusOr<rapidjson::Document> GetJson(const std::string& path);
  absl::Status PostJson(const std::string& path, const std::string& body);
  absl::Status Delete(const std::string& path);
  // One counter of GET /_emulator/counters (0 when absent).
  int Counter(const std::string& name);
  absl::Status Reset() { return PostJson("/_emulator/reset", "{}"); }
  // Fault injection (tests/fake_graph/README.md, "Fault injection"): `faults_json` is one
  // fault object or a list of them.
  absl::Status AddFaults(const std::string& faults_json) {
    return PostJson("/_emulator/faults", faults_json);
  }
  absl::Status AddFault(const FaultSpec& fault) { return AddFaults(fault.Json()); }
  absl::Status ClearFaults() { return Delete("/_emulator/faults"); }
  // How many registered faults are still active (count left or time not up).
  int ActiveFaults();
  // Blocks in the emulator (POST /_emulator/faults/wait) until exactly `count` faults are
  // active, e.g. 0 once the request that takes the last one has reached the emulator: a signal
  // from the emulator, not polling. False when `timeout` passes first (only a failing test
  // waits that long).
  bool WaitForActiveFaults(int count, absl::Duration timeout = absl::Seconds(20));
  // The request log, oldest first; each entry has method, raw_path, path_segments, query, kind,
  // status (null when reset) and fault (its action, or null).
  absl::StatusOr<rapidjson::Document> Requests() { return GetJson("/_emulator/requests"); }
  // Adds reports to the live dataset: {user: {meeting: {report_id: report_json}}}.
  absl::Status AddReport(const std::string& user, const std::string& meeting,
                         const std::string& report_id, const std::string& report_json);

 private:
  FakeGraph() = default;
  ChildProcess process_;
  std::string url_;
  std::string tls_dir_;
  std::string ca_path_;
  std::shared_ptr<graph::HttpTransport> http_;
};

class RollcallProcess {
 public:
  // Starts rollcall_server against `graph` with the default credentials, `env` overriding.
  // It serves plaintext (ROLLCALL_PLAINTEXT=true) unless `env` sets ROLLCALL_TLS_CERT_FILE;
  // stub(), NewStub() and CheckHealth() speak plaintext.
  static absl::StatusOr<std::unique_ptr<RollcallProcess>> Start(
      const FakeGraph& graph, const std::map<std::string, std::string>& env = {});

  const std::string& address() const { return address_; }
  rollcall::v1::AttendanceReportService::Stub& stub() { return *stub_; }
  std::string Stderr() const { return process_.Stderr(); }
  ChildProcess& process() { return process_; }
  // A new stub on a new channel (a new connection), e.g. to call after the server began to
  // shut down, or from another thread without sharing a connection.
  std::unique_ptr<rollcall::v1::AttendanceReportService::Stub> NewStub() const;

  // grpc.health.v1.Health/Check for `service` ("" is the server as a whole) on a new channel.
  // On an OK status, *serving is true when the answer was SERVING.
  grpc::Status CheckHealth(const std::string& service, absl::Duration timeout, bool* serving) const;

  // The server's resident set size (VmRSS of /proc/<pid>/status), in bytes; -1 if unknown.
  int64_t ResidentBytes() const;
  // Its peak since it started or since the last ResetPeakResidentBytes (VmHWM), in bytes.
  int64_t PeakResidentBytes() const;
  // Starts the peak over from the present size (writes 5 to /proc/<pid>/clear_refs).
  bool ResetPeakResidentBytes() const;

  // The second stdout line the server prints when --metrics_listen is set
  // ("rollcall metrics on HOST:PORT"): HOST:PORT.
  absl::StatusOr<std::string> ReadMetricsAddress();

 private:
  RollcallProcess() = default;
  ChildProcess process_;
  std::string address_;
  std::unique_ptr<rollcall::v1::AttendanceReportService::Stub> stub_;
};

// A redis-server of the test's own, on 127.0.0.1 (tests/integration/redis_test.cc): no
// persistence, logs to /dev/null. Killed (SIGKILL) when the object goes.
class RedisProcess {
 public:
  // On `port`, or on a free port the OS picked (bound then released) when 0. Returns once it
  // answers PING.
  // With `password`, Redis requires it (requirepass) and Command() sends AUTH.
  static absl::StatusOr<std::unique_ptr<RedisProcess>> Start(int port = 0,
                                                             const std::string& password = "");
  ~RedisProcess() { Kill(); }

  int port() const { return port_; }
  std::string url() const;  // redis://127.0.0.1:PORT
  // SIGKILL, as a crash: no shutdown, connections reset.
  void Kill();
  // One command (binary-safe); the reply as text: a bulk or status reply's bytes, "(nil)", an
  // integer in decimal, "(error) ..." for an error reply. UNAVAILABLE when Redis does not
  // answer.
  absl::StatusOr<std::string> Command(const std::vector<std::string>& args) const;

 private:
  RedisProcess() = default;
  ChildProcess process_;
  int port_ = 0;
  std::string password_;
};

}  // namespace rollcall::testing
