// Every outbound credential end to end (issue 11): rollcall_server authenticating to the
// emulator's token endpoint with a certificate assertion (PS256 and RS256, an encrypted key), a
// Kubernetes federated token (workload identity) read afresh for each token request, and a
// client secret from a file rotated while serving; each refusal (an unknown certificate, a bad
// signature, an expired assertion, a wrong audience) named by its AADSTS code; and a token
// endpoint that echoes the secret leaves no trace of it in statuses, details or logs.
//
// Keys, certificates and federated tokens are made at test time with the openssl command.

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"
#include "tests/integration/environment.h"

namespace rollcall::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using rollcall::v1::GetAttendanceReportRequest;
using rollcall::v1::GetAttendanceReportResponse;

constexpr char kIssuer[] = "https://kubernetes.default.svc.cluster.local";
constexpr char kSubject[] = "system:serviceaccount:attendance:rollcall";
constexpr char kAudience[] = "api://AzureADTokenExchange";

// A folder of its own for each test's keys, removed after.
class Folder {
 public:
  Folder() {
    char path[] = "/tmp/rollcall-credentials-XXXXXX";
    EXPECT_NE(mkdtemp(path), nullptr);
    path_ = path;
  }
  ~Folder() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void Shell(const std::string& command) {
  ASSERT_EQ(std::system((command + " >/dev/null 2>&1").c_str()), 0) << command;
}

std::string Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void Write(const std::string& path, const std::string& text) {
  // Written beside and renamed over, as Kubernetes swaps a mounted Secret's files.
  const std::string temporary = path + ".new";
  std::ofstream(temporary, std::ios::binary) << text;
  ASSERT_EQ(std::rename(temporary.c_str(), path.c_str()), 0);
}

// A self-signed certificate and its key: `name`.crt, `name`.key, and `name`.pem holding both.
void MakeCertificate(const Folder& folder, const std::string& name) {
  Shell(absl::StrCat("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=", name,
                   " -keyout ", folder / (name + ".key"), " -out ", folder / (name + ".crt")));
  std::ofstream(folder / (name + ".pem"))
      << Read(folder / (name + ".crt")) << Read(folder / (name + ".key"));
}

// A JWT as a Kubernetes API server issues a projected service account token, signed RS256 with
// `key`, valid from `now + from` to `now + until`.
std::string FederatedToken(const Folder& folder, const std::string& key, const std::string& aud,
                           absl::Duration from = absl::Minutes(-1),
                           absl::Duration until = absl::Hours(1),
                           const std::string& sub = kSubject) {
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  const std::string header = absl::WebSafeBase64Escape(R"({"alg":"RS256","typ":"JWT"})");
  const std::string claims = absl::WebSafeBase64Escape(absl::StrCat(
      R"({"iss":")", kIssuer, R"(","sub":")", sub, R"(","aud":[")", aud, R"("],"nbf":)",
      now + absl::ToInt64Seconds(from), R"(,"iat":)", now + absl::ToInt64Seconds(from),
      R"(,"exp":)", now + absl::ToInt64Seconds(until), "}"));
  const std::string input = header + "." + claims;
  std::ofstream(folder / "jwt.input", std::ios::binary) << input;
  Shell(absl::StrCat("openssl dgst -sha256 -sign ", key, " -out ", folder / "jwt.sig", " ",
                   folder / "jwt.input"));
  return input + "." + absl::WebSafeBase64Escape(Read(folder / "jwt.sig"));
}

std::unique_ptr<grpc::ClientContext> Context() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  return context;
}

grpc::Status GetDocsReport(RollcallProcess& server) {
  GetAttendanceReportResponse response;
  grpc::Status status =
      server.stub().GetAttendanceReport(Context().get(), DocsReportRequest(), &response);
  if (status.ok()) EXPECT_EQ(response.report().id(), kDocsReport);
  return status;
}

std::unique_ptr<RollcallProcess> StartServer(const FakeGraph& graph,
                                             std::map<std::string, std::string> env) {
  // No client secret unless the test gives one: the credential under test is the only one.
  env.emplace("AZURE_CLIENT_SECRET", "");
  auto server = RollcallProcess::Start(graph, env);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

// The JSON header of the last assertion the emulator received.
std::string LastAssertionHeader(FakeGraph& graph) {
  auto assertions = graph.GetJson("/_emulator/assertions");
  EXPECT_TRUE(assertions.ok());
  if (!assertions.ok() || assertions->GetArray().Empty()) return "";
  const std::string jwt = (*assertions)[assertions->GetArray().Size() - 1].GetString();
  std::string header;
  absl::WebSafeBase64Unescape(jwt.substr(0, jwt.find('.')), &header);
  return header;
}

// A refused credential: FAILED_PRECONDITION CREDENTIALS_REJECTED naming the AADSTS code.
void ExpectRejected(const grpc::Status& status, const std::string& aadsts) {
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("AADSTS" + aadsts));
  const google::rpc::ErrorInfo info = ErrorInfoOf(status);
  EXPECT_EQ(info.reason(), "CREDENTIALS_REJECTED");
  EXPECT_EQ(info.metadata().at("aadsts_code"), "AADSTS" + aadsts);
}

TEST(CredentialsTest, CertificateAssertionsSignedPs256OrRs256FetchAReport) {
  Folder folder;
  MakeCertificate(folder, "rollcall-app");
  auto graph = FakeGraph::Start({"--client-certificate", folder / "rollcall-app.crt"});
  ASSERT_TRUE(graph.ok()) << graph.status();
  for (const std::string algorithm : {"ps256", "rs256"}) {
    SCOPED_TRACE(algorithm);
    auto server =
        StartServer(**graph, {{"AZURE_CLIENT_CERTIFICATE_PATH", folder / "rollcall-app.pem"},
                              {"ROLLCALL_CLIENT_ASSERTION_ALGORITHM", algorithm}});
    ASSERT_NE(server, nullptr);
    const grpc::Status status = GetDocsReport(*server);
    ASSERT_TRUE(status.ok()) << status.error_message() << server->Stderr();
    const std::string header = LastAssertionHeader(**graph);
    EXPECT_THAT(header, HasSubstr(algorithm == "ps256" ? R"("alg":"PS256")" : R"("alg":"RS256")"));
    EXPECT_THAT(header, HasSubstr(algorithm == "ps256" ? R"("x5t#S256")" : R"("x5t")"));
  }
}

TEST(CredentialsTest, AnEncryptedKeyIsOpenedWithItsPassphraseWhichNeverShows) {
  Folder folder;
  MakeCertificate(folder, "rollcall-app");
  constexpr char kPassphrase[] = "correct-horse-battery-staple";
  Shell(absl::StrCat("openssl pkey -in ", folder / "rollcall-app.key", " -aes256 -passout pass:",
                   kPassphrase, " -out ", folder / "encrypted.key"));
  std::ofstream(folder / "encrypted.pem")
      << Read(folder / "rollcall-app.crt") << Read(folder / "encrypted.key");
  auto graph = FakeGraph::Start({"--client-certificate", folder / "rollcall-app.crt"});
  ASSERT_TRUE(graph.ok()) << graph.status();
  auto server = StartServer(**graph, {{"AZURE_CLIENT_CERTIFICATE_PATH", folder / "encrypted.pem"},
                                      {"AZURE_CLIENT_CERTIFICATE_PASSWORD", kPassphrase}});
  ASSERT_NE(server, nullptr);
  const grpc::Status status = GetDocsReport(*server);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(server->Stderr(), Not(HasSubstr(kPassphrase)));
}

TEST(CredentialsTest, ACertificateTheAppDoesNotKnowIsRefusedAsAadsts700027) {
  Folder folder;
  MakeCertificate(folder, "registered");
  MakeCertificate(folder, "stranger");
  auto graph = FakeGraph::Start({"--client-certificate", folder / "registered.crt"});
  ASSERT_TRUE(graph.ok()) << graph.status();
  auto server = StartServer(**graph, {{"AZURE_CLIENT_CERTIFICATE_PATH", folder / "stranger.pem"}});
  ASSERT_NE(server, nullptr);
  const grpc::Status status = GetDocsReport(*server);
  ExpectRejected(status, "700027");
  EXPECT_THAT(status.error_message(), HasSubstr("certificate"));
}

class FederatedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MakeCertificate(folder_, "kubernetes");
    MakeCertificate(folder_, "another-cluster");
    auto graph = FakeGraph::Start({"--federated-issuer", kIssuer, "--federated-subject", kSubject,
                                   "--federated-key", folder_ / "kubernetes.crt"});
    ASSERT_TRUE(graph.ok()) << graph.status();
    graph_ = *std::move(graph);
    token_file_ = folder_ / "azure-identity-token";
  }

  std::unique_ptr<RollcallProcess> Server() {
    return StartServer(*graph_, {{"AZURE_FEDERATED_TOKEN_FILE", token_file_}});
  }

  // With `token` projected, a call is refused as AADSTS`aadsts`, the message saying `hint`.
  void ExpectRefused(const std::string& token, const std::string& aadsts,
                     const std::string& hint) {
    Write(token_file_, token);
    auto server = Server();
    ASSERT_NE(server, nullptr);
    const grpc::Status status = GetDocsReport(*server);
    ExpectRejected(status, aadsts);
    EXPECT_THAT(status.error_message(), HasSubstr(hint));
  }

  Folder folder_;
  std::unique_ptr<FakeGraph> graph_;
  std::string token_file_;
};

TEST_F(FederatedTest, TheProjectedTokenIsSentAndReadAfreshForEachTokenRequest) {
  const std::string first = FederatedToken(folder_, folder_ / "kubernetes.key", kAudience);
  Write(token_file_, first + "\n");
  auto server = Server();
  ASSERT_NE(server, nullptr);
  grpc::Status status = GetDocsReport(*server);
  ASSERT_TRUE(status.ok()) << status.error_message() << server->Stderr();
  auto assertions = graph_->GetJson("/_emulator/assertions");
  ASSERT_TRUE(assertions.ok());
  EXPECT_EQ(std::string((*assertions)[assertions->GetArray().Size() - 1].GetString()), first);

  // Kubernetes rotates the file; the next token request carries the new token.
  const std::string second = FederatedToken(folder_, folder_ / "kubernetes.key", kAudience,
                                            absl::Seconds(-30), absl::Hours(2));
  ASSERT_NE(second, first);
  Write(token_file_, second);
  ASSERT_TRUE(graph_->PostJson("/_emulator/expire-tokens", "{}").ok());
  GetAttendanceReportRequest basic = DocsReportRequest();
  basic.set_view(rollcall::v1::REPORT_VIEW_BASIC);  // not cached yet: Graph is called
  GetAttendanceReportResponse response;
  status = server->stub().GetAttendanceReport(Context().get(), basic, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  assertions = graph_->GetJson("/_emulator/assertions");
  ASSERT_TRUE(assertions.ok());
  EXPECT_EQ(std::string((*assertions)[assertions->GetArray().Size() - 1].GetString()), second);
}

TEST_F(FederatedTest, ABadSignatureIsAadsts700027) {
  ExpectRefused(FederatedToken(folder_, folder_ / "another-cluster.key", kAudience), "700027",
                "federated");
}

TEST_F(FederatedTest, AnExpiredAssertionIsAadsts500133) {
  ExpectRefused(FederatedToken(folder_, folder_ / "kubernetes.key", kAudience, absl::Hours(-2),
                               absl::Hours(-1)),
                "500133", "clock");
}

TEST_F(FederatedTest, AWrongAudienceIsAadsts70021) {
  ExpectRefused(FederatedToken(folder_, folder_ / "kubernetes.key", "api://not-entra"), "70021",
                "federated");
}

TEST(CredentialsTest, ASecretFileRotatedWhileServingFailsNoCall) {
  Folder folder;
  const std::string secret_file = folder / "client-secret";
  Write(secret_file, std::string(kClientSecret) + "\n");
  auto graph = FakeGraph::Start();
  ASSERT_TRUE(graph.ok()) << graph.status();
  // Nothing cached, so that every call needs Graph, and with it a token.
  auto server = StartServer(**graph, {{"ROLLCALL_CLIENT_SECRET_FILE", secret_file},
                                      {"ROLLCALL_CACHE_MAX_BYTES", "0"}});
  ASSERT_NE(server, nullptr);
  ASSERT_TRUE(GetDocsReport(*server).ok()) << server->Stderr();

  std::atomic<bool> stop{false};
  std::atomic<int> calls{0}, failures{0};
  std::string first_failure;
  std::thread caller([&] {
    auto stub = server->NewStub();
    while (!stop.load()) {
      GetAttendanceReportResponse response;
      const grpc::Status status =
          stub->GetAttendanceReport(Context().get(), DocsReportRequest(), &response);
      ++calls;
      if (!status.ok() && failures.fetch_add(1) == 0) first_failure = status.error_message();
    }
  });
  const auto calls_after = [&](int n) {
    const int target = calls.load() + n;
    while (calls.load() < target) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  };
  calls_after(5);
  // The rotation as an operator does it: the new secret added to the app, the file replaced,
  // the old secret removed; then the token Rollcall holds is made to expire.
  constexpr char kNewSecret[] = "rotated-client-secret-2026";
  ASSERT_TRUE((*graph)
                  ->PostJson("/_emulator/credentials",
                             absl::StrCat(R"({"secrets": [")", kClientSecret, R"(", ")",
                                          kNewSecret, R"("]})"))
                  .ok());
  calls_after(5);
  Write(secret_file, kNewSecret);
  calls_after(5);
  ASSERT_TRUE((*graph)
                  ->PostJson("/_emulator/credentials",
                             absl::StrCat(R"({"secrets": [")", kNewSecret, R"("]})"))
                  .ok());
  const int tokens_before = (*graph)->Counter("token");
  ASSERT_TRUE((*graph)->PostJson("/_emulator/expire-tokens", "{}").ok());
  calls_after(20);
  stop = true;
  caller.join();
  EXPECT_EQ(failures.load(), 0) << first_failure;
  EXPECT_GT((*graph)->Counter("token"), tokens_before) << "the new secret was never used";
  EXPECT_EQ((*graph)->Counter("token_error"), 0);
}

TEST(CredentialsTest, AnEndpointEchoingTheSecretLeavesNoTraceOfIt) {
  auto graph = FakeGraph::Start();
  ASSERT_TRUE(graph.ok()) << graph.status();
  const std::string secret = kClientSecret;
  const std::string encoded = "rollcall%2Ddemo%2Dsecret";  // as a form would carry it
  FaultSpec fault;
  fault.kind = "token";
  fault.status = 401;
  fault.count = 100;
  fault.content_type = "application/json";
  fault.body = absl::StrCat(
      R"({"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret )",
      R"(provided: ')", secret, "' (", encoded, R"().","error_codes":[7000215],)",
      R"("timestamp":"2026-12-01 12:00:00Z","trace_id":")", secret, R"(",)",
      R"("correlation_id":")", secret, R"(","error_uri":"https://login.example/error?)",
      secret, R"("})");
  ASSERT_TRUE((*graph)->AddFault(fault).ok());
  auto server = RollcallProcess::Start(**graph, {{"ROLLCALL_LOG_LEVEL", "debug"}});
  ASSERT_TRUE(server.ok()) << server.status();
  const grpc::Status status = GetDocsReport(**server);
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.error_message(), HasSubstr("AADSTS7000215"));
  for (const std::string& trace : {secret, encoded}) {
    EXPECT_THAT(status.error_message(), Not(HasSubstr(trace)));
    EXPECT_THAT(status.error_details(), Not(HasSubstr(trace)));
    google::rpc::Status details;
    ASSERT_TRUE(details.ParseFromString(status.error_details()));
    EXPECT_THAT(details.DebugString(), Not(HasSubstr(trace)));
  }
  (*server)->process().Stop();
  EXPECT_THAT((*server)->Stderr(), Not(HasSubstr(secret)));
  EXPECT_THAT((*server)->Stderr(), Not(HasSubstr(encoded)));
}

// Health says whether the credential holds a token: NOT_SERVING until the first one (here the
// token endpoint answers only after 1.5 s), SERVING then, and NOT_SERVING again once the
// credential is refused (the secret revoked) and its token has run out.
TEST(CredentialsTest, HealthFollowsTheCredential) {
  auto graph = FakeGraph::Start({"--token-lifetime", "3"});
  ASSERT_TRUE(graph.ok()) << graph.status();
  FaultSpec slow;
  slow.action = "delay";
  slow.kind = "token";
  slow.delay_ms = 1500;
  ASSERT_TRUE((*graph)->AddFault(slow).ok());
  auto server = RollcallProcess::Start(**graph);
  ASSERT_TRUE(server.ok()) << server.status();
  bool serving = true;
  ASSERT_TRUE((*server)->CheckHealth("", absl::Seconds(5), &serving).ok());
  EXPECT_FALSE(serving) << "SERVING before the first token";

  const auto await = [&](bool want) {
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    bool now = !want;
    while (absl::Now() < deadline) {
      EXPECT_TRUE((*server)->CheckHealth("", absl::Seconds(5), &now).ok());
      if (now == want) return true;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return false;
  };
  EXPECT_TRUE(await(true)) << "never SERVING after the first token";
  EXPECT_TRUE(GetDocsReport(**server).ok());

  // The app's secret is revoked: the next refresh is refused, and once the 3-second token has
  // run out the replica says it cannot serve.
  ASSERT_TRUE((*graph)->PostJson("/_emulator/credentials", R"({"secrets": ["another"]})").ok());
  EXPECT_TRUE(await(false)) << "still SERVING with refused credentials";
  ASSERT_TRUE((*server)->process().Stop().has_value());
  EXPECT_THAT((*server)->Stderr(), HasSubstr("holds no usable token"));
}

// The secret is read once and wiped from the process's environment: /proc/<pid>/environ (what
// the kernel shows of it) holds no trace.
TEST(CredentialsTest, TheSecretLeavesTheProcessEnvironment) {
  auto graph = FakeGraph::Start();
  ASSERT_TRUE(graph.ok()) << graph.status();
  auto server = RollcallProcess::Start(**graph);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE(GetDocsReport(**server).ok());
  const std::string environ = Read(absl::StrCat("/proc/", (*server)->process().pid(), "/environ"));
  ASSERT_FALSE(environ.empty());
  EXPECT_THAT(environ, HasSubstr("AZURE_TENANT_ID="));
  EXPECT_THAT(environ, Not(HasSubstr(kClientSecret)));
}

}  // namespace
}  // namespace rollcall::testing
