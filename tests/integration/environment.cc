#include "tests/integration/environment.h"

#include "google/rpc/status.pb.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <stdlib.h>

#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <vector>

#include "absl/strings/match.h"

#include "absl/strings/str_cat.h"
#include "graph_client/graph_client.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace rollcall::testing {

rollcall::v1::GetAttendanceReportRequest ReportRequest(const std::string& user,
                                                       const std::string& meeting,
                                                       const std::string& report) {
  rollcall::v1::GetAttendanceReportRequest request;
  request.set_user_id(user);
  request.set_meeting_id(meeting);
  request.set_report_id(report);
  return request;
}

rollcall::v1::GetAttendanceReportRequest DocsReportRequest() {
  return ReportRequest(kDocsUser, kDocsMeeting, kDocsReport);
}

google::rpc::ErrorInfo ErrorInfoOf(const grpc::Status& status) {
  google::rpc::Status details;
  google::rpc::ErrorInfo info;
  if (details.ParseFromString(status.error_details())) {
    for (const auto& any : details.details()) {
      if (any.UnpackTo(&info)) break;
    }
  }
  return info;
}

std::string FaultSpec::Json() const {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> out(buffer);
  auto string_member = [&out](const char* name, const std::string& value) {
    if (value.empty()) return;
    out.Key(name);
    out.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
  };
  out.StartObject();
  string_member("action", action);
  string_member("kind", kind);
  string_member("path_contains", path_contains);
  if (seconds > 0) {
    out.Key("seconds");
    out.Double(seconds);
  } else {
    out.Key("count");
    out.Int(count);
  }
  if (status != 0) {
    out.Key("status");
    out.Int(status);
  }
  string_member("retry_after", retry_after);
  string_member("body", body);
  string_member("content_type", content_type);
  if (delay_ms != 0) {
    out.Key("delay_ms");
    out.Int(delay_ms);
  }
  if (size_bytes != 0) {
    out.Key("size_bytes");
    out.Int64(size_bytes);
  }
  if (truncate_bytes >= 0) {
    out.Key("truncate_bytes");
    out.Int(truncate_bytes);
  }
  out.EndObject();
  return buffer.GetString();
}

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

FakeGraph::~FakeGraph() {
  process_.Stop();
  if (!tls_dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(tls_dir_, ignored);
  }
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
  // With a length: RapidJSON reads through a MemoryStream, never past the buffer (its SSE2
  // scanning of NUL-terminated strings reads whole 16-byte blocks).
  doc.Parse(response->body.data(), response->body.size());
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

bool FakeGraph::WaitForActiveFaults(int count, absl::Duration timeout) {
  graph::HttpRequest request;
  request.method = "POST";
  request.url = url_ + "/_emulator/faults/wait";
  request.headers = {{"Content-Type", "application/json"}};
  request.body = absl::StrCat(R"({"active":)", count, R"(,"timeout_ms":)",
                              absl::ToInt64Milliseconds(timeout), "}");
  request.deadline = absl::Now() + timeout + absl::Seconds(30);
  auto response = http_->Send(request);
  if (!response.ok() || response->status != 200) return false;
  rapidjson::Document doc;
  doc.Parse(response->body.data(), response->body.size());
  return !doc.HasParseError() && doc.IsObject() && doc.HasMember("reached") &&
         doc["reached"].IsBool() && doc["reached"].GetBool();
}

absl::Status FakeGraph::Delete(const std::string& path) {
  // graph::HttpTransport speaks GET and POST only (all Graph needs); DELETE goes through
  // libcurl directly, with the same CA.
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return absl::InternalError("curl_easy_init failed");
  const std::string url = url_ + path;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "DELETE");
  curl_easy_setopt(curl, CURLOPT_CAINFO, ca_path_.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 30000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION,
                   +[](char*, size_t size, size_t n, void*) -> size_t { return size * n; });
  const CURLcode code = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(curl);
  if (code != CURLE_OK) {
    return absl::UnavailableError(absl::StrCat("DELETE ", path, ": ", curl_easy_strerror(code)));
  }
  if (status / 100 != 2) {
    return absl::InternalError(absl::StrCat("DELETE ", path, " -> ", status));
  }
  return absl::OkStatus();
}

int FakeGraph::ActiveFaults() {
  auto doc = GetJson("/_emulator/faults");
  if (!doc.ok() || !doc->IsArray()) return -1;
  return static_cast<int>(doc->Size());
}

int FakeGraph::Counter(const std::string& name) {
  auto doc = GetJson("/_emulator/counters");
  if (!doc.ok() || !doc->IsObject() || !doc->HasMember(name.c_str())) return 0;
  return (*doc)[name.c_str()].GetInt();
}

absl::Status FakeGraph::AddReport(const std::string& user, const std::string& meeting,
                                  const std::string& report_id, const std::string& report_json) {
  rapidjson::Document report;
  report.Parse(report_json.data(), report_json.size());
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
      {"ROLLCALL_GRAPH_BASE_URL", graph.url()},
      {"ROLLCALL_CA_BUNDLE", graph.ca_path()},
      {"ROLLCALL_LISTEN", "127.0.0.1:0"},
  };
  // The tests' clients speak plaintext, on loopback; a test that serves TLS sets the TLS files
  // (and then plaintext, which may not go with them, is not set).
  full_env["ROLLCALL_PLAINTEXT"] = env.count("ROLLCALL_TLS_CERT_FILE") == 0 ? "true" : "";
  for (const auto& [k, v] : env) full_env[k] = v;
  std::unique_ptr<RollcallProcess> server(new RollcallProcess());
  auto process = ChildProcess::Start({ROLLCALL_SERVER_BINARY}, full_env);
  if (!process.ok()) return process.status();
  server->process_ = *std::move(process);
  auto address = ReadAnnouncedAddress(server->process_, "rollcall listening on ");
  if (!address.ok()) return address.status();
  server->address_ = *address;
  server->stub_ = server->NewStub();
  return server;
}

std::unique_ptr<rollcall::v1::AttendanceReportService::Stub> RollcallProcess::NewStub() const {
  // A channel argument no other channel has, so that gRPC does not share a subchannel (and
  // with it a connection) between channels.
  grpc::ChannelArguments args;
  static std::atomic<int> channel_number{0};
  args.SetInt("rollcall.test_channel", channel_number.fetch_add(1));
  return rollcall::v1::AttendanceReportService::NewStub(
      grpc::CreateCustomChannel(address_, grpc::InsecureChannelCredentials(), args));
}

grpc::Status RollcallProcess::CheckHealth(const std::string& service, absl::Duration timeout,
                                          bool* serving) const {
  // grpc.health.v1.HealthCheckRequest {string service = 1;} and HealthCheckResponse
  // {ServingStatus status = 1;} (SERVING = 1), encoded by hand: the health proto is not
  // compiled into the tests.
  std::string request;
  if (!service.empty()) {
    request.push_back(0x0a);
    request.push_back(static_cast<char>(service.size()));  // service names are < 128 bytes
    request += service;
  }
  grpc::ChannelArguments args;
  static std::atomic<int> channel_number{0};
  args.SetInt("rollcall.test_health_channel", channel_number.fetch_add(1));
  auto channel = grpc::CreateCustomChannel(address_, grpc::InsecureChannelCredentials(), args);
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  grpc::Slice slice(request);
  grpc::ByteBuffer request_buffer(&slice, 1);
  grpc::ByteBuffer response_buffer;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request_buffer,
                 &response_buffer, [&done](grpc::Status status) { done.set_value(status); });
  grpc::Status status = done.get_future().get();
  *serving = false;
  if (status.ok()) {
    std::vector<grpc::Slice> slices;
    std::string bytes;
    if (response_buffer.Dump(&slices).ok()) {
      for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
    *serving = bytes == std::string("\x08\x01", 2);
  }
  return status;
}

namespace {

// A "Name: N kB" line of /proc/<pid>/status, in bytes; -1 if unknown.
int64_t StatusBytes(int pid, const char* format) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    int64_t kib = 0;
    if (std::sscanf(line.c_str(), format, &kib) == 1) return kib * 1024;
  }
  return -1;
}

}  // namespace

int64_t RollcallProcess::ResidentBytes() const {
  return StatusBytes(process_.pid(), "VmRSS: %" SCNd64 " kB");
}

int64_t RollcallProcess::PeakResidentBytes() const {
  return StatusBytes(process_.pid(), "VmHWM: %" SCNd64 " kB");
}

bool RollcallProcess::ResetPeakResidentBytes() const {
  std::ofstream clear_refs(absl::StrCat("/proc/", process_.pid(), "/clear_refs"));
  clear_refs << "5";
  clear_refs.flush();
  return clear_refs.good();
}

absl::StatusOr<std::string> RollcallProcess::ReadMetricsAddress() {
  constexpr absl::string_view kPrefix = "rollcall metrics on ";
  auto line = process_.ReadLine(absl::Seconds(10));
  if (!line.ok()) return line.status();
  if (!absl::StartsWith(*line, kPrefix)) {
    return absl::InternalError(absl::StrCat("unexpected stdout line: ", *line));
  }
  return line->substr(kPrefix.size());
}

// --- RedisProcess ---------------------------------------------------------------------------

namespace {

int FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RedisProcess>> RedisProcess::Start(int port,
                                                                   const std::string& password) {
  if (port == 0) port = FreeLoopbackPort();
  if (port == 0) return absl::UnavailableError("no free loopback port");
  std::unique_ptr<RedisProcess> redis(new RedisProcess());
  redis->port_ = port;
  redis->password_ = password;
  std::vector<std::string> argv = {
      "redis-server", "--port", absl::StrCat(port), "--bind", "127.0.0.1", "--save", "",
      "--appendonly", "no", "--protected-mode", "no", "--loglevel", "warning", "--logfile",
      "/dev/null", "--daemonize", "no"};
  if (!password.empty()) argv.insert(argv.end(), {"--requirepass", password});
  auto process = ChildProcess::Start(argv);
  if (!process.ok()) return process.status();
  redis->process_ = *std::move(process);
  for (int attempt = 0; attempt < 200; ++attempt) {
    auto pong = redis->Command({"PING"});
    if (pong.ok() && *pong == "PONG") return redis;
    usleep(50 * 1000);
  }
  return absl::UnavailableError(absl::StrCat("redis-server did not answer on port ", port));
}

std::string RedisProcess::url() const { return absl::StrCat("redis://127.0.0.1:", port_); }

void RedisProcess::Kill() {
  if (process_.pid() > 0) kill(process_.pid(), SIGKILL);
  process_.Stop(absl::Seconds(5));
}

absl::StatusOr<std::string> RedisProcess::Command(const std::vector<std::string>& args) const {
  const timeval tv{2, 0};
  redisContext* context = redisConnectWithTimeout("127.0.0.1", port_, tv);
  if (context == nullptr || context->err != 0) {
    if (context != nullptr) redisFree(context);
    return absl::UnavailableError("cannot connect to redis-server");
  }
  redisSetTimeout(context, tv);
  if (!password_.empty()) {
    auto* auth = static_cast<redisReply*>(redisCommand(context, "AUTH %b", password_.data(),
                                                       password_.size()));
    if (auth != nullptr) freeReplyObject(auth);
  }
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  for (const std::string& arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  auto* reply = static_cast<redisReply*>(
      redisCommandArgv(context, static_cast<int>(argv.size()), argv.data(), lengths.data()));
  if (reply == nullptr) {
    redisFree(context);
    return absl::UnavailableError("redis-server did not answer");
  }
  std::string out;
  switch (reply->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
      out.assign(reply->str, reply->len);
      break;
    case REDIS_REPLY_ERROR:
      out = absl::StrCat("(error) ", std::string(reply->str, reply->len));
      break;
    case REDIS_REPLY_INTEGER:
      out = absl::StrCat(reply->integer);
      break;
    case REDIS_REPLY_NIL:
      out = "(nil)";
      break;
    default:
      out = "(array)";
  }
  freeReplyObject(reply);
  redisFree(context);
  return out;
}

}  // namespace rollcall::testing
