#include "tests/integration/environment.h"

#include <grpcpp/grpcpp.h>
#include <stdlib.h>

#include "absl/strings/str_cat.h"
#include "graph_client/graph_client.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace rollcall::testing {

absl::StatusOr<std::unique_ptr<FakeGraph>> FakeGraph::Start(
    const std::vector<std::string>& extra_args) {
  std::unique_ptr<FakeGraph> graph(new FakeGraph());
  char dir_template[] = "/tmp/rollcall-fake-graph-XXXXXX";
  if (mkdtemp(dir_template) == nullptr) return absl::InternalError("mkdtemp failed");
  graph->tls_dir_ = dir_template;
  graph->ca_path_ = graph->tls_dir_ + "/ca.pem";
  std::vector<std::string> argv = {ROLLCALL_PYTHON, ROLLCALL_FAKE_GRAPH_SCRIPT, "--listen",
                                   "127.0.0.1:0", "--tls-dir", graph->tls_dir_};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  auto process = ChildProcess::Start(argv);
  if (!process.ok()) return process.status();
  graph->process_ = *std::move(process);
  auto url = ReadAnnouncedAddress(graph->process_, "fake_graph listening on ");
  if (!url.ok()) return url.status();
  graph->url_ = *url;
  graph::CurlTransportOptions options;
  options.ca_bundle_path = graph->ca_path_;
  graph->http_ = graph::MakeCurlTransport(options);
  return graph;
}

absl::StatusOr<rapidjson::Document> FakeGraph::GetJson(const std::string& path) {
  graph::HttpRequest request;
  request.url = url_ + path;
  auto response = http_->Send(request);
  if (!response.ok()) return response.status();
  if (response->status != 200) {
    return absl::InternalError(absl::StrCat("GET ", path, " -> ", response->status));
  }
  rapidjson::Document doc;
  doc.Parse(response->body.c_str());
  if (doc.HasParseError()) return absl::InternalError("control endpoint sent bad JSON");
  return doc;
}

absl::Status FakeGraph::PostJson(const std::string& path, const std::string& body) {
  graph::HttpRequest request;
  request.method = "POST";
  request.url = url_ + path;
  request.headers = {{"Content-Type", "application/json"}};
  request.body = body;
  auto response = http_->Send(request);
  if (!response.ok()) return response.status();
  if (response->status / 100 != 2) {
    return absl::InternalError(absl::StrCat("POST ", path, " -> ", response->status, " ",
                                            response->body));
  }
  return absl::OkStatus();
}

int FakeGraph::Counter(const std::string& name) {
  auto doc = GetJson("/_emulator/counters");
  if (!doc.ok() || !doc->IsObject() || !doc->HasMember(name.c_str())) return 0;
  return (*doc)[name.c_str()].GetInt();
}

absl::Status FakeGraph::AddReport(const std::string& user, const std::string& meeting,
                                  const std::string& report_id, const std::string& report_json) {
  rapidjson::Document report;
  report.Parse(report_json.c_str());
  if (report.HasParseError()) return absl::InvalidArgumentError("bad report JSON");
  rapidjson::Document doc(rapidjson::kObjectType);
  auto& a = doc.GetAllocator();
  auto key = [&a](const std::string& s) { return rapidjson::Value(s.c_str(), s.size(), a); };
  rapidjson::Value reports(rapidjson::kObjectType);
  reports.AddMember(key(report_id), rapidjson::Value(report, a), a);
  rapidjson::Value meeting_obj(rapidjson::kObjectType);
  meeting_obj.AddMember("attendanceReports", reports, a);
  rapidjson::Value meetings(rapidjson::kObjectType);
  meetings.AddMember(key(meeting), meeting_obj, a);
  rapidjson::Value user_obj(rapidjson::kObjectType);
  user_obj.AddMember("onlineMeetings", meetings, a);
  rapidjson::Value users(rapidjson::kObjectType);
  users.AddMember(key(user), user_obj, a);
  doc.AddMember("users", users, a);
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  doc.Accept(writer);
  return PostJson("/_emulator/dataset", buffer.GetString());
}

absl::StatusOr<std::unique_ptr<RollcallProcess>> RollcallProcess::Start(
    const FakeGraph& graph, const std::map<std::string, std::string>& env) {
  std::map<std::string, std::string> full_env = {
      {"AZURE_TENANT_ID", kTenant},
      {"AZURE_CLIENT_ID", kClientId},
      {"AZURE_CLIENT_SECRET", kClientSecret},
      {"AZURE_AUTHORITY_HOST", graph.url() + "/"},
      {"ROLLCALL_GRAPH_BASE_URL", graph.url() + "/v1.0"},
      {"ROLLCALL_CA_BUNDLE", graph.ca_path()},
      {"ROLLCALL_LISTEN", "127.0.0.1:0"},
  };
  for (const auto& [k, v] : env) full_env[k] = v;
  std::unique_ptr<RollcallProcess> server(new RollcallProcess());
  auto process = ChildProcess::Start({ROLLCALL_SERVER_BINARY}, full_env);
  if (!process.ok()) return process.status();
  server->process_ = *std::move(process);
  auto address = ReadAnnouncedAddress(server->process_, "rollcall listening on ");
  if (!address.ok()) return address.status();
  server->address_ = *address;
  server->stub_ = rollcall::v1::AttendanceReportService::NewStub(
      grpc::CreateChannel(server->address_, grpc::InsecureChannelCredentials()));
  return server;
}

}  // namespace rollcall::testing
