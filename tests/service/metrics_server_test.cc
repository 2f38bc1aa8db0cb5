// The metrics endpoint on its own: HTTP handling, limits, and robustness against whatever a
// client sends, over plain sockets.

#include "service/metrics_server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/service/http_test_client.h"

namespace rollcall::service {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

class MetricsEndpointTest : public ::testing::Test {
 protected:
  void Start(MetricsServer::Options options = {}) {
    if (options.listen.empty()) options.listen = "127.0.0.1:0";
    absl::StatusOr<std::unique_ptr<MetricsServer>> server = MetricsServer::Start(
        options,
        [this] {
          renders_.fetch_add(1);
          return absl::StrCat("# HELP demo_total A demo.\n# TYPE demo_total counter\ndemo_total ",
                              renders_.load(), "\n");
        },
        nullptr);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    ASSERT_GT(server_->port(), 0);
  }
  std::string Exchange(absl::string_view request, bool half_close = true) {
    return test::HttpExchange(server_->port(), request, half_close);
  }

  std::atomic<int> renders_{0};
  std::unique_ptr<MetricsServer> server_;
};

TEST_F(MetricsEndpointTest, GetMetricsServesTheRenderedText) {
  Start();
  const std::string answer = Exchange("GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n");
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(answer, HasSubstr("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
  EXPECT_THAT(answer, HasSubstr("Connection: close\r\n"));
  const std::string body = test::HttpBody(answer);
  EXPECT_THAT(answer, HasSubstr(absl::StrCat("Content-Length: ", body.size(), "\r\n")));
  EXPECT_EQ(body, "# HELP demo_total A demo.\n# TYPE demo_total counter\ndemo_total 1\n");

  // Each scrape renders again; a query string and HTTP/1.0 are fine; the connection may stay
  // open for writing (the server closes it).
  EXPECT_THAT(test::HttpBody(Exchange("GET /metrics?x=1 HTTP/1.0\r\n\r\n", false)),
              HasSubstr("demo_total 2\n"));
  // LF-only line ends are accepted.
  EXPECT_EQ(test::HttpStatus(Exchange("GET /metrics HTTP/1.1\n\n")), 200);
  // HEAD: the headers only.
  const std::string head = Exchange("HEAD /metrics HTTP/1.1\r\n\r\n");
  EXPECT_EQ(test::HttpStatus(head), 200);
  EXPECT_EQ(test::HttpBody(head), "");
  EXPECT_EQ(server_->GetStats().scrapes, 4u);
}

TEST_F(MetricsEndpointTest, OtherPathsAndMethods) {
  Start();
  EXPECT_EQ(test::HttpStatus(Exchange("GET / HTTP/1.1\r\n\r\n")), 404);
  EXPECT_EQ(test::HttpStatus(Exchange("GET /metrics/x HTTP/1.1\r\n\r\n")), 404);
  EXPECT_EQ(test::HttpStatus(Exchange("GET /favicon.ico HTTP/1.1\r\n\r\n")), 404);
  const std::string post =
      Exchange("POST /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_EQ(test::HttpStatus(post), 405);
  EXPECT_THAT(post, HasSubstr("Allow: GET, HEAD\r\n"));
  EXPECT_EQ(renders_.load(), 0);
}

TEST_F(MetricsEndpointTest, MalformedRequestsGet400) {
  Start();
  for (const std::string& request : std::vector<std::string>{
           "garbage\r\n\r\n",
           "GET\r\n\r\n",
           "GET /metrics\r\n\r\n",
           "GET /metrics HTTP/2.0\r\n\r\n",
           "GET metrics HTTP/1.1\r\n\r\n",
           "get /metrics HTTP/1.1\r\n\r\n",
           "GET  /metrics HTTP/1.1\r\n\r\n",
           "GET /met rics HTTP/1.1\r\n\r\n",
           std::string("GET /metrics\x00 HTTP/1.1\r\n\r\n", 25),
           "GET /metrics HTTP/1.1",            // then EOF: incomplete
           "GET /metrics HTTP/1.1\r\nHost: x",  // headers never end
           std::string("\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", 11),  // a TLS hello
           "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",                                // HTTP/2
       }) {
    EXPECT_EQ(test::HttpStatus(Exchange(request)), 400) << absl::CHexEscape(request);
  }
  // A bad request line is answered at once, without waiting for the headers or the close.
  EXPECT_EQ(test::HttpStatus(Exchange("BAD LINE\r\n", /*half_close=*/false)), 400);
  // Connecting and leaving without a byte gets nothing back.
  EXPECT_EQ(Exchange(""), "");
  EXPECT_EQ(test::HttpStatus(Exchange("GET /metrics HTTP/1.1\r\n\r\n")), 200);
}

TEST_F(MetricsEndpointTest, RequestsOverTheSizeCapGet431) {
  MetricsServer::Options options;
  options.max_request_bytes = 256;
  Start(options);
  EXPECT_EQ(test::HttpStatus(Exchange(absl::StrCat("GET /metrics HTTP/1.1\r\nX: ",
                                                   std::string(300, 'a'), "\r\n\r\n"))),
            431);
  EXPECT_EQ(test::HttpStatus(Exchange(absl::StrCat("GET /", std::string(300, 'a'),
                                                   " HTTP/1.1\r\n\r\n"))),
            431);
  // A client that keeps sending after the answer is drained a little, then cut off.
  const int fd = test::ConnectLoopback(server_->port());
  ASSERT_GE(fd, 0);
  test::SendAll(fd, std::string(300, 'a'));
  const std::string big(1 << 20, 'b');
  test::SendAll(fd, big);  // may fail once the server closes
  close(fd);
  EXPECT_EQ(test::HttpStatus(Exchange("GET /metrics HTTP/1.1\r\n\r\n")), 200);
}

TEST_F(MetricsEndpointTest, ASilentClientIsTimedOutWithoutHoldingUpOthers) {
  MetricsServer::Options options;
  options.connection_timeout = absl::Milliseconds(300);
  Start(options);
  const int silent = test::ConnectLoopback(server_->port());
  ASSERT_GE(silent, 0);
  const int partial = test::ConnectLoopback(server_->port());
  ASSERT_GE(partial, 0);
  test::SendAll(partial, "GET /metr");
  // Both are open; another client is served meanwhile.
  EXPECT_EQ(test::HttpStatus(Exchange("GET /metrics HTTP/1.1\r\n\r\n")), 200);
  // Then the server gives up on them: 408, and the connection closes (read returns).
  EXPECT_EQ(test::HttpStatus(test::ReadAll(silent)), 408);
  EXPECT_EQ(test::HttpStatus(test::ReadAll(partial)), 408);
  close(silent);
  close(partial);
}

TEST_F(MetricsEndpointTest, MoreConnectionsThanTheCapWaitTheirTurn) {
  MetricsServer::Options options;
  options.max_connections = 2;
  options.connection_timeout = absl::Milliseconds(300);
  Start(options);
  std::vector<int> idle;
  for (int i = 0; i < 4; ++i) {
    const int fd = test::ConnectLoopback(server_->port());
    ASSERT_GE(fd, 0);
    idle.push_back(fd);
  }
  // Served once the idle ones time out.
  EXPECT_EQ(test::HttpStatus(Exchange("GET /metrics HTTP/1.1\r\n\r\n")), 200);
  for (int fd : idle) close(fd);
}

TEST_F(MetricsEndpointTest, RandomBytesNeverCrashIt) {
  MetricsServer::Options options;
  options.max_request_bytes = 1024;
  Start(options);
  std::mt19937 random(1234);
  for (int i = 0; i < 200; ++i) {
    std::string request(random() % 1500, '\0');
    for (char& c : request) c = static_cast<char>(random() % 256);
    if (i % 3 == 0) request = "GET /metrics HTTP/1.1\r\n" + request;
    const int status = test::HttpStatus(Exchange(request));
    EXPECT_TRUE(status == 0 || status == 200 || status == 400 || status == 404 ||
                status == 405 || status == 431)
        << status;
  }
  EXPECT_EQ(test::HttpStatus(Exchange("GET /metrics HTTP/1.1\r\n\r\n")), 200);
}

TEST_F(MetricsEndpointTest, StopClosesOpenConnections) {
  Start();
  const int fd = test::ConnectLoopback(server_->port());
  ASSERT_GE(fd, 0);
  EXPECT_EQ(test::HttpStatus(Exchange("GET /metrics HTTP/1.1\r\n\r\n")), 200);  // accepted fd too
  server_->Stop();
  EXPECT_EQ(test::ReadAll(fd), "");  // closed, not left hanging
  close(fd);
  server_->Stop();  // idempotent
  EXPECT_LT(test::ConnectLoopback(server_->port()), 0);
}

TEST(MetricsServerStartTest, BadOrBusyAddresses) {
  for (const char* listen : {"nonsense", "127.0.0.1", ":80", "127.0.0.1:99999", "::1:80"}) {
    MetricsServer::Options options;
    options.listen = listen;
    EXPECT_EQ(MetricsServer::Start(options, [] { return std::string(); }, nullptr).status().code(),
              absl::StatusCode::kInvalidArgument)
        << listen;
  }
  MetricsServer::Options options;
  options.listen = "127.0.0.1:0";
  auto first = MetricsServer::Start(options, [] { return std::string(); }, nullptr);
  ASSERT_TRUE(first.ok());
  options.listen = absl::StrCat("127.0.0.1:", (*first)->port());
  EXPECT_EQ(MetricsServer::Start(options, [] { return std::string(); }, nullptr).status().code(),
            absl::StatusCode::kUnavailable);
  options.listen = "[::1]:0";
  auto v6 = MetricsServer::Start(options, [] { return std::string(); }, nullptr);
  if (v6.ok()) {  // hosts without IPv6 cannot bind it
    EXPECT_GT((*v6)->port(), 0);
  }
}

TEST(PrometheusTextTest, HelpTypeAndEscaping) {
  PrometheusText text;
  text.Counter("a_total", "Things.\nMore \\ things.", 3);
  text.Gauge("b", "A gauge.", 2.5);
  text.Gauge("c", "Whole.", 1024);
  text.Family("d_total", "counter", "By label.");
  text.Sample("d_total", "reason", "quote\" back\\ nl\n", 1);
  EXPECT_EQ(text.text(),
            "# HELP a_total Things.\\nMore \\\\ things.\n# TYPE a_total counter\na_total 3\n"
            "# HELP b A gauge.\n# TYPE b gauge\nb 2.5\n"
            "# HELP c Whole.\n# TYPE c gauge\nc 1024\n"
            "# HELP d_total By label.\n# TYPE d_total counter\n"
            "d_total{reason=\"quote\\\" back\\\\ nl\\n\"} 1\n");
}

}  // namespace
}  // namespace rollcall::service
