#include "service/metrics.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netdb.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <exception>
#include <fstream>
#include <limits>
#include <sstream>

#include "absl/memory/memory.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "prometheus/exposer.h"
#include "prometheus/text_serializer.h"

namespace rollcall::service {
namespace {

// gRPC's canonical code names, by code.
constexpr std::array<absl::string_view, Metrics::kCodes> kCodeNames = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED"};

constexpr std::array<CacheOutcome, Metrics::kOutcomes> kOutcomeValues = {
    CacheOutcome::kNone, CacheOutcome::kHit, CacheOutcome::kNegativeHit, CacheOutcome::kMiss,
    CacheOutcome::kStale};

// The bucket bounds in nanoseconds, so that Observe compares integers.
struct BoundsNanos {
  std::array<int64_t, kLatencyBucketBounds.size()> nanos;
  BoundsNanos() {
    for (std::size_t i = 0; i < nanos.size(); ++i) {
      nanos[i] = static_cast<int64_t>(kLatencyBucketBounds[i] * 1e9 + 0.5);
    }
  }
};
const BoundsNanos& Bounds() {
  static const BoundsNanos bounds;
  return bounds;
}

prometheus::ClientMetric HistogramMetric(const LatencyHistogram& histogram,
                                         std::vector<prometheus::ClientMetric::Label> labels) {
  prometheus::ClientMetric metric;
  metric.label = std::move(labels);
  std::array<uint64_t, LatencyHistogram::kBuckets> cumulative;
  double sum = 0;
  histogram.Snapshot(cumulative.data(), &sum);
  metric.histogram.bucket.resize(LatencyHistogram::kBuckets);
  for (std::size_t i = 0; i < LatencyHistogram::kBuckets; ++i) {
    metric.histogram.bucket[i].cumulative_count = cumulative[i];
    metric.histogram.bucket[i].upper_bound = i < kLatencyBucketBounds.size()
                                                 ? kLatencyBucketBounds[i]
                                                 : std::numeric_limits<double>::infinity();
  }
  metric.histogram.sample_count = cumulative.back();
  metric.histogram.sample_sum = sum;
  return metric;
}

}  // namespace

// --- LatencyHistogram ------------------------------------------------------------------------

void LatencyHistogram::Observe(absl::Duration latency) {
  const int64_t nanos = std::max<int64_t>(0, absl::ToInt64Nanoseconds(latency));
  const auto& bounds = Bounds().nanos;
  // The first bucket whose upper bound is >= the value (Prometheus' "le").
  const std::size_t bucket = static_cast<std::size_t>(
      std::lower_bound(bounds.begin(), bounds.end(), nanos) - bounds.begin());
  buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_nanos_.fetch_add(static_cast<uint64_t>(nanos), std::memory_order_relaxed);
}

uint64_t LatencyHistogram::Count() const {
  uint64_t count = 0;
  for (const auto& bucket : buckets_) count += bucket.load(std::memory_order_relaxed);
  return count;
}

void LatencyHistogram::Snapshot(uint64_t* cumulative, double* sum_seconds) const {
  uint64_t running = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    cumulative[i] = running;
  }
  *sum_seconds = static_cast<double>(sum_nanos_.load(std::memory_order_relaxed)) / 1e9;
}

// --- Metrics ---------------------------------------------------------------------------------

Metrics::Metrics(std::string version)
    : version_(std::move(version)),
      rpc_(std::make_unique<std::array<LatencyHistogram, kRpcSeries>>()) {}

std::size_t Metrics::MethodIndex(absl::string_view method) {
  for (std::size_t i = 0; i < kMethods.size(); ++i) {
    if (kMethods[i] == method) return i;
  }
  return kMethods.size();  // "other"
}

void Metrics::OnRpcDone(const RpcRecord& record) {
  int code = static_cast<int>(record.code);
  if (code < 0 || code >= kCodes) code = static_cast<int>(grpc::StatusCode::UNKNOWN);
  int outcome = static_cast<int>(record.cache);
  if (outcome < 0 || outcome >= kOutcomes) outcome = 0;
  (*rpc_)[RpcIndex(MethodIndex(record.method), code, outcome)].Observe(record.latency);
}

uint64_t Metrics::RpcCount(absl::string_view method, int code, CacheOutcome outcome) const {
  if (code < 0 || code >= kCodes) return 0;
  return (*rpc_)[RpcIndex(MethodIndex(method), code, static_cast<int>(outcome))].Count();
}

void Metrics::OnGraphCall(const graph::GraphCallRecord& record) {
  LatencyHistogram* histogram = nullptr;
  {
    common::MutexLock lock(&graph_mu_);
    GraphKey key{std::string(record.endpoint), record.http_status};
    auto it = graph_.find(key);
    if (it == graph_.end() && graph_.size() >= kMaxGraphSeries) {
      key.endpoint = "other";
      it = graph_.find(key);
    }
    if (it == graph_.end()) {
      it = graph_.emplace(std::move(key), std::make_unique<LatencyHistogram>()).first;
    }
    histogram = it->second.get();
  }
  histogram->Observe(record.latency);
}

std::vector<prometheus::MetricFamily> Metrics::Collect() const {
  std::vector<prometheus::MetricFamily> families;

  prometheus::MetricFamily rpc;
  rpc.name = "rollcall_rpc_duration_seconds";
  rpc.help = "Time from an RPC's arrival to its answer, by method, gRPC code and cache outcome.";
  rpc.type = prometheus::MetricType::Histogram;
  for (std::size_t method = 0; method <= kMethods.size(); ++method) {
    for (int code = 0; code < kCodes; ++code) {
      for (int outcome = 0; outcome < kOutcomes; ++outcome) {
        const LatencyHistogram& histogram = (*rpc_)[RpcIndex(method, code, outcome)];
        if (histogram.Count() == 0) continue;
        rpc.metric.push_back(HistogramMetric(
            histogram,
            {{"method", std::string(method < kMethods.size() ? kMethods[method] : "other")},
             {"code", std::string(GrpcCodeName(code))},
             {"cache", std::string(CacheOutcomeName(kOutcomeValues[outcome]))}}));
      }
    }
  }
  families.push_back(std::move(rpc));

  prometheus::MetricFamily graph;
  graph.name = "rollcall_graph_call_duration_seconds";
  graph.help =
      "Time of one HTTP exchange with Graph or the token endpoint, by endpoint and HTTP status "
      "(0: no response).";
  graph.type = prometheus::MetricType::Histogram;
  {
    common::MutexLock lock(&graph_mu_);
    for (const auto& [key, histogram] : graph_) {
      graph.metric.push_back(HistogramMetric(
          *histogram, {{"endpoint", key.endpoint}, {"http_status", absl::StrCat(key.http_status)}}));
    }
  }
  // A stable order from scrape to scrape.
  std::sort(graph.metric.begin(), graph.metric.end(),
            [](const prometheus::ClientMetric& a, const prometheus::ClientMetric& b) {
              return a.label < b.label;
            });
  families.push_back(std::move(graph));

  prometheus::MetricFamily build;
  build.name = "rollcall_build_info";
  build.help = "Always 1; the version label names the running build.";
  build.type = prometheus::MetricType::Gauge;
  build.metric.emplace_back();
  build.metric.back().label = {{"version", version_}};
  build.metric.back().gauge.value = 1;
  families.push_back(std::move(build));

  for (prometheus::MetricFamily& family : CollectProcessMetrics()) {
    families.push_back(std::move(family));
  }
  return families;
}

// --- Process metrics -------------------------------------------------------------------------

std::vector<prometheus::MetricFamily> CollectProcessMetrics() {
  std::vector<prometheus::MetricFamily> families;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));

  // /proc/self/stat: the fields after the command name's closing parenthesis, from field 3.
  std::ifstream stat_file("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
  const std::size_t paren = stat.rfind(')');
  if (paren != std::string::npos && ticks > 0) {
    const std::vector<absl::string_view> fields =
        absl::StrSplit(absl::string_view(stat).substr(paren + 2), ' ', absl::SkipEmpty());
    // Field n of proc(5) is fields[n - 3].
    auto field = [&](std::size_t n, double* out) {
      return n - 3 < fields.size() && absl::SimpleAtod(fields[n - 3], out);
    };
    double utime = 0, stime = 0, start_ticks = 0, vsize = 0, rss_pages = 0;
    if (field(14, &utime) && field(15, &stime)) {
      families.push_back(CounterFamily("process_cpu_seconds_total",
                                       "User and system CPU time spent in seconds.",
                                       (utime + stime) / ticks));
    }
    if (field(23, &vsize)) {
      families.push_back(
          GaugeFamily("process_virtual_memory_bytes", "Virtual memory size in bytes.", vsize));
    }
    if (field(24, &rss_pages) && page > 0) {
      families.push_back(GaugeFamily("process_resident_memory_bytes",
                                     "Resident memory size in bytes.", rss_pages * page));
    }
    // Start time: boot time (btime in /proc/stat) plus the start in ticks since boot.
    std::ifstream proc_stat("/proc/stat");
    std::string line;
    while (field(22, &start_ticks) && std::getline(proc_stat, line)) {
      double boot = 0;
      if (absl::StartsWith(line, "btime ") && absl::SimpleAtod(line.substr(6), &boot)) {
        families.push_back(GaugeFamily("process_start_time_seconds",
                                       "Start time of the process since unix epoch in seconds.",
                                       boot + start_ticks / ticks));
        break;
      }
    }
  }

  if (DIR* dir = opendir("/proc/self/fd")) {
    double open = 0;
    while (const dirent* entry = readdir(dir)) {
      if (entry->d_name[0] != '.') ++open;
    }
    closedir(dir);
    families.push_back(GaugeFamily("process_open_fds", "Number of open file descriptors.",
                                   open - 1));  // not the one reading the folder
  }
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
    families.push_back(GaugeFamily("process_max_fds", "Maximum number of open file descriptors.",
                                   static_cast<double>(limit.rlim_cur)));
  }
  return families;
}

// --- Builders --------------------------------------------------------------------------------

absl::string_view GrpcCodeName(int code) {
  return code >= 0 && code < Metrics::kCodes ? kCodeNames[static_cast<std::size_t>(code)]
                                             : "UNKNOWN";
}

prometheus::MetricFamily CounterFamily(std::string name, std::string help, double value) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = prometheus::MetricType::Counter;
  family.metric.emplace_back();
  family.metric.back().counter.value = value;
  return family;
}

prometheus::MetricFamily GaugeFamily(std::string name, std::string help, double value) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = prometheus::MetricType::Gauge;
  family.metric.emplace_back();
  family.metric.back().gauge.value = value;
  return family;
}

prometheus::MetricFamily LabelledFamily(
    std::string name, prometheus::MetricType type, std::string help, const std::string& label,
    const std::vector<std::pair<std::string, double>>& samples) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  for (const auto& [label_value, value] : samples) {
    prometheus::ClientMetric metric;
    metric.label = {{label, label_value}};
    if (type == prometheus::MetricType::Counter) {
      metric.counter.value = value;
    } else {
      metric.gauge.value = value;
    }
    family.metric.push_back(std::move(metric));
  }
  return family;
}

std::string SerializeMetrics(const std::vector<prometheus::MetricFamily>& families) {
  return prometheus::TextSerializer().Serialize(families);
}

// --- MetricsEndpoint -------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::Start(
    const Options& options,
    const std::vector<std::weak_ptr<prometheus::Collectable>>& collectables) {
  const std::size_t colon = options.listen.rfind(':');
  uint32_t port = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(absl::string_view(options.listen).substr(colon + 1), &port) ||
      port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics address must be HOST:PORT: ", options.listen));
  }
  const std::string host = options.listen.substr(0, colon);
  if (absl::StrContains(host, ':') || absl::StartsWith(host, "[")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metrics address ", options.listen,
        ": IPv6 is not supported by the metrics endpoint's HTTP server (civetweb built without "
        "it); use an IPv4 address such as 0.0.0.0:", port));
  }
  // civetweb wants a numeric address: resolve a host name here.
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* resolved = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &resolved) != 0 || resolved == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("metrics address ", options.listen, ": cannot resolve ", host));
  }
  char numeric[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(resolved->ai_addr)->sin_addr, numeric,
            sizeof(numeric));
  freeaddrinfo(resolved);

  auto endpoint = absl::WrapUnique(new MetricsEndpoint());
  try {
    endpoint->exposer_ = std::make_unique<prometheus::Exposer>(std::vector<std::string>{
        "listening_ports", absl::StrCat(numeric, ":", port),
        "num_threads", "2",
        "request_timeout_ms", absl::StrCat(absl::ToInt64Milliseconds(options.request_timeout)),
        "max_request_size", absl::StrCat(options.max_request_bytes)});
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("could not listen on ", options.listen,
                                               " for metrics (address in use?): ", e.what()));
  }
  const std::vector<int> ports = endpoint->exposer_->GetListeningPorts();
  if (ports.empty() || ports.front() <= 0) {
    return absl::UnavailableError(
        absl::StrCat("could not listen on ", options.listen, " for metrics"));
  }
  endpoint->port_ = ports.front();
  for (const auto& collectable : collectables) {
    endpoint->exposer_->RegisterCollectable(collectable);
  }
  return endpoint;
}

MetricsEndpoint::~MetricsEndpoint() = default;

}  // namespace rollcall::service
