// service/metrics.h: the atomic latency histograms, both observers (their labels, their
// concurrency, the Graph series cap), process metrics, and the /metrics endpoint over plain
// sockets. The exposition is parsed by a real Prometheus parser in metrics_exposition_test.py.

#include "service/metrics.h"

#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <cerrno>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/http_test_client.h"

namespace rollcall::service {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const prometheus::MetricFamily* Find(const std::vector<prometheus::MetricFamily>& families,
                                     absl::string_view name) {
  for (const prometheus::MetricFamily& family : families) {
    if (family.name == name) return &family;
  }
  return nullptr;
}

TEST(LatencyHistogramTest, BucketsAreCumulativeWithInclusiveUpperBounds) {
  LatencyHistogram histogram;
  histogram.Observe(absl::Microseconds(50));   // le 0.0001
  histogram.Observe(absl::Microseconds(100));  // le 0.0001: the bound itself is in
  histogram.Observe(absl::Microseconds(101));  // le 0.00025
  histogram.Observe(absl::Milliseconds(30));   // le 0.05
  histogram.Observe(absl::Hours(1));           // +Inf only
  histogram.Observe(-absl::Seconds(1));        // clamped to 0: le 0.0001
  uint64_t cumulative[LatencyHistogram::kBuckets];
  double sum = 0;
  histogram.Snapshot(cumulative, &sum);
  EXPECT_EQ(cumulative[0], 3u);
  EXPECT_EQ(cumulative[1], 4u);
  EXPECT_EQ(cumulative[7], 4u);  // le 0.025
  EXPECT_EQ(cumulative[8], 5u);  // le 0.05
  EXPECT_EQ(cumulative[LatencyHistogram::kBuckets - 2], 5u);  // le 30
  EXPECT_EQ(cumulative[LatencyHistogram::kBuckets - 1], 6u);  // +Inf
  EXPECT_EQ(histogram.Count(), 6u);
  EXPECT_DOUBLE_EQ(sum, 3600 + 0.030 + 0.000251);
}

TEST(MetricsTest, RpcSeriesByMethodCodeAndCacheOutcome) {
  Metrics metrics("1.2.3");
  metrics.OnRpcDone({"GetAttendanceReport", grpc::StatusCode::OK, CacheOutcome::kHit,
                     absl::Microseconds(40)});
  metrics.OnRpcDone({"GetAttendanceReport", grpc::StatusCode::OK, CacheOutcome::kHit,
                     absl::Microseconds(60)});
  metrics.OnRpcDone({"GetAttendanceReport", grpc::StatusCode::NOT_FOUND,
                     CacheOutcome::kNegativeHit, absl::Microseconds(70)});
  metrics.OnRpcDone({"GetAttendanceReport", grpc::StatusCode::UNAVAILABLE, CacheOutcome::kStale,
                     absl::Milliseconds(800)});
  // A method without its own series, and a code outside 0..16 (counted as UNKNOWN).
  metrics.OnRpcDone({"Other", grpc::StatusCode::OK, CacheOutcome::kNone, absl::Milliseconds(1)});
  metrics.OnRpcDone({"GetAttendanceReport", grpc::StatusCode::DO_NOT_USE,
                     CacheOutcome::kNone, absl::Milliseconds(1)});

  EXPECT_EQ(metrics.RpcCount("GetAttendanceReport", 0, CacheOutcome::kHit), 2u);
  EXPECT_EQ(metrics.RpcCount("GetAttendanceReport", 5, CacheOutcome::kNegativeHit), 1u);
  EXPECT_EQ(metrics.RpcCount("GetAttendanceReport", 14, CacheOutcome::kStale), 1u);
  EXPECT_EQ(metrics.RpcCount("SomethingElse", 0, CacheOutcome::kNone), 1u);
  EXPECT_EQ(metrics.RpcCount("GetAttendanceReport", 2, CacheOutcome::kNone), 1u);
  EXPECT_EQ(metrics.RpcCount("GetAttendanceReport", 0, CacheOutcome::kMiss), 0u);

  const std::vector<prometheus::MetricFamily> families = metrics.Collect();
  const prometheus::MetricFamily* rpc = Find(families, "rollcall_rpc_duration_seconds");
  ASSERT_NE(rpc, nullptr);
  EXPECT_EQ(rpc->type, prometheus::MetricType::Histogram);
  EXPECT_EQ(rpc->metric.size(), 5u);  // only the series observed

  const std::string text = SerializeMetrics(families);
  EXPECT_THAT(text, HasSubstr("# TYPE rollcall_rpc_duration_seconds histogram\n"));
  EXPECT_THAT(text, HasSubstr("rollcall_rpc_duration_seconds_bucket{method=\"GetAttendanceReport\","
                              "code=\"OK\",cache=\"hit\",le=\"0.0001\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("rollcall_rpc_duration_seconds_count{method=\"GetAttendanceReport\","
                              "code=\"OK\",cache=\"hit\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("rollcall_rpc_duration_seconds_count{method=\"GetAttendanceReport\","
                              "code=\"NOT_FOUND\",cache=\"negative_hit\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("rollcall_rpc_duration_seconds_bucket{method=\"GetAttendanceReport\","
                              "code=\"UNAVAILABLE\",cache=\"stale\",le=\"0.5\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("rollcall_rpc_duration_seconds_bucket{method=\"GetAttendanceReport\","
                              "code=\"UNAVAILABLE\",cache=\"stale\",le=\"1\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("{method=\"other\",code=\"OK\",cache=\"none\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("{method=\"GetAttendanceReport\",code=\"UNKNOWN\",cache=\"none\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("rollcall_build_info{version=\"1.2.3\"} 1\n"));
}

TEST(MetricsTest, GraphSeriesByEndpointAndStatusAreCapped) {
  Metrics metrics("test");
  graph::GraphCallRecord record;
  record.endpoint = "attendance_report";
  record.http_status = 200;
  record.latency = absl::Milliseconds(120);
  metrics.OnGraphCall(record);
  record.http_status = 429;
  record.attempt = 1;
  metrics.OnGraphCall(record);
  record.endpoint = "token";
  record.http_status = 0;  // no response
  metrics.OnGraphCall(record);

  std::string text = SerializeMetrics(metrics.Collect());
  EXPECT_THAT(text, HasSubstr("# TYPE rollcall_graph_call_duration_seconds histogram\n"));
  EXPECT_THAT(text, HasSubstr("rollcall_graph_call_duration_seconds_count{endpoint="
                              "\"attendance_report\",http_status=\"200\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("rollcall_graph_call_duration_seconds_count{endpoint="
                              "\"attendance_report\",http_status=\"429\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("rollcall_graph_call_duration_seconds_bucket{endpoint=\"token\","
                              "http_status=\"0\",le=\"0.25\"} 1\n"));

  // Past the cap, new series fold into endpoint "other" (per status).
  for (int i = 0; i < 100; ++i) {
    const std::string endpoint = absl::StrCat("endpoint_", i);
    record.endpoint = endpoint;
    record.http_status = 200;
    metrics.OnGraphCall(record);
  }
  const std::vector<prometheus::MetricFamily> families = metrics.Collect();
  const prometheus::MetricFamily* graph =
      Find(families, "rollcall_graph_call_duration_seconds");
  ASSERT_NE(graph, nullptr);
  EXPECT_EQ(graph->metric.size(), Metrics::kMaxGraphSeries + 1);
  text = SerializeMetrics(families);
  EXPECT_THAT(text, HasSubstr("rollcall_graph_call_duration_seconds_count{endpoint=\"other\","
                              "http_status=\"200\"} 39\n"));
}

// Many threads observing while scrapes run: every observation is counted exactly once (and,
// under scripts/test's ThreadSanitizer stage, without a data race).
TEST(MetricsTest, ConcurrentObservationsAndScrapes) {
  Metrics metrics("test");
  constexpr int kThreads = 4;
  constexpr int kPerThread = 20000;
  std::atomic<bool> done{false};
  std::thread scraper([&] {
    while (!done.load()) {
      const std::string text = SerializeMetrics(metrics.Collect());
      ASSERT_THAT(text, HasSubstr("rollcall_build_info"));
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&metrics, t] {
      graph::GraphCallRecord graph_record;
      graph_record.endpoint = t % 2 == 0 ? "attendance_report" : "token";
      graph_record.http_status = 200;
      for (int i = 0; i < kPerThread; ++i) {
        metrics.OnRpcDone({"GetAttendanceReport", grpc::StatusCode::OK,
                           i % 2 == 0 ? CacheOutcome::kHit : CacheOutcome::kMiss,
                           absl::Microseconds(i % 1000)});
        if (i % 10 == 0) {
          graph_record.latency = absl::Milliseconds(i % 100);
          metrics.OnGraphCall(graph_record);
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  done.store(true);
  scraper.join();
  EXPECT_EQ(metrics.RpcCount("GetAttendanceReport", 0, CacheOutcome::kHit),
            uint64_t{kThreads} * kPerThread / 2);
  EXPECT_EQ(metrics.RpcCount("GetAttendanceReport", 0, CacheOutcome::kMiss),
            uint64_t{kThreads} * kPerThread / 2);
  const std::string text = SerializeMetrics(metrics.Collect());
  EXPECT_THAT(text, HasSubstr(absl::StrCat(
                        "rollcall_graph_call_duration_seconds_count{endpoint=\"token\","
                        "http_status=\"200\"} ",
                        kThreads / 2 * kPerThread / 10, "\n")));
}

TEST(ProcessMetricsTest, ReadFromProc) {
  const std::vector<prometheus::MetricFamily> families = CollectProcessMetrics();
  for (const char* name : {"process_cpu_seconds_total", "process_resident_memory_bytes",
                           "process_virtual_memory_bytes", "process_open_fds",
                           "process_start_time_seconds"}) {
    EXPECT_NE(Find(families, name), nullptr) << name;
  }
  const prometheus::MetricFamily* cpu = Find(families, "process_cpu_seconds_total");
  ASSERT_NE(cpu, nullptr);
  EXPECT_EQ(cpu->type, prometheus::MetricType::Counter);
  EXPECT_GE(cpu->metric[0].counter.value, 0);
  const prometheus::MetricFamily* rss = Find(families, "process_resident_memory_bytes");
  ASSERT_NE(rss, nullptr);
  EXPECT_GT(rss->metric[0].gauge.value, 1 << 20);
  const prometheus::MetricFamily* fds = Find(families, "process_open_fds");
  ASSERT_NE(fds, nullptr);
  EXPECT_GE(fds->metric[0].gauge.value, 3);  // stdin, stdout, stderr
  // This process started within the last day, and not in the future.
  const prometheus::MetricFamily* start = Find(families, "process_start_time_seconds");
  ASSERT_NE(start, nullptr);
  const double now = absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch());
  EXPECT_LE(start->metric[0].gauge.value, now + 1);
  EXPECT_GT(start->metric[0].gauge.value, now - 86400);
}

class MetricsEndpointTest : public ::testing::Test {
 protected:
  void Start() {
    options_.listen = "127.0.0.1:0";
    absl::StatusOr<std::unique_ptr<MetricsEndpoint>> endpoint =
        MetricsEndpoint::Start(options_, {collectable_, gone_});
    ASSERT_TRUE(endpoint.ok()) << endpoint.status();
    endpoint_ = std::move(*endpoint);
    ASSERT_GT(endpoint_->port(), 0);
  }
  std::string Exchange(absl::string_view request) {
    return test::HttpExchange(endpoint_->port(), request);
  }

  MetricsEndpoint::Options options_;  // a test changes it before Start()
  std::atomic<int> scrapes_{0};
  std::shared_ptr<CallbackCollectable> collectable_ = std::make_shared<CallbackCollectable>([this] {
    return std::vector<prometheus::MetricFamily>{
        CounterFamily("demo_total", "A demo.", ++scrapes_)};
  });
  // Registered, then dropped before any scrape: skipped.
  std::weak_ptr<prometheus::Collectable> gone_ = std::make_shared<CallbackCollectable>([] {
    return std::vector<prometheus::MetricFamily>{GaugeFamily("gone", "Never seen.", 1)};
  });
  std::unique_ptr<MetricsEndpoint> endpoint_;
};

TEST_F(MetricsEndpointTest, ServesGetMetricsFromTheCollectablesAtEachScrape) {
  Start();
  std::string answer = Exchange("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(test::HttpStatus(answer), 200) << answer;
  EXPECT_THAT(answer, HasSubstr("Content-Type: text/plain"));
  std::string body = test::HttpBody(answer);
  EXPECT_THAT(body, HasSubstr("# HELP demo_total A demo.\n# TYPE demo_total counter\n"
                              "demo_total 1\n"));
  EXPECT_THAT(body, Not(HasSubstr("gone")));
  answer = Exchange("GET /metrics HTTP/1.0\r\n\r\n");
  EXPECT_THAT(test::HttpBody(answer), HasSubstr("demo_total 2\n"));
}

TEST_F(MetricsEndpointTest, OtherPathsAndGarbage) {
  Start();
  EXPECT_EQ(test::HttpStatus(Exchange("GET / HTTP/1.1\r\n\r\n")), 404);
  EXPECT_EQ(test::HttpStatus(Exchange("GET /favicon.ico HTTP/1.1\r\n\r\n")), 404);
  EXPECT_EQ(test::HttpStatus(Exchange(std::string("\x16\x03\x01\x00\xa5\x01\x00", 7))), 400);
  EXPECT_EQ(test::HttpStatus(Exchange("garbage\r\n\r\n")), 400);
  // Connecting and leaving without a byte is harmless.
  EXPECT_EQ(Exchange(""), "");
  EXPECT_EQ(test::HttpStatus(Exchange("GET /metrics HTTP/1.1\r\n\r\n")), 200);
  EXPECT_EQ(scrapes_.load(), 1);
}

TEST_F(MetricsEndpointTest, StoppingClosesTheListener) {
  Start();
  const int port = endpoint_->port();
  EXPECT_EQ(test::HttpStatus(Exchange("GET /metrics HTTP/1.1\r\n\r\n")), 200);
  endpoint_.reset();
  EXPECT_LT(test::ConnectLoopback(port), 0);
}

// A client that sends part of a request and then nothing is cut off once request_timeout has
// passed: the endpoint closes the connection, answering nothing and scraping nothing. The test
// waits for that close (a signal from the server); its socket's 30 s read timeout only tells a
// hang from a close, 150 times the 200 ms under test.
TEST_F(MetricsEndpointTest, AClientThatStallsMidRequestIsCutOffAtTheRequestTimeout) {
  options_.request_timeout = absl::Milliseconds(200);
  Start();
  const int fd = test::ConnectLoopback(endpoint_->port(), /*timeout_seconds=*/30);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(test::SendAll(fd, "GET /metrics HTTP/1.1\r\nHost: x\r\n"));  // no blank line
  std::string answer;
  char buffer[4096];
  ssize_t n;
  while ((n = recv(fd, buffer, sizeof(buffer), 0)) > 0) answer.append(buffer, n);
  const int error = n < 0 ? errno : 0;
  close(fd);
  EXPECT_TRUE(n == 0 || error == ECONNRESET)
      << "the connection was not closed by the endpoint: " << std::strerror(error);
  EXPECT_NE(test::HttpStatus(answer), 200) << answer;
  EXPECT_EQ(scrapes_.load(), 0);
  // The endpoint goes on serving others.
  EXPECT_EQ(test::HttpStatus(Exchange("GET /metrics HTTP/1.1\r\n\r\n")), 200);
}

// A request larger than max_request_bytes is refused without a scrape (civetweb answers 400
// Bad Request), while one just under the limit is served.
TEST_F(MetricsEndpointTest, ARequestBeyondMaxRequestBytesIsRefused) {
  options_.max_request_bytes = 1024;
  Start();
  const auto padded = [](std::size_t padding) {
    return absl::StrCat("GET /metrics HTTP/1.1\r\nX-Padding: ", std::string(padding, 'a'),
                        "\r\n\r\n");
  };
  const std::string answer = Exchange(padded(4096));
  EXPECT_EQ(test::HttpStatus(answer), 400) << answer;
  EXPECT_EQ(scrapes_.load(), 0);
  EXPECT_EQ(test::HttpStatus(Exchange(padded(512))), 200);
  EXPECT_EQ(scrapes_.load(), 1);
}

TEST(MetricsEndpointStartTest, BadBusyOrIpv6Addresses) {
  for (const char* listen : {"nonsense", "127.0.0.1", ":80", "127.0.0.1:99999", "[::1]:0"}) {
    MetricsEndpoint::Options options;
    options.listen = listen;
    EXPECT_EQ(MetricsEndpoint::Start(options, {}).status().code(),
              absl::StatusCode::kInvalidArgument)
        << listen;
  }
  MetricsEndpoint::Options options;
  options.listen = "127.0.0.1:0";
  absl::StatusOr<std::unique_ptr<MetricsEndpoint>> first = MetricsEndpoint::Start(options, {});
  ASSERT_TRUE(first.ok()) << first.status();
  options.listen = absl::StrCat("127.0.0.1:", (*first)->port());
  EXPECT_EQ(MetricsEndpoint::Start(options, {}).status().code(), absl::StatusCode::kUnavailable);
  // A host name is resolved to its IPv4 address.
  options.listen = "localhost:0";
  absl::StatusOr<std::unique_ptr<MetricsEndpoint>> named = MetricsEndpoint::Start(options, {});
  ASSERT_TRUE(named.ok()) << named.status();
  EXPECT_GT((*named)->port(), 0);
}

}  // namespace
}  // namespace rollcall::service
