// The libcurl transport against a plaintext HTTP server on a loopback port chosen by the OS,
// and the whole graph_client stack (curl, credential, client) against the same server.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "common/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "graph_client/graph_client.h"
#include "graph_client/http_transport.h"
#include "graph_client/date_time.h"
#include "graph_client/graph_errors.h"
#include "graph_client/token_response.h"
#include "graph_client/token_credential.h"
#include "gtest/gtest.h"
#include "tests/testing/local_http_server.h"
#include "tests/testing/graph_examples.h"
#include "tests/testing/protobuf_oracle.h"
#include "tests/testing/status_details.h"
#include "tests/testing/fake_clock.h"

namespace rollcall::graph {
namespace {

using ::rollcall::testing::LocalHttpServer;
using ::rollcall::testing::Message;
using ::rollcall::testing::ReadExample;
using ::testing::HasSubstr;
using ::testing::Not;
using Reply = LocalHttpServer::Reply;

HttpRequest Get(const std::string& url, absl::Duration timeout = absl::Seconds(10)) {
  HttpRequest request;
  request.url = url;
  request.deadline = absl::Now() + timeout;
  return request;
}

TEST(CurlTransport, GetReturnsStatusHeadersAndBody) {
  LocalHttpServer server([](const LocalHttpServer::Request&) {
    return Reply{LocalHttpServer::Response(
        200, R"({"ok":true})",
        {{"Content-Type", "application/json"},
         {"X-Padded", "   spaced value \t"},
         {"Request-Id", "rid-1"},
         {"Retry-After", "2.128"}})};
  });
  auto transport = MakeCurlTransport({});
  HttpRequest request = Get(server.Url("/v1.0/users/a%2Fb?$expand=attendanceRecords"));
  request.headers = {{"Authorization", "Bearer tok"}, {"client-request-id", "cid"}};
  absl::StatusOr<HttpResponse> response = transport->Send(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, R"({"ok":true})");
  EXPECT_EQ(response->Header("x-padded"), "spaced value");
  EXPECT_EQ(response->Header("REQUEST-ID"), "rid-1");
  EXPECT_EQ(response->Header("retry-after"), "2.128");
  EXPECT_EQ(response->Header("missing"), std::nullopt);
  for (const auto& [name, value] : response->headers) {
    EXPECT_EQ(name, absl::AsciiStrToLower(name));
  }

  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "GET");
  EXPECT_EQ(requests[0].target, "/v1.0/users/a%2Fb?$expand=attendanceRecords");
  EXPECT_EQ(requests[0].Header("authorization"), "Bearer tok");
  EXPECT_EQ(requests[0].Header("client-request-id"), "cid");
  EXPECT_EQ(requests[0].Header("user-agent"), "rollcall/0.1");
}

TEST(CurlTransport, PostSendsTheBodyAndAGetAfterItSendsNone) {
  LocalHttpServer server([](const LocalHttpServer::Request& request) {
    return Reply{LocalHttpServer::Response(201, request.method + ":" + request.body)};
  });
  auto transport = MakeCurlTransport({});
  HttpRequest post = Get(server.Url("/token"));
  post.method = "POST";
  post.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
  post.body = "a=1&b=%20";
  absl::StatusOr<HttpResponse> response = transport->Send(post);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 201);
  EXPECT_EQ(response->body, "POST:a=1&b=%20");

  // The same pooled handle, now for a GET: nothing of the POST may remain.
  response = transport->Send(Get(server.Url("/after")));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->body, "GET:");

  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].Header("content-type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(requests[0].Header("content-length"), "9");
  EXPECT_EQ(requests[0].Header("expect"), "");
  EXPECT_EQ(requests[1].method, "GET");
  EXPECT_EQ(requests[1].Header("content-length"), "");
  EXPECT_EQ(requests[1].Header("content-type"), "");
}

TEST(CurlTransport, ReusesTheConnectionAcrossCallsAndThreads) {
  LocalHttpServer server([](const LocalHttpServer::Request&) {
    return Reply{LocalHttpServer::Response(200, "ok")};
  });
  auto transport = MakeCurlTransport({});
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(transport->Send(Get(server.Url("/a"))).ok());
  for (int i = 0; i < 3; ++i) {
    std::thread([&] { ASSERT_TRUE(transport->Send(Get(server.Url("/b"))).ok()); }).join();
  }
  EXPECT_EQ(server.requests().size(), 6u);
  EXPECT_EQ(server.connections_accepted(), 1);
}

TEST(CurlTransport, ConcurrentCallsAllSucceed) {
  LocalHttpServer server([](const LocalHttpServer::Request& request) {
    return Reply{LocalHttpServer::Response(200, request.target)};
  });
  auto transport = MakeCurlTransport({});
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        const std::string path = "/t" + std::to_string(t) + "/" + std::to_string(i);
        absl::StatusOr<HttpResponse> response = transport->Send(Get(server.Url(path)));
        if (response.ok() && response->body == path) ++ok;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(ok.load(), 80);
  EXPECT_LE(server.connections_accepted(), 8);
}

TEST(CurlTransport, OnlyTheFinalResponsesHeadersAreKept) {
  LocalHttpServer server([](const LocalHttpServer::Request&) {
    return Reply{"HTTP/1.1 100 Continue\r\nX-Interim: yes\r\n\r\n" +
                 LocalHttpServer::Response(200, "done", {{"X-Final", "yes"}})};
  });
  auto transport = MakeCurlTransport({});
  absl::StatusOr<HttpResponse> response = transport->Send(Get(server.Url("/")));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "done");
  EXPECT_EQ(response->Header("x-final"), "yes");
  EXPECT_EQ(response->Header("x-interim"), std::nullopt);
}

TEST(CurlTransport, ResponseBodiesAreCapped) {
  const std::string big(2000, 'x');
  LocalHttpServer server([&](const LocalHttpServer::Request& request) {
    const bool chunked = request.target == "/chunked";
    const std::string body = request.target == "/exact" ? std::string(1000, 'y') : big;
    return Reply{LocalHttpServer::Response(200, body, {}, chunked)};
  });
  CurlTransportOptions options;
  options.max_response_bytes = 1000;
  auto transport = MakeCurlTransport(options);
  for (const char* path : {"/content-length", "/chunked"}) {
    SCOPED_TRACE(path);
    absl::StatusOr<HttpResponse> response = transport->Send(Get(server.Url(path)));
    ASSERT_EQ(response.status().code(), absl::StatusCode::kResourceExhausted);
    EXPECT_THAT(Message(response.status()), HasSubstr("response body exceeds 1000 bytes"));
  }
  absl::StatusOr<HttpResponse> exact = transport->Send(Get(server.Url("/exact")));
  ASSERT_TRUE(exact.ok()) << exact.status();
  EXPECT_EQ(exact->body.size(), 1000u);
}

TEST(CurlTransport, AStalledServerMeetsTheDeadline) {
  LocalHttpServer server([](const LocalHttpServer::Request&) { return Reply{"", /*stall=*/true}; });
  auto transport = MakeCurlTransport({});
  const absl::Time start = absl::Now();
  absl::StatusOr<HttpResponse> response =
      transport->Send(Get(server.Url("/slow"), absl::Milliseconds(300)));
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(response.status().code(), absl::StatusCode::kDeadlineExceeded) << response.status();
  EXPECT_GE(took, absl::Milliseconds(250));
  EXPECT_LT(took, absl::Seconds(5));
}

TEST(CurlTransport, TheTotalTimeoutAppliesWithoutADeadline) {
  LocalHttpServer server([](const LocalHttpServer::Request&) { return Reply{"", /*stall=*/true}; });
  CurlTransportOptions options;
  options.total_timeout = absl::Milliseconds(200);
  auto transport = MakeCurlTransport(options);
  HttpRequest request;
  request.url = server.Url("/slow");  // deadline: InfiniteFuture
  EXPECT_EQ(transport->Send(request).status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(CurlTransport, AConnectTimeoutIsUnavailableNotLate) {
  // https to a plaintext server: the TLS handshake never completes.
  LocalHttpServer server([](const LocalHttpServer::Request&) { return Reply{}; });
  CurlTransportOptions options;
  options.connect_timeout = absl::Milliseconds(200);
  auto transport = MakeCurlTransport(options);
  absl::StatusOr<HttpResponse> response = transport->Send(
      Get("https://127.0.0.1:" + std::to_string(server.port()) + "/", absl::Seconds(30)));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable) << response.status();
}

TEST(CurlTransport, APastDeadlineSendsNothing) {
  LocalHttpServer server([](const LocalHttpServer::Request&) {
    return Reply{LocalHttpServer::Response(200, "ok")};
  });
  auto transport = MakeCurlTransport({});
  HttpRequest request = Get(server.Url("/"));
  request.deadline = absl::Now() - absl::Seconds(1);
  EXPECT_EQ(transport->Send(request).status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(server.connections_accepted(), 0);
}

TEST(CurlTransport, DeadlinesAreOnTheInjectedClockEvenDecadesFromTheWallClock) {
  LocalHttpServer server([](const LocalHttpServer::Request& request) {
    if (request.target == "/slow") return Reply{"", /*stall=*/true};
    return Reply{LocalHttpServer::Response(200, "ok")};
  });
  for (const absl::Time start : {absl::FromUnixSeconds(946684800),     // 2000-01-01
                                 absl::FromUnixSeconds(4102444800)}) {  // 2100-01-01
    SCOPED_TRACE(absl::FormatTime(start));
    rollcall::testing::FakeClock clock(start);
    CurlTransportOptions options;
    options.clock = &clock;
    auto transport = MakeCurlTransport(options);

    // 10 s on the fake clock are 10 s for the request, wherever the wall clock is.
    HttpRequest request;
    request.url = server.Url("/");
    request.deadline = clock.Now() + absl::Seconds(10);
    absl::StatusOr<HttpResponse> response = transport->Send(request);
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->body, "ok");

    // And 300 ms are 300 ms: a stalled server is given up on, not waited for until 2100.
    request.url = server.Url("/slow");
    request.deadline = clock.Now() + absl::Milliseconds(300);
    const absl::Time wall_start = absl::Now();
    EXPECT_EQ(transport->Send(request).status().code(), absl::StatusCode::kDeadlineExceeded);
    EXPECT_LT(absl::Now() - wall_start, absl::Seconds(5));

    request.url = server.Url("/");
    request.deadline = clock.Now() - absl::Milliseconds(1);
    EXPECT_EQ(transport->Send(request).status().code(), absl::StatusCode::kDeadlineExceeded);
  }
}

TEST(CurlTransport, UnreachableIsUnavailableAndNeverEchoesHeaders) {
  int port;
  {
    LocalHttpServer closed([](const LocalHttpServer::Request&) { return Reply{}; });
    port = closed.port();
  }  // nothing listens there any more
  auto transport = MakeCurlTransport({});
  HttpRequest request = Get("http://127.0.0.1:" + std::to_string(port) + "/x?secret=q");
  request.headers = {{"Authorization", "Bearer SECRET-TOKEN"}};
  request.method = "POST";
  request.body = "client_secret=SECRET-VALUE";
  absl::StatusOr<HttpResponse> response = transport->Send(request);
  ASSERT_EQ(response.status().code(), absl::StatusCode::kUnavailable) << response.status();
  EXPECT_THAT(Message(response.status()), HasSubstr("http://127.0.0.1:"));
  EXPECT_THAT(Message(response.status()), Not(HasSubstr("SECRET")));
  EXPECT_THAT(Message(response.status()), Not(HasSubstr("secret=q")));
}

TEST(CurlTransport, FailuresBeforeAnyResponseByteAreMarkedRetryable) {
  int port;
  {
    LocalHttpServer closed([](const LocalHttpServer::Request&) { return Reply{}; });
    port = closed.port();
  }  // nothing listens there any more: connection refused
  auto transport = MakeCurlTransport({});
  absl::StatusOr<HttpResponse> response =
      transport->Send(Get("http://127.0.0.1:" + std::to_string(port) + "/"));
  ASSERT_EQ(response.status().code(), absl::StatusCode::kUnavailable) << response.status();
  EXPECT_TRUE(IsRetryableBeforeResponse(response.status())) << response.status();
  EXPECT_EQ(GetTransportFailure(response.status()), TransportFailure::kBeforeResponse);

  // Accepted, then closed without a byte of response (curl: "Empty reply from server").
  LocalHttpServer hangs_up([](const LocalHttpServer::Request&) {
    Reply reply;
    reply.close = true;
    return reply;
  });
  response = transport->Send(Get(hangs_up.Url("/")));
  ASSERT_EQ(response.status().code(), absl::StatusCode::kUnavailable) << response.status();
  EXPECT_TRUE(IsRetryableBeforeResponse(response.status())) << response.status();
}

TEST(CurlTransport, ABodyCutShortIsNotRetryable) {
  LocalHttpServer server([](const LocalHttpServer::Request&) {
    Reply reply;
    reply.raw = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                R"({"id":"r","attendanceRec)";
    reply.close = true;
    return reply;
  });
  auto transport = MakeCurlTransport({});
  absl::StatusOr<HttpResponse> response = transport->Send(Get(server.Url("/")));
  ASSERT_EQ(response.status().code(), absl::StatusCode::kUnavailable) << response.status();
  EXPECT_FALSE(IsRetryableBeforeResponse(response.status()));
  EXPECT_EQ(GetTransportFailure(response.status()), TransportFailure::kTruncatedBody);
  EXPECT_THAT(Message(response.status()), HasSubstr("before the whole body arrived"));

  // A chunked body that stops before its last chunk, likewise.
  LocalHttpServer chunked([](const LocalHttpServer::Request&) {
    Reply reply;
    reply.raw = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"id\"\r\n";
    reply.close = true;
    return reply;
  });
  response = transport->Send(Get(chunked.Url("/")));
  ASSERT_EQ(response.status().code(), absl::StatusCode::kUnavailable) << response.status();
  EXPECT_EQ(GetTransportFailure(response.status()), TransportFailure::kTruncatedBody)
      << response.status();
}

TEST(CurlTransport, OtherFailuresAreNotClassified) {
  LocalHttpServer server([](const LocalHttpServer::Request&) { return Reply{"", /*stall=*/true}; });
  auto transport = MakeCurlTransport({});
  absl::StatusOr<HttpResponse> response =
      transport->Send(Get(server.Url("/slow"), absl::Milliseconds(100)));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(GetTransportFailure(response.status()), TransportFailure::kUnclassified);
  EXPECT_EQ(GetTransportFailure(absl::OkStatus()), TransportFailure::kUnclassified);
  EXPECT_EQ(GetTransportFailure(WithTransportFailure(
                WithTransportFailure(absl::UnavailableError("x"),
                                     TransportFailure::kBeforeResponse),
                TransportFailure::kUnclassified)),
            TransportFailure::kUnclassified);
}

TEST(CurlTransport, MalformedRequestsAreInvalidArguments) {
  auto transport = MakeCurlTransport({});
  HttpRequest request = Get("http://127.0.0.1:1/");
  request.method = "DELETE";
  EXPECT_EQ(transport->Send(request).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(transport->Send(Get("not a url")).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(transport->Send(Get("ftp://127.0.0.1/")).status().code(),
            absl::StatusCode::kInvalidArgument);
  request = Get("http://127.0.0.1:1/");
  request.headers = {{"X-Injected", "a\r\nHost: evil"}};
  EXPECT_EQ(transport->Send(request).status().code(), absl::StatusCode::kInvalidArgument);
}

// A TLS server (Python's ssl module) with a fresh self-signed certificate for "localhost"
// only. It prints its port on its first line, so the test reads it instead of waiting.
class TlsTestServer {
 public:
  // Generates the certificate and starts the server; fails the test when it cannot.
  void Start() {
    char dir_template[] = "/tmp/rollcall-tls-XXXXXX";
    ASSERT_NE(::mkdtemp(dir_template), nullptr);
    dir_ = dir_template;
    const std::string openssl =
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
        "-addext subjectAltName=DNS:localhost -keyout " + dir_ + "/key.pem -out " + dir_ +
        "/cert.pem 2>/dev/null";
    ASSERT_EQ(std::system(openssl.c_str()), 0) << "openssl is needed for the TLS tests";
    WriteScript();

    int out[2];
    ASSERT_EQ(::pipe(out), 0);
    pid_ = ::fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      ::dup2(out[1], STDOUT_FILENO);
      ::close(out[0]);
      ::close(out[1]);
      const std::string script = dir_ + "/server.py", cert = cert_path(), key = dir_ + "/key.pem";
      ::execlp(ROLLCALL_PYTHON3, ROLLCALL_PYTHON3, script.c_str(), cert.c_str(), key.c_str(),
               static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(out[1]);
    std::string line;
    char c;
    while (::read(out[0], &c, 1) == 1 && c != '\n') line += c;  // blocks until announced
    ::close(out[0]);
    port_ = std::atoi(line.c_str());
    ASSERT_GT(port_, 0) << "the TLS server did not start";
  }

  ~TlsTestServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
    if (!dir_.empty()) std::system(("rm -rf " + dir_).c_str());
  }

  int port() const { return port_; }
  std::string cert_path() const { return dir_ + "/cert.pem"; }

 private:
  void WriteScript() {
    std::ofstream script(dir_ + "/server.py");
    script << R"py(import http.server, ssl, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"tls-ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[1], sys.argv[2])
server.socket = context.wrap_socket(server.socket, server_side=True)
server.handle_error = lambda request, address: None
print(server.server_address[1], flush=True)
server.serve_forever()
)py";
  }

  std::string dir_;
  pid_t pid_ = -1;
  int port_ = 0;
};

TEST(CurlTransportTls, VerifiesThePeerAndTheHostName) {
  TlsTestServer server;
  ASSERT_NO_FATAL_FAILURE(server.Start());
  const std::string port = std::to_string(server.port());

  // Untrusted: the certificate is self-signed and the system store does not hold it.
  absl::StatusOr<HttpResponse> response =
      MakeCurlTransport({})->Send(Get("https://localhost:" + port + "/"));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable) << response.status();
  EXPECT_THAT(Message(response.status()), HasSubstr("certificate"));

  // Trusted through ca_bundle_path.
  CurlTransportOptions options;
  options.ca_bundle_path = server.cert_path();
  auto trusting = MakeCurlTransport(options);
  response = trusting->Send(Get("https://localhost:" + port + "/"));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->body, "tls-ok");

  // Trusted certificate, wrong name: 127.0.0.1 is not in its subjectAltName.
  response = trusting->Send(Get("https://127.0.0.1:" + port + "/"));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable) << response.status();
  EXPECT_THAT(Message(response.status()), HasSubstr("host name"));
}

// ---------------------------------------------------------------------------------------------
// The whole stack: libcurl, the client-secret credential and the Graph client, against one
// local server playing both the token endpoint and Graph.

// The real Graph client, credential and curl transport, pointed at `server` (its token
// endpoint at "/", Graph at "/v1.0"), with tenant-1 / client-1 / secret-1. Null on failure.
std::unique_ptr<GraphClient> GraphClientOver(const LocalHttpServer& server) {
  std::shared_ptr<HttpTransport> transport = MakeCurlTransport({});
  TokenCredentialConfig credential_options;
  credential_options.authority_host = server.Url("/");
  credential_options.tenant_id = "tenant-1";
  credential_options.client_id = "client-1";
  credential_options.client_secret = "secret-1";
  auto credential = MakeTokenCredential(credential_options, transport, common::SystemClock());
  EXPECT_TRUE(credential.ok()) << credential.status();
  if (!credential.ok()) return nullptr;
  GraphClientOptions options;
  options.base_url = server.Url("/v1.0");
  return MakeGraphClient(options, transport, std::move(*credential), common::SystemClock());
}

TEST(GraphClientOverCurl, FetchesAReportEndToEnd) {
  const std::string report_body =
      ReadExample("get-meetingattendancereport-v1.0-expand-attendancerecords.json");
  LocalHttpServer server([&](const LocalHttpServer::Request& request) {
    if (request.method == "POST" && request.target == "/tenant-1/oauth2/v2.0/token") {
      return Reply{LocalHttpServer::Response(
          200, R"({"token_type":"Bearer","expires_in":3599,"access_token":"e2e-token"})",
          {{"Content-Type", "application/json"}})};
    }
    if (request.Header("authorization") != "Bearer e2e-token") {
      return Reply{LocalHttpServer::Response(
          401, R"({"error":{"code":"InvalidAuthenticationToken","message":"no"}})")};
    }
    return Reply{LocalHttpServer::Response(200, report_body,
                                           {{"Content-Type", "application/json"}})};
  });
  std::unique_ptr<GraphClient> client = GraphClientOver(server);
  ASSERT_NE(client, nullptr);
  // What the report must be, by protobuf's own JSON parser (not the mapping under test).
  absl::StatusOr<rollcall::v1::MeetingAttendanceReport> expected =
      ::rollcall::testing::OracleReport(report_body);
  ASSERT_TRUE(expected.ok()) << expected.status();
  ASSERT_EQ(expected->attendance_records_size(), 1);

  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<rollcall::v1::MeetingAttendanceReport> report = client->GetAttendanceReport(
        {"user-1", "meeting/1", "report-1"}, true, absl::Now() + absl::Seconds(10));
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*report, *expected))
        << report->DebugString();
  }
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 3u);  // one token, two reports
  EXPECT_EQ(requests[0].body,
            "client_id=client-1&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"
            "&client_secret=secret-1&grant_type=client_credentials");
  EXPECT_EQ(requests[1].target,
            "/v1.0/users/user-1/onlineMeetings/meeting%2F1/attendanceReports/report-1"
            "?$expand=attendanceRecords");
  EXPECT_EQ(server.connections_accepted(), 1);
}

TEST(GraphClientOverCurl, RetriesThrottlingAndKeepsTheClientRequestId) {
  std::atomic<int> graph_requests{0};
  LocalHttpServer server([&](const LocalHttpServer::Request& request) {
    if (request.method == "POST") {
      return Reply{LocalHttpServer::Response(
          200, R"({"token_type":"Bearer","expires_in":3599,"access_token":"t"})",
          {{"Content-Type", "application/json"}})};
    }
    if (graph_requests.fetch_add(1) == 0) {
      return Reply{LocalHttpServer::Response(
          429, R"({"error":{"code":"TooManyRequests","message":"slow down"}})",
          {{"Content-Type", "application/json"}, {"Retry-After", "0.05"}})};
    }
    return Reply{LocalHttpServer::Response(200, R"({"id":"r"})",
                                           {{"Content-Type", "application/json"}})};
  });
  std::unique_ptr<GraphClient> client = GraphClientOver(server);
  ASSERT_NE(client, nullptr);
  absl::StatusOr<rollcall::v1::MeetingAttendanceReport> report = client->GetAttendanceReport(
      {"u", "m", "r"}, false, absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(report.ok()) << report.status();
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 3u);  // token, 429, 200
  EXPECT_EQ(requests[2].Header("retry-attempt"), "1");
  EXPECT_EQ(requests[1].Header("client-request-id"), requests[2].Header("client-request-id"));
  EXPECT_EQ(client->Stats().throttled, 1u);
}

// ---------------------------------------------------------------------------------------------
// The outbound proxy: only the one the options name, named in every error it causes.

// A forward proxy on 127.0.0.1, on a port the OS chooses. With refuse_status 0 it opens the
// tunnel each CONNECT asks for (to 127.0.0.1, whatever the host: the test servers are all
// there) and relays bytes both ways; otherwise it answers every CONNECT with that status, a
// Proxy-Authenticate header and an HTML body, and closes.
class TestProxy {
 public:
  static constexpr char kRefusalBody[] = "<html>squid-says-no: this body must not be echoed</html>";

  explicit TestProxy(int refuse_status) : refuse_status_(refuse_status) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::listen(listen_fd_, 16) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      std::perror("TestProxy");
      std::abort();
    }
    port_ = ntohs(addr.sin_port);
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }

  ~TestProxy() {
    stopping_ = true;
    accept_thread_.join();
    std::vector<std::thread> threads;
    {
      common::MutexLock lock(&mu_);
      threads.swap(threads_);
    }
    for (std::thread& thread : threads) thread.join();
    ::close(listen_fd_);
  }

  int port() const { return port_; }
  std::string Address() const { return "127.0.0.1:" + std::to_string(port_); }
  // The head (request line and headers) of every request the proxy received.
  std::vector<std::string> requests() const {
    common::MutexLock lock(&mu_);
    return requests_;
  }
  int connections() const {
    common::MutexLock lock(&mu_);
    return connections_;
  }

 private:
  // Whether `fd` has something to read within 50 ms; false as soon as the proxy stops.
  bool Readable(int fd) const {
    pollfd p{fd, POLLIN, 0};
    while (!stopping_) {
      if (::poll(&p, 1, 50) > 0) return true;
    }
    return false;
  }

  void AcceptLoop() {
    while (Readable(listen_fd_)) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      common::MutexLock lock(&mu_);
      ++connections_;
      threads_.emplace_back([this, fd] {
        Serve(fd);
        ::close(fd);
      });
    }
  }

  static bool SendAll(int fd, const std::string& data) {
    std::size_t sent = 0;
    while (sent < data.size()) {
      const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<std::size_t>(n);
    }
    return true;
  }

  void Serve(int client) {
    std::string head;
    char buffer[16384];
    while (head.find("\r\n\r\n") == std::string::npos) {
      if (!Readable(client)) return;
      const ssize_t n = ::recv(client, buffer, sizeof(buffer), 0);
      if (n <= 0) return;
      head.append(buffer, static_cast<std::size_t>(n));
    }
    head.resize(head.find("\r\n\r\n"));
    {
      common::MutexLock lock(&mu_);
      requests_.push_back(head);
    }
    if (refuse_status_ != 0) {
      const std::string body = kRefusalBody;
      SendAll(client, "HTTP/1.1 " + std::to_string(refuse_status_) +
                          " Refused\r\nProxy-Authenticate: Basic realm=\"rollcall-test\"\r\n"
                          "Content-Type: text/html\r\nContent-Length: " +
                          std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
      return;
    }
    // "CONNECT host:port HTTP/1.1"
    const std::size_t space = head.find(' ');
    const std::string authority = head.substr(space + 1, head.find(' ', space + 1) - space - 1);
    const int port = std::atoi(authority.substr(authority.rfind(':') + 1).c_str());
    const int upstream = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    if (head.rfind("CONNECT ", 0) != 0 ||
        ::connect(upstream, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      SendAll(client, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
      ::close(upstream);
      return;
    }
    SendAll(client, "HTTP/1.1 200 Connection established\r\n\r\n");
    pollfd fds[2] = {{client, POLLIN, 0}, {upstream, POLLIN, 0}};
    while (!stopping_) {
      if (::poll(fds, 2, 50) <= 0) continue;
      bool open = true;
      for (int i = 0; i < 2 && open; ++i) {
        if (fds[i].revents == 0) continue;
        const ssize_t n = ::recv(fds[i].fd, buffer, sizeof(buffer), 0);
        open = n > 0 && SendAll(fds[1 - i].fd, std::string(buffer, static_cast<std::size_t>(n)));
      }
      if (!open) break;
    }
    ::close(upstream);
  }

  const int refuse_status_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread accept_thread_;
  mutable common::Mutex mu_;
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> requests_ ABSL_GUARDED_BY(mu_);
  int connections_ ABSL_GUARDED_BY(mu_) = 0;
};

// A port nothing listens on (it did a moment ago).
int ClosedPort() {
  LocalHttpServer closed([](const LocalHttpServer::Request&) { return Reply{}; });
  return closed.port();
}

constexpr char kProxyUser[] = "proxyuser";
constexpr char kProxyPassword[] = "pr0xy-pa55w0rd";

std::string ProxyUrlWithCredentials(const std::string& address) {
  return std::string("http://") + kProxyUser + ":" + kProxyPassword + "@" + address;
}

void ExpectNoProxyCredentials(const std::string& text) {
  EXPECT_THAT(text, Not(HasSubstr(kProxyPassword)));
  EXPECT_THAT(text, Not(HasSubstr(kProxyUser)));
  EXPECT_THAT(text, Not(HasSubstr("@")));
}

TEST(CurlTransportProxy, TunnelsHttpsThroughTheProxyItIsGiven) {
  TlsTestServer server;
  ASSERT_NO_FATAL_FAILURE(server.Start());
  TestProxy proxy(0);
  CurlTransportOptions options;
  options.ca_bundle_path = server.cert_path();
  options.proxy.url = ProxyUrlWithCredentials(proxy.Address());
  auto transport = MakeCurlTransport(options);
  const std::string url = "https://localhost:" + std::to_string(server.port()) + "/";
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<HttpResponse> response = transport->Send(Get(url));
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->body, "tls-ok");
    // The proxy's "200 Connection established" is not the server's response.
    for (const auto& [name, value] : response->headers) EXPECT_NE(name, "proxy-authenticate");
  }
  // One tunnel per request (the server closes each connection), each asked for with the
  // credentials of the URL (Basic), which go to the proxy and only there.
  const std::vector<std::string> requests = proxy.requests();
  ASSERT_EQ(requests.size(), 2u);
  for (const std::string& request : requests) {
    EXPECT_THAT(request,
                HasSubstr("CONNECT localhost:" + std::to_string(server.port()) + " HTTP/1.1"));
    EXPECT_THAT(request,
                HasSubstr("Proxy-Authorization: Basic cHJveHl1c2VyOnByMHh5LXBhNTV3MHJk"));
  }
}

TEST(CurlTransportProxy, ARefusedConnectNamesTheProxyAndItsStatusNotItsBody) {
  for (const int refusal : {407, 403, 502}) {
    SCOPED_TRACE(refusal);
    TestProxy proxy(refusal);
    CurlTransportOptions options;
    options.proxy.url = ProxyUrlWithCredentials(proxy.Address());
    auto transport = MakeCurlTransport(options);
    HttpRequest request = Get("https://graph.example.test/v1.0/users/u");
    request.headers = {{"Authorization", "Bearer SECRET-TOKEN"}};
    absl::StatusOr<HttpResponse> response = transport->Send(request);
    ASSERT_EQ(response.status().code(), absl::StatusCode::kUnavailable) << response.status();
    const std::string message = Message(response.status());
    EXPECT_THAT(message, HasSubstr("https://graph.example.test"));
    EXPECT_THAT(message, HasSubstr("the HTTPS proxy " + proxy.Address() +
                                   " refused CONNECT (HTTP " + std::to_string(refusal) + ")"));
    EXPECT_THAT(message, Not(HasSubstr("squid-says-no")));
    EXPECT_THAT(message, Not(HasSubstr("whole body")));
    EXPECT_THAT(message, Not(HasSubstr("SECRET-TOKEN")));
    ExpectNoProxyCredentials(message);
    // Graph never saw the request: safe to try again.
    EXPECT_EQ(GetTransportFailure(response.status()), TransportFailure::kBeforeResponse);
    ASSERT_EQ(proxy.requests().size(), 1u);
    // The token is for Graph, inside the tunnel: never in the CONNECT the proxy reads.
    EXPECT_THAT(proxy.requests()[0], Not(HasSubstr("SECRET-TOKEN")));
  }
}

TEST(CurlTransportProxy, AnUnreachableProxyIsNamedAsSuch) {
  const std::string address = "127.0.0.1:" + std::to_string(ClosedPort());
  CurlTransportOptions options;
  options.proxy.url = ProxyUrlWithCredentials(address);
  auto transport = MakeCurlTransport(options);
  absl::StatusOr<HttpResponse> response =
      transport->Send(Get("https://graph.example.test/v1.0/users/u"));
  ASSERT_EQ(response.status().code(), absl::StatusCode::kUnavailable) << response.status();
  EXPECT_THAT(Message(response.status()), HasSubstr("could not reach the HTTPS proxy " + address));
  ExpectNoProxyCredentials(Message(response.status()));
  EXPECT_EQ(GetTransportFailure(response.status()), TransportFailure::kBeforeResponse);
}

TEST(CurlTransportProxy, AProxyUrlThatIsNotOneIsRefusedWithoutShowingIt) {
  CurlTransportOptions options;
  options.proxy.url = std::string("ftp://") + kProxyUser + ":" + kProxyPassword + "@proxy:21";
  auto transport = MakeCurlTransport(options);
  absl::StatusOr<HttpResponse> response = transport->Send(Get("https://graph.example.test/"));
  ASSERT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument) << response.status();
  EXPECT_THAT(Message(response.status()), HasSubstr("not a proxy URL"));
  ExpectNoProxyCredentials(Message(response.status()));
}

TEST(CurlTransportProxy, NoProxyHostsAndPlainHttpGoDirect) {
  TlsTestServer tls;
  ASSERT_NO_FATAL_FAILURE(tls.Start());
  LocalHttpServer plain([](const LocalHttpServer::Request&) {
    return Reply{LocalHttpServer::Response(200, "direct")};
  });
  TestProxy proxy(407);  // any request that goes through it fails
  const std::string tls_url = "https://localhost:" + std::to_string(tls.port()) + "/";
  for (const char* no_proxy : {"localhost", ".localhost", "example.test, localhost", "*"}) {
    SCOPED_TRACE(no_proxy);
    CurlTransportOptions options;
    options.ca_bundle_path = tls.cert_path();
    options.proxy.url = "http://" + proxy.Address();
    options.proxy.no_proxy = no_proxy;
    absl::StatusOr<HttpResponse> response = MakeCurlTransport(options)->Send(Get(tls_url));
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->body, "tls-ok");
  }
  // http:// (a loopback test server; a proxy would read its bearer token) never uses it.
  CurlTransportOptions options;
  options.proxy.url = "http://" + proxy.Address();
  absl::StatusOr<HttpResponse> response = MakeCurlTransport(options)->Send(Get(plain.Url("/")));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->body, "direct");
  EXPECT_EQ(proxy.connections(), 0);

  // A NO_PROXY that names other hosts leaves this one on the proxy.
  options.ca_bundle_path = tls.cert_path();
  options.proxy.no_proxy = "example.test,10.0.0.0/8,notlocalhost";
  response = MakeCurlTransport(options)->Send(Get(tls_url));
  EXPECT_THAT(Message(response.status()), HasSubstr("refused CONNECT (HTTP 407)"));
  EXPECT_EQ(proxy.connections(), 1);
}

// Sets environment variables for one scope and puts back what was there.
class ScopedEnvironment {
 public:
  explicit ScopedEnvironment(const std::vector<std::pair<std::string, std::string>>& vars) {
    for (const auto& [name, value] : vars) {
      const char* old = std::getenv(name.c_str());
      saved_.emplace_back(name, old == nullptr ? std::nullopt : std::optional<std::string>(old));
      ::setenv(name.c_str(), value.c_str(), 1);
    }
  }
  ~ScopedEnvironment() {
    for (const auto& [name, value] : saved_) {
      if (value.has_value()) {
        ::setenv(name.c_str(), value->c_str(), 1);
      } else {
        ::unsetenv(name.c_str());
      }
    }
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

// libcurl would read these variables by itself; the transport uses only what its options say,
// so the proxy in use is always the one main read, logged and named in errors.
TEST(CurlTransportProxy, TheEnvironmentIsNeverReadByTheTransport) {
  TlsTestServer tls;
  ASSERT_NO_FATAL_FAILURE(tls.Start());
  TestProxy proxy(407);
  const std::string url = "http://" + proxy.Address();
  ScopedEnvironment environment({{"https_proxy", url},
                                 {"HTTPS_PROXY", url},
                                 {"all_proxy", url},
                                 {"ALL_PROXY", url},
                                 {"no_proxy", "nothing.test"},
                                 {"NO_PROXY", "nothing.test"}});
  CurlTransportOptions options;
  options.ca_bundle_path = tls.cert_path();
  absl::StatusOr<HttpResponse> response = MakeCurlTransport(options)->Send(
      Get("https://localhost:" + std::to_string(tls.port()) + "/"));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(proxy.connections(), 0);
}

TEST(CurlTransportProxy, TheEnvironmentIsReadInLibcurlsOrder) {
  std::map<std::string, std::string> vars = {{"HTTPS_PROXY", "http://upper:1"},
                                             {"https_proxy", "http://lower:2"},
                                             {"ALL_PROXY", "http://all:3"},
                                             {"NO_PROXY", ".corp.example"},
                                             {"no_proxy", ""}};
  const auto env = [&vars](const std::string& name) -> std::optional<std::string> {
    const auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
  ProxySettings proxy = ProxyFromEnvironment(env);
  EXPECT_EQ(proxy.url, "http://lower:2");
  EXPECT_EQ(proxy.url_variable, "https_proxy");
  EXPECT_EQ(proxy.no_proxy, ".corp.example");  // an empty no_proxy counts as unset
  EXPECT_EQ(proxy.no_proxy_variable, "NO_PROXY");
  vars.erase("https_proxy");
  EXPECT_EQ(ProxyFromEnvironment(env).url_variable, "HTTPS_PROXY");
  vars.erase("HTTPS_PROXY");
  EXPECT_EQ(ProxyFromEnvironment(env).url, "http://all:3");
  vars.clear();
  proxy = ProxyFromEnvironment(env);
  EXPECT_EQ(proxy.url, "");
  EXPECT_EQ(proxy.no_proxy, "");
  EXPECT_EQ(proxy.url_variable, "");
}

TEST(CurlTransportProxy, AddressesNeverShowCredentials) {
  EXPECT_EQ(ProxyAddress("http://proxyuser:pr0xy-pa55w0rd@proxy.corp.example:3128"),
            "proxy.corp.example:3128");
  EXPECT_EQ(ProxyUrlForLog("http://proxyuser:pr0xy-pa55w0rd@proxy.corp.example:3128/"),
            "http://proxy.corp.example:3128");
  EXPECT_EQ(ProxyAddress("http://u%40corp:p%3Ass@10.1.2.3:8080"), "10.1.2.3:8080");
  EXPECT_EQ(ProxyAddress("proxy.corp.example:8080"), "proxy.corp.example:8080");  // http://
  EXPECT_EQ(ProxyUrlForLog("proxy.corp.example:8080"), "http://proxy.corp.example:8080");
  EXPECT_EQ(ProxyAddress("http://proxy.corp.example"), "proxy.corp.example:1080");  // libcurl's
  EXPECT_EQ(ProxyAddress("https://proxy.corp.example"), "proxy.corp.example:443");
  EXPECT_EQ(ProxyAddress("socks5h://[::1]:1080"), "[::1]:1080");
  for (const char* bad : {"", "ftp://u:p@proxy:21", "http://", "http://pro xy:1",
                          "http://proxy:1\n", "file:///etc/passwd"}) {
    EXPECT_EQ(ProxyAddress(bad), "") << absl::CHexEscape(bad);
    EXPECT_EQ(ProxyUrlForLog(bad), "") << absl::CHexEscape(bad);
  }
}

TEST(CurlTransportProxy, NoProxyMatching) {
  EXPECT_TRUE(BypassesProxy("graph.microsoft.com", "*"));
  EXPECT_TRUE(BypassesProxy("graph.microsoft.com", "microsoft.com"));
  EXPECT_TRUE(BypassesProxy("graph.microsoft.com", ".microsoft.com"));
  EXPECT_TRUE(BypassesProxy("graph.microsoft.com", "*.microsoft.com"));
  EXPECT_TRUE(BypassesProxy("Graph.Microsoft.com.", "x.test, GRAPH.microsoft.com"));
  EXPECT_TRUE(BypassesProxy("microsoft.com", ".microsoft.com"));
  EXPECT_FALSE(BypassesProxy("graph.microsoft.com", "soft.com"));
  EXPECT_FALSE(BypassesProxy("graph.microsoft.com.evil.test", "microsoft.com"));
  EXPECT_FALSE(BypassesProxy("graph.microsoft.com", ""));
  EXPECT_FALSE(BypassesProxy("graph.microsoft.com", "*.test, x"));
  EXPECT_TRUE(BypassesProxy("10.1.2.3", "10.0.0.0/8"));
  EXPECT_TRUE(BypassesProxy("10.1.2.3", "example.test 10.1.2.3"));
  EXPECT_FALSE(BypassesProxy("11.1.2.3", "10.0.0.0/8"));
  EXPECT_FALSE(BypassesProxy("10.1.2.3", "1.2.3"));  // an address never matches as a name
  EXPECT_TRUE(BypassesProxy("::1", "::1"));
  EXPECT_TRUE(BypassesProxy("[fd00::5]", "fd00::/8"));
  EXPECT_FALSE(BypassesProxy("fe80::1", "fd00::/8"));
}

// The whole stack behind a proxy that refuses CONNECT: the token endpoint's error and Graph's
// each name the proxy, never its credentials or its page.
TEST(CurlTransportProxy, GraphAndTokenErrorsNameTheRefusingProxy) {
  TestProxy proxy(407);
  CurlTransportOptions transport_options;
  transport_options.proxy.url = ProxyUrlWithCredentials(proxy.Address());
  std::shared_ptr<HttpTransport> transport = MakeCurlTransport(transport_options);
  const std::string says = "the HTTPS proxy " + proxy.Address() + " refused CONNECT (HTTP 407)";

  TokenCredentialConfig credential_options;
  credential_options.authority_host = "https://login.example.test/";
  credential_options.tenant_id = "tenant-1";
  credential_options.client_id = "client-1";
  credential_options.client_secret = "secret-1";
  credential_options.background_refresh = false;
  credential_options.retry.max_attempts = 1;
  auto credential = MakeTokenCredential(credential_options, transport, common::SystemClock());
  ASSERT_TRUE(credential.ok()) << credential.status();
  absl::Status token = (*credential)->GetToken(absl::Now() + absl::Seconds(10)).status();
  EXPECT_EQ(token.code(), absl::StatusCode::kUnavailable) << token;
  EXPECT_EQ(::rollcall::testing::Reason(token), "TOKEN_ENDPOINT_ERROR");
  EXPECT_THAT(Message(token), HasSubstr(says));
  EXPECT_THAT(Message(token), Not(HasSubstr("squid-says-no")));
  ExpectNoProxyCredentials(Message(token));

  class StaticCredential final : public TokenCredential {
   public:
    absl::StatusOr<AccessToken> GetToken(absl::Time) override {
      return AccessToken{"static-token", absl::Now() + absl::Hours(1)};
    }
    Invalidation Invalidate(const std::string&) override { return {}; }
  };
  GraphClientOptions options;
  options.base_url = "https://graph.example.test/v1.0";
  options.retry.max_attempts = 1;
  auto client = MakeGraphClient(options, transport, std::make_shared<StaticCredential>(),
                                common::SystemClock());
  absl::Status graph =
      client->GetAttendanceReport({"u", "m", "r"}, true, absl::Now() + absl::Seconds(10))
          .status();
  EXPECT_EQ(graph.code(), absl::StatusCode::kUnavailable) << graph;
  EXPECT_EQ(::rollcall::testing::Reason(graph), "GRAPH_UNAVAILABLE");
  EXPECT_THAT(Message(graph), HasSubstr(says));
  EXPECT_THAT(Message(graph), Not(HasSubstr("squid-says-no")));
  ExpectNoProxyCredentials(Message(graph));
  for (const std::string& request : proxy.requests()) {
    EXPECT_THAT(request, Not(HasSubstr("static-token")));
    EXPECT_THAT(request, Not(HasSubstr("secret-1")));
  }
}

// ---------------------------------------------------------------------------------------------
// Hostile upstreams: what a compromised or misbehaving Graph (or anything on its path) may
// send, and the exact outcome of each. (An untrusted certificate is
// CurlTransportTls.VerifiesThePeerAndTheHostName.)

// A redirect from Graph, to any origin, is not followed: the bearer token (and the client
// secret, for the token endpoint) never reaches the other server, and the call fails clearly.
TEST(HostileUpstream, RedirectsAreNotFollowedAndCredentialsStayHome) {
  LocalHttpServer elsewhere([](const LocalHttpServer::Request&) {
    return Reply{LocalHttpServer::Response(200, R"({"id":"r"})",
                                           {{"Content-Type", "application/json"}})};
  });
  for (const int redirect : {301, 302, 303, 307, 308}) {
    SCOPED_TRACE(redirect);
    const std::string target = elsewhere.Url("/stolen");
    // The transport alone hands the 3xx back as it is.
    LocalHttpServer graph([&](const LocalHttpServer::Request& request) {
      if (request.method == "POST") {
        return Reply{LocalHttpServer::Response(
            200, R"({"token_type":"Bearer","expires_in":3599,"access_token":"home-token"})",
            {{"Content-Type", "application/json"}})};
      }
      return Reply{LocalHttpServer::Response(redirect, "", {{"Location", target}})};
    });
    absl::StatusOr<HttpResponse> response = MakeCurlTransport({})->Send(Get(graph.Url("/x")));
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->status, redirect);
    EXPECT_EQ(response->Header("location"), target);

    std::unique_ptr<GraphClient> client = GraphClientOver(graph);
    ASSERT_NE(client, nullptr);
    absl::Status status =
        client->GetAttendanceReport({"u", "m", "r"}, true, absl::Now() + absl::Seconds(10))
            .status();
    EXPECT_EQ(status.code(), absl::StatusCode::kUnknown) << status;
    EXPECT_EQ(::rollcall::testing::Reason(status), "GRAPH_ERROR");
    EXPECT_THAT(Message(status), HasSubstr("redirect, which Rollcall does not follow"));
    EXPECT_THAT(Message(status), HasSubstr("HTTP " + std::to_string(redirect)));
    EXPECT_THAT(Message(status), Not(HasSubstr("home-token")));
    // Graph saw the token; the other server saw nothing at all.
    const auto requests = graph.requests();
    ASSERT_EQ(requests.size(), 3u);  // the token, /x, the report: no retry of a redirect
    EXPECT_EQ(requests[2].Header("authorization"), "Bearer home-token");
  }

  // The token endpoint redirecting the POST (307 and 308 would repeat it, secret and all).
  for (const int redirect : {302, 307, 308}) {
    SCOPED_TRACE(redirect);
    LocalHttpServer login([&](const LocalHttpServer::Request&) {
      return Reply{LocalHttpServer::Response(redirect, "",
                                             {{"Location", elsewhere.Url("/token")}})};
    });
    std::shared_ptr<HttpTransport> transport = MakeCurlTransport({});
    TokenCredentialConfig options;
    options.authority_host = login.Url("/");
    options.tenant_id = "tenant-1";
    options.client_id = "client-1";
    options.client_secret = "home-secret";
    options.background_refresh = false;
    options.retry.max_attempts = 1;
    auto credential = MakeTokenCredential(options, transport, common::SystemClock());
    ASSERT_TRUE(credential.ok()) << credential.status();
    absl::Status status = (*credential)->GetToken(absl::Now() + absl::Seconds(10)).status();
    EXPECT_FALSE(status.ok());
    EXPECT_EQ(::rollcall::testing::Reason(status), "TOKEN_ENDPOINT_ERROR") << status;
    EXPECT_THAT(Message(status), HasSubstr(std::to_string(redirect)));
    EXPECT_THAT(Message(status), Not(HasSubstr("home-secret")));
    EXPECT_EQ(login.requests().size(), 1u);
  }
  EXPECT_EQ(elsewhere.connections_accepted(), 0);
  EXPECT_TRUE(elsewhere.requests().empty());
}

// The peak resident set size of this process, in bytes.
std::size_t PeakRss() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<std::size_t>(usage.ru_maxrss) * 1024;
}

// About 1 MiB of gzip that inflates to 1 GiB of zeros (a valid stream, CRC and all), made by
// Python's zlib: deflate cannot do better than about 1:1030, so this is the bomb's usual form.
std::string GzipBomb() {
  char dir_template[] = "/tmp/rollcall-bomb-XXXXXX";
  if (::mkdtemp(dir_template) == nullptr) return "";
  const std::string dir = dir_template;
  {
    std::ofstream script(dir + "/bomb.py");
    script << R"py(import struct, sys, zlib
chunk = bytes(1 << 20)
count = 1024
deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
block = deflate.compress(chunk) + deflate.flush(zlib.Z_FULL_FLUSH)
assert block == deflate.compress(chunk) + deflate.flush(zlib.Z_FULL_FLUSH)
crc = 0
for _ in range(count):
    crc = zlib.crc32(chunk, crc)
with open(sys.argv[1], "wb") as out:
    out.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + block * count + b"\x03\x00" +
              struct.pack("<II", crc, (count << 20) & 0xFFFFFFFF))
)py";
  }
  const std::string command =
      std::string(ROLLCALL_PYTHON3) + " " + dir + "/bomb.py " + dir + "/bomb.gz";
  std::string bomb;
  if (std::system(command.c_str()) == 0) {
    std::ifstream in(dir + "/bomb.gz", std::ios::binary);
    bomb.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  std::system(("rm -rf " + dir).c_str());
  return bomb;
}

TEST(HostileUpstream, AGzipBombIsCutAtTheByteCapInBoundedMemory) {
  const std::string bomb = GzipBomb();
  ASSERT_GT(bomb.size(), 500u << 10) << "python3 could not make the gzip bomb";
  ASSERT_LT(bomb.size(), 2u << 20);
  LocalHttpServer server([&](const LocalHttpServer::Request&) {
    return Reply{LocalHttpServer::Response(
        200, bomb, {{"Content-Type", "application/json"}, {"Content-Encoding", "gzip"}})};
  });
  CurlTransportOptions options;
  options.max_response_bytes = 4u << 20;  // above the compressed size: the inflated one trips it
  auto transport = MakeCurlTransport(options);
  const std::size_t rss_before = PeakRss();
  const absl::Time start = absl::Now();
  absl::StatusOr<HttpResponse> response = transport->Send(Get(server.Url("/report")));
  const absl::Duration took = absl::Now() - start;
  ASSERT_EQ(response.status().code(), absl::StatusCode::kResourceExhausted) << response.status();
  EXPECT_THAT(Message(response.status()), HasSubstr("response body exceeds 4194304 bytes"));
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_THAT(server.requests()[0].Header("accept-encoding"), HasSubstr("gzip"));
  // Inflating stopped at the cap: far from 1 GiB in memory, and no time spent on the rest.
  EXPECT_LT(PeakRss() - rss_before, std::size_t{64} << 20);
  EXPECT_LT(took, absl::Seconds(5));
}

TEST(HostileUpstream, AnEndlessBodyIsCutAtTheByteCap) {
  LocalHttpServer server([](const LocalHttpServer::Request&) {
    Reply reply;
    reply.raw = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                "Transfer-Encoding: chunked\r\n\r\n1\r\n[\r\n";
    reply.forever = "1000\r\n" + std::string(0x1000, ' ') + "\r\n";  // never the last chunk
    return reply;
  });
  CurlTransportOptions options;
  options.max_response_bytes = 1u << 20;
  auto transport = MakeCurlTransport(options);
  const absl::Time start = absl::Now();
  absl::StatusOr<HttpResponse> response =
      transport->Send(Get(server.Url("/endless"), absl::Seconds(30)));
  ASSERT_EQ(response.status().code(), absl::StatusCode::kResourceExhausted) << response.status();
  EXPECT_THAT(Message(response.status()), HasSubstr("response body exceeds 1048576 bytes"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
}

TEST(HostileUpstream, AnEndlessTrickleIsCutAtTheDeadline) {
  LocalHttpServer server([](const LocalHttpServer::Request&) {
    Reply reply;
    reply.raw = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                "Transfer-Encoding: chunked\r\n\r\n";
    reply.forever = "1\r\n \r\n";  // a byte every 20 ms: never idle, never done
    reply.forever_interval_ms = 20;
    return reply;
  });
  auto transport = MakeCurlTransport({});
  const absl::Time start = absl::Now();
  absl::StatusOr<HttpResponse> response =
      transport->Send(Get(server.Url("/trickle"), absl::Milliseconds(600)));
  const absl::Duration took = absl::Now() - start;
  ASSERT_EQ(response.status().code(), absl::StatusCode::kDeadlineExceeded) << response.status();
  EXPECT_GE(took, absl::Milliseconds(550));
  EXPECT_LT(took, absl::Seconds(5));
}

}  // namespace
}  // namespace rollcall::graph
