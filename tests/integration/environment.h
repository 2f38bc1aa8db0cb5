#pragma once
// What every integration test starts: the Graph emulator over HTTPS with a test CA made for the
// run, and rollcall_server processes pointed at it. Tests reach the emulator's control endpoints
// (counters, request log, dataset, issued tokens) over the same verified HTTPS.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "graph_client/http_transport.h"
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

class FakeGraph {
 public:
  static absl::StatusOr<std::unique_ptr<FakeGraph>> Start(
      const std::vector<std::string>& extra_args = {});

  const std::string& url() const { return url_; }  // https://127.0.0.1:PORT
  const std::string& ca_path() const { return ca_path_; }

  // Control endpoints.
  absl::StatusOr<rapidjson::Document> GetJson(const std::string& path);
  absl::Status PostJson(const std::string& path, const std::string& body);
  // One counter of GET /_emulator/counters (0 when absent).
  int Counter(const std::string& name);
  absl::Status Reset() { return PostJson("/_emulator/reset", "{}"); }
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
  static absl::StatusOr<std::unique_ptr<RollcallProcess>> Start(
      const FakeGraph& graph, const std::map<std::string, std::string>& env = {});

  const std::string& address() const { return address_; }
  rollcall::v1::AttendanceReportService::Stub& stub() { return *stub_; }
  std::string Stderr() const { return process_.Stderr(); }
  ChildProcess& process() { return process_; }

 private:
  RollcallProcess() = default;
  ChildProcess process_;
  std::string address_;
  std::unique_ptr<rollcall::v1::AttendanceReportService::Stub> stub_;
};

}  // namespace rollcall::testing
