// Issue 11, inbound: rollcall_server serving mutual TLS with a caller policy, against the
// emulator. The certificates are made at test time with the openssl command-line tool: a CA,
// two server certificates (the second, for rotation, with another name), client certificates
// for a caller allowed everything, one allowed one user only, one the policy does not name,
// and one from another CA. Checks (the issue's acceptance 4 and the TLS part of 3):
//  - a plaintext client, a client without a certificate and one from another CA cannot
//    connect;
//  - a caller the policy does not name gets PERMISSION_DENIED (CALLER_NOT_ALLOWED);
//  - a caller allowed one user reads that user's report, and is refused another user's report
//    even when that report is already in the cache (by every RPC that serves from it);
//  - replacing the server's certificate and key files while a client calls every 50 ms: no
//    call fails, and new connections get the new certificate.

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/credentials.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/environment.h"

namespace rollcall::testing {
namespace {

using ::testing::HasSubstr;
using rollcall::v1::AttendanceReportService;
using rollcall::v1::GetAttendanceReportRequest;
using rollcall::v1::GetAttendanceReportResponse;

// The second user of the emulator's dataset, with one meeting and one report.
constexpr char kOtherUser[] = "14b779ae-cb64-47e7-a512-52fd50a4154d";
constexpr char kOtherMeeting[] =
    "MSoxNGI3NzlhZS1jYjY0LTQ3ZTctYTUxMi01MmZkNTBhNDE1NGQqMCoqMTk6bWVldGluZ19NVE01T1RZM01HVXRObVk0TW"
    "kwMFlqZzRMVGsyTURVdFkySXlaR1JsTm1VMVpqQTJAdGhyZWFkLnYy";
constexpr char kOtherReport[] = "5d1b2a9e-6a4c-4f0e-9b2d-3c7e8f1a2b4c";

// Identities (policy.json below).
constexpr char kEverythingCn[] = "reports-all";                     // subject CN=reports-all
constexpr char kPayrollSpiffe[] = "spiffe://rollcall.test/ns/hr/sa/payroll";  // URI SAN
constexpr char kServerName[] = "rollcall.test";
constexpr char kRotatedServerName[] = "rollcall-next.test";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The ErrorInfo reason of a gRPC error ("" when none).
std::string ReasonOf(const grpc::Status& status) {
  google::rpc::Status details;
  if (!details.ParseFromString(status.error_details())) return "";
  for (const auto& any : details.details()) {
    google::rpc::ErrorInfo info;
    if (any.UnpackTo(&info)) return info.reason();
  }
  return "";
}

GetAttendanceReportRequest OtherRequest() {
  return ReportRequest(kOtherUser, kOtherMeeting, kOtherReport);
}

// The test's PKI, made once per process in a temporary directory.
class Pki {
 public:
  static absl::StatusOr<Pki> Make() {
    Pki pki;
    char dir_template[] = "/tmp/rollcall_inbound_XXXXXX";
    if (mkdtemp(dir_template) == nullptr) return absl::InternalError("mkdtemp failed");
    pki.dir_ = dir_template;
    const std::string script = absl::StrCat(
        "set -e; cd '", pki.dir_, "'\n",
        // ca NAME SUBJECT
        "ca() { openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
        "  -keyout $1.key -out $1.crt -days 2 -subj \"$2\" "
        "  -addext basicConstraints=critical,CA:TRUE "
        "  -addext keyUsage=critical,keyCertSign,cRLSign; }\n",
        // leaf NAME CA SUBJECT EXTENDED_KEY_USAGE [SAN]
        "leaf() { openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
        "  -keyout $1.key -out $1.csr -subj \"$3\"\n"
        "  printf 'basicConstraints=CA:FALSE\\nkeyUsage=digitalSignature\\n"
        "extendedKeyUsage=%s\\n' $4 > $1.ext\n"
        "  if [ -n \"$5\" ]; then echo \"subjectAltName=$5\" >> $1.ext; fi\n"
        "  openssl x509 -req -in $1.csr -CA $2.crt -CAkey $2.key -CAcreateserial -days 2 "
        "    -extfile $1.ext -out $1.crt; }\n",
        "ca ca '/CN=Rollcall Test CA'\n",
        "ca other_ca '/CN=Some Other CA'\n",
        "leaf server ca /CN=rollcall serverAuth DNS:", kServerName, "\n",
        "leaf server_next ca /CN=rollcall-next serverAuth DNS:", kRotatedServerName, "\n",
        "leaf all ca /CN=", kEverythingCn, " clientAuth\n",
        "leaf payroll ca /CN=payroll clientAuth URI:", kPayrollSpiffe, "\n",
        "leaf stranger ca /CN=stranger clientAuth URI:spiffe://rollcall.test/ns/x/sa/stranger\n",
        "leaf impostor other_ca /CN=", kEverythingCn, " clientAuth\n",
        // What the server is started with (copies: rotation replaces them).
        "cp server.crt tls.crt; cp server.key tls.key\n");
    const std::string script_path = pki.dir_ + "/make.sh";
    std::ofstream(script_path) << script;
    const std::string command =
        absl::StrCat("sh '", script_path, "' > '", pki.dir_, "/make.log' 2>&1");
    if (std::system(command.c_str()) != 0) {
      return absl::InternalError(
          absl::StrCat("openssl failed:\n", ReadFile(pki.dir_ + "/make.log")));
    }
    const std::string policy = absl::StrCat(
        R"({"callers": [)", R"({"identity": "CN=)", kEverythingCn, R"(", "users": ["*"]},)",
        R"({"identity": ")", kPayrollSpiffe, R"(", "users": [")", kDocsUser, R"("]}]})");
    std::ofstream(pki.Path("policy.json")) << policy;
    return pki;
  }

  std::string Path(const std::string& name) const { return dir_ + "/" + name; }
  std::string Pem(const std::string& name) const { return ReadFile(Path(name)); }
  const std::string& dir() const { return dir_; }

  // Client credentials trusting the test CA, presenting `client`'s certificate ("" for none).
  std::shared_ptr<grpc::ChannelCredentials> Client(const std::string& client) const {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = Pem("ca.crt");
    if (!client.empty()) {
      options.pem_private_key = Pem(client + ".key");
      options.pem_cert_chain = Pem(client + ".crt");
    }
    return grpc::SslCredentials(options);
  }

 private:
  std::string dir_;
};

class InboundTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto pki = Pki::Make();
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = new Pki(*std::move(pki));
    auto graph = FakeGraph::Start();
    ASSERT_TRUE(graph.ok()) << graph.status();
    graph_ = graph->release();
  }
  static void TearDownTestSuite() {
    delete graph_;
    graph_ = nullptr;
    if (pki_ != nullptr) {
      std::error_code ignored;
      std::filesystem::remove_all(pki_->dir(), ignored);
    }
    delete pki_;
    pki_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(pki_, nullptr);
    ASSERT_NE(graph_, nullptr);
    auto server = RollcallProcess::Start(
        *graph_, {{"ROLLCALL_TLS_CERT_FILE", pki_->Path("tls.crt")},
                  {"ROLLCALL_TLS_KEY_FILE", pki_->Path("tls.key")},
                  {"ROLLCALL_TLS_CLIENT_CA_FILE", pki_->Path("ca.crt")},
                  {"ROLLCALL_CALLER_POLICY_FILE", pki_->Path("policy.json")},
                  {"ROLLCALL_TLS_RELOAD_INTERVAL", "1s"}});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }
  void TearDown() override {
    if (HasFailure() && server_ != nullptr) {
      std::cerr << "rollcall_server stderr:\n" << server_->Stderr() << "\n";
    }
  }

  // A stub on a new connection with `credentials`, checking the server's name `server_name`.
  std::unique_ptr<AttendanceReportService::Stub> Stub(
      std::shared_ptr<grpc::ChannelCredentials> credentials,
      const std::string& server_name = kServerName) {
    grpc::ChannelArguments args;
    static std::atomic<int> channel_number{0};
    args.SetInt("rollcall.test_channel", channel_number.fetch_add(1));
    args.SetSslTargetNameOverride(server_name);
    return AttendanceReportService::NewStub(
        grpc::CreateCustomChannel(server_->address(), credentials, args));
  }
  std::unique_ptr<AttendanceReportService::Stub> Stub(const std::string& client) {
    return Stub(pki_->Client(client));
  }

  static grpc::Status Get(AttendanceReportService::Stub& stub,
                          const GetAttendanceReportRequest& request,
                          GetAttendanceReportResponse* response = nullptr,
                          absl::Duration timeout = absl::Seconds(20)) {
    GetAttendanceReportResponse ignored;
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    return stub.GetAttendanceReport(&context, request, response ? response : &ignored);
  }

  static Pki* pki_;
  static FakeGraph* graph_;
  std::unique_ptr<RollcallProcess> server_;
};

Pki* InboundTest::pki_ = nullptr;
FakeGraph* InboundTest::graph_ = nullptr;

TEST_F(InboundTest, PlaintextClientCannotConnect) {
  auto stub = Stub(grpc::InsecureChannelCredentials());
  const grpc::Status status = Get(*stub, DocsReportRequest(), nullptr, absl::Seconds(5));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
}

TEST_F(InboundTest, ClientWithoutCertificateCannotConnect) {
  auto stub = Stub(pki_->Client(""));
  const grpc::Status status = Get(*stub, DocsReportRequest(), nullptr, absl::Seconds(5));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
}

TEST_F(InboundTest, ClientCertificateFromAnotherCaCannotConnect) {
  // Same subject as the caller allowed everything, but issued by a CA the server does not trust.
  auto stub = Stub("impostor");
  const grpc::Status status = Get(*stub, DocsReportRequest(), nullptr, absl::Seconds(5));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
}

TEST_F(InboundTest, CallerThePolicyDoesNotNameIsDenied) {
  auto stub = Stub("stranger");
  const grpc::Status status = Get(*stub, DocsReportRequest());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  EXPECT_EQ(ReasonOf(status), "CALLER_NOT_ALLOWED");
  EXPECT_THAT(status.error_message(), HasSubstr("spiffe://rollcall.test/ns/x/sa/stranger"));
  EXPECT_THAT(status.error_message(), HasSubstr("not in the caller policy"));
}

TEST_F(InboundTest, RestrictedCallerReadsOnlyItsUsersEvenFromTheCache) {
  auto all = Stub("all");
  auto payroll = Stub("payroll");

  // The caller allowed everything reads both users' reports; the second read is a cache hit.
  GetAttendanceReportResponse response;
  grpc::Status status = Get(*all, OtherRequest(), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  status = Get(*all, OtherRequest(), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_TRUE(response.from_cache());
  const int graph_calls = graph_->Counter("report");

  // The payroll caller reads its user's report...
  status = Get(*payroll, DocsReportRequest(), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.report().id(), kDocsReport);

  // ...and is refused the other user's, though it sits in the cache, by every RPC that could
  // serve it from there.
  status = Get(*payroll, OtherRequest(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  EXPECT_EQ(ReasonOf(status), "CALLER_NOT_ALLOWED");
  EXPECT_THAT(status.error_message(), HasSubstr(kPayrollSpiffe));
  EXPECT_THAT(status.error_message(), HasSubstr(kOtherUser));
  {
    rollcall::v1::ListAttendanceRecordsRequest request;
    request.set_user_id(kOtherUser);
    request.set_meeting_id(kOtherMeeting);
    request.set_report_id(kOtherReport);
    rollcall::v1::ListAttendanceRecordsResponse page;
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
    status = payroll->ListAttendanceRecords(&context, request, &page);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_EQ(page.attendance_records_size(), 0);
  }
  {
    rollcall::v1::StreamAttendanceRecordsRequest request;
    request.set_user_id(kOtherUser);
    request.set_meeting_id(kOtherMeeting);
    request.set_report_id(kOtherReport);
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
    auto reader = payroll->StreamAttendanceRecords(&context, request);
    rollcall::v1::StreamAttendanceRecordsResponse message;
    EXPECT_FALSE(reader->Read(&message));
    status = reader->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  }
  {
    rollcall::v1::ListAttendanceReportsRequest request;
    request.set_user_id(kOtherUser);
    request.set_meeting_id(kOtherMeeting);
    rollcall::v1::ListAttendanceReportsResponse list;
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
    status = payroll->ListAttendanceReports(&context, request, &list);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  }
  // A denied call never reached Graph.
  EXPECT_EQ(graph_->Counter("report"), graph_calls + 1);  // the payroll caller's own report

  // The caller allowed everything still reads it from the cache.
  status = Get(*all, OtherRequest(), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(response.from_cache());
}

TEST_F(InboundTest, RotatingTheCertificateLosesNoCallAndNewConnectionsGetTheNewOne) {
  auto caller = Stub("all");
  ASSERT_TRUE(Get(*caller, DocsReportRequest()).ok());

  // One connection calling every 50 ms throughout.
  std::atomic<bool> stop{false};
  std::atomic<int> calls{0};
  std::atomic<int> failures{0};
  std::string first_failure;
  std::thread client([&] {
    while (!stop.load()) {
      const grpc::Status status = Get(*caller, DocsReportRequest(), nullptr, absl::Seconds(5));
      calls.fetch_add(1);
      if (!status.ok() && failures.fetch_add(1) == 0) {
        first_failure = absl::StrCat(status.error_code(), " ", status.error_message());
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
  });
  absl::SleepFor(absl::Milliseconds(300));

  // Replace the key and certificate files the way a renewal does: each written beside and
  // renamed over, one right after the other.
  for (const char* name : {"key", "crt"}) {
    const std::string from = pki_->Path(absl::StrCat("server_next.", name));
    const std::string staged = pki_->Path(absl::StrCat("tls.", name, ".new"));
    const std::string to = pki_->Path(absl::StrCat("tls.", name));
    std::filesystem::copy_file(from, staged, std::filesystem::copy_options::overwrite_existing);
    ASSERT_EQ(std::rename(staged.c_str(), to.c_str()), 0);
  }

  // A new connection that accepts only the new certificate's name succeeds within a few
  // reload intervals (1s).
  const absl::Time give_up = absl::Now() + absl::Seconds(15);
  grpc::Status rotated;
  while (absl::Now() < give_up) {
    auto stub = Stub(pki_->Client("all"), kRotatedServerName);
    rotated = Get(*stub, DocsReportRequest(), nullptr, absl::Seconds(3));
    if (rotated.ok()) break;
    absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_TRUE(rotated.ok()) << "the new certificate was not served: " << rotated.error_message();
  // And a new connection expecting the old name no longer verifies.
  {
    auto stub = Stub(pki_->Client("all"), kServerName);
    const grpc::Status old = Get(*stub, DocsReportRequest(), nullptr, absl::Seconds(3));
    EXPECT_EQ(old.error_code(), grpc::StatusCode::UNAVAILABLE) << old.error_message();
  }

  absl::SleepFor(absl::Milliseconds(300));
  stop.store(true);
  client.join();
  EXPECT_GT(calls.load(), 10);
  EXPECT_EQ(failures.load(), 0) << "first failure: " << first_failure;
}

}  // namespace
}  // namespace rollcall::testing
