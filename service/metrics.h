#pragma once
// Rollcall's Prometheus metrics, on prometheus-cpp.
//
// Metrics holds what only it can count, and is the observer of both seams:
//   - RPC latency histograms by method, gRPC code and cache outcome (RpcObserver). OnRpcDone
//     runs on every cache hit, so it takes no lock and allocates nothing: every label
//     combination (method x code x outcome) is preallocated, and an observation is two relaxed
//     atomic increments (its bucket and the sum);
//   - Graph call latency histograms by endpoint and HTTP status (graph::GraphCallObserver);
//     those label values are open sets, so a short mutex guards the lookup of the series (never
//     the observation), and at most kMaxGraphSeries series exist (more fold into endpoint
//     "other");
//   - process metrics read from /proc at scrape time, and rollcall_build_info.
// It is a prometheus::Collectable; everything is read at scrape time.
//
// MetricsEndpoint serves GET /metrics with prometheus-cpp's Exposer (civetweb) for any set of
// Collectables; RollcallServer registers Metrics and a Collectable of its components' Stats.
// Every metric family the server emits is listed in service/metrics.md (a test checks it).

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/mutex.h"
#include "graph_client/graph_call_observer.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"
#include "service/rpc_observer.h"

namespace prometheus {
class Exposer;
}  // namespace prometheus

namespace rollcall::service {

// The upper bounds (seconds) of every latency histogram's buckets, +Inf aside: from 100 µs (a
// cache hit) to 30 s (a Graph call at its timeout).
inline constexpr std::array<double, 17> kLatencyBucketBounds = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30};

// A histogram over kLatencyBucketBounds in atomics. Observe is lock-free (two relaxed
// fetch_adds) and safe from any thread. Snapshot reads each bucket once and derives the count
// from them, so the count always equals the +Inf bucket; only the sum may be off by an
// observation in progress.
class LatencyHistogram {
 public:
  static constexpr std::size_t kBuckets = kLatencyBucketBounds.size() + 1;  // +Inf

  void Observe(absl::Duration latency);
  // Observations so far (the sum of the buckets).
  uint64_t Count() const;
  // Cumulative buckets, count and sum, as prometheus-cpp serializes them.
  void Snapshot(uint64_t* cumulative, double* sum_seconds) const;

 private:
  std::array<std::atomic<uint64_t>, kBuckets> buckets_{};
  std::atomic<uint64_t> sum_nanos_{0};
};

class Metrics final : public RpcObserver,
                      public graph::GraphCallObserver,
                      public prometheus::Collectable {
 public:
  // Methods with their own preallocated series; any other name is counted as "other".
  static constexpr std::array<absl::string_view, 5> kMethods = {
      "GetAttendanceReport", "ListAttendanceReports", "ListAttendanceRecords",
      "StreamAttendanceRecords", "ResolveOnlineMeeting"};
  static constexpr int kCodes = 17;     // grpc::StatusCode 0..16; others count as UNKNOWN
  static constexpr int kOutcomes = 5;   // CacheOutcome
  static constexpr std::size_t kMaxGraphSeries = 64;

  // `version` is rollcall_build_info's version label.
  explicit Metrics(std::string version);
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // RpcObserver: lock-free, allocation-free.
  void OnRpcDone(const RpcRecord& record) override;
  // graph::GraphCallObserver: a short lock to find the series, then lock-free.
  void OnGraphCall(const graph::GraphCallRecord& record) override;

  // prometheus::Collectable: the RPC and Graph histograms (series observed at least once),
  // process metrics and build info.
  std::vector<prometheus::MetricFamily> Collect() const override;

  // Observations of one RPC series so far (for tests).
  uint64_t RpcCount(absl::string_view method, int code, CacheOutcome outcome) const;

 private:
  static constexpr std::size_t kRpcSeries = (kMethods.size() + 1) * kCodes * kOutcomes;
  static std::size_t RpcIndex(std::size_t method, int code, int outcome) {
    return (method * kCodes + static_cast<std::size_t>(code)) * kOutcomes +
           static_cast<std::size_t>(outcome);
  }
  static std::size_t MethodIndex(absl::string_view method);

  const std::string version_;
  std::unique_ptr<std::array<LatencyHistogram, kRpcSeries>> rpc_;

  struct GraphKey {
    std::string endpoint;
    long http_status;
    template <typename H>
    friend H AbslHashValue(H h, const GraphKey& key) {
      return H::combine(std::move(h), key.endpoint, key.http_status);
    }
    bool operator==(const GraphKey& other) const {
      return endpoint == other.endpoint && http_status == other.http_status;
    }
  };
  mutable common::Mutex graph_mu_;
  // Series are only added, never removed, so a pointer found under the lock stays valid.
  absl::flat_hash_map<GraphKey, std::unique_ptr<LatencyHistogram>> graph_
      ABSL_GUARDED_BY(graph_mu_);
};

// process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
// process_open_fds, process_max_fds and process_start_time_seconds, from /proc/self (the names
// Prometheus' client libraries use). A value /proc cannot give is left out.
std::vector<prometheus::MetricFamily> CollectProcessMetrics();

// gRPC's canonical name of status code `code` (0..16; "UNKNOWN" otherwise), as the `code` label.
absl::string_view GrpcCodeName(int code);

// Builders for the families a Collectable returns.
prometheus::MetricFamily CounterFamily(std::string name, std::string help, double value);
prometheus::MetricFamily GaugeFamily(std::string name, std::string help, double value);
// One family with one label: a sample per (label value, value).
prometheus::MetricFamily LabelledFamily(std::string name, prometheus::MetricType type,
                                        std::string help, const std::string& label,
                                        const std::vector<std::pair<std::string, double>>& samples);

// A Collectable whose families a function builds at each scrape.
class CallbackCollectable final : public prometheus::Collectable {
 public:
  using Collector = std::function<std::vector<prometheus::MetricFamily>()>;
  explicit CallbackCollectable(Collector collector) : collector_(std::move(collector)) {}
  std::vector<prometheus::MetricFamily> Collect() const override { return collector_(); }

 private:
  const Collector collector_;
};

// Prometheus' text format (0.0.4) of `families`, as GET /metrics serves it.
std::string SerializeMetrics(const std::vector<prometheus::MetricFamily>& families);

// GET /metrics over plain HTTP, on prometheus-cpp's Exposer. Other paths are answered 404,
// requests that are not HTTP 400. The scrape is unauthenticated: bind it to an address only the
// cluster reaches.
class MetricsEndpoint {
 public:
  struct Options {
    // HOST:PORT with an IPv4 address or a host name; port 0 lets the OS choose (see port()).
    // Debian's civetweb, under the Exposer, is built without IPv6: an IPv6 host is an error.
    std::string listen;
    // How long one request may take to arrive and be answered.
    absl::Duration request_timeout = absl::Seconds(5);
    // The largest request (line and headers) read.
    std::size_t max_request_bytes = 8 * 1024;
  };

  // Binds and starts serving `collectables` (held weakly: one that is gone is skipped).
  // Errors: INVALID_ARGUMENT for an address that is not HOST:PORT or is IPv6; UNAVAILABLE when
  // it cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetricsEndpoint>> Start(
      const Options& options,
      const std::vector<std::weak_ptr<prometheus::Collectable>>& collectables);

  // Stops serving (a scrape in progress finishes first).
  ~MetricsEndpoint();

  int port() const { return port_; }

 private:
  MetricsEndpoint() = default;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;
};

}  // namespace rollcall::service
