#pragma once
// RollcallServer: the gRPC server with everything around the service: the upstream executor,
// the report cache, health (grpc.health.v1), reflection, a maximum connection age so clients
// rebalance across replicas, gRPC's limits (max_concurrent_streams per connection, a resource
// quota of grpc_memory_quota bytes, max_send_message_bytes), the Prometheus endpoint
// (metrics_listen), and graceful shutdown.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/mutex.h"
#include "graph_client/delegated.h"
#include "graph_client/graph_client.h"
#include "grpcpp/grpcpp.h"
#include "service/attendance_service.h"
#include "service/caller_policy.h"
#include "service/config.h"
#include "service/log.h"
#include "service/metrics.h"
#include "service/redis_l2.h"
#include "service/reflection_v1.h"
#include "service/request_log.h"
#include "service/report_cache.h"
#include "service/upstream_executor.h"

namespace rollcall::service {

// The fully qualified service name, as health checks and reflection name it.
inline constexpr char kServiceName[] = "rollcall.v1.AttendanceReportService";

// Sends gRPC's own log lines (gpr_log) through `logger` as JSON lines, so that stderr carries one
// format. Process-wide and for good (gRPC's public API cannot restore its default); `logger` must
// be non-null and stay valid until the process exits (gRPC threads may log late).
void RouteGrpcLogs(Logger* logger);

// The gRPC port's credentials for `config`: plaintext (with a warning through `logger`) or TLS
// from the certificate and key files, re-read every tls_reload_interval, and mutual TLS with
// tls_client_ca_file. Errors: INVALID_ARGUMENT from CheckTransportSecurity, or naming the
// setting and file that is missing, holds no PEM certificate or key, or whose key is not the
// certificate's.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFor(
    const Config& config, Logger* logger);

struct ServerTuning {
  // When config.max_connection_age closes a connection, how long its calls in flight get.
  absl::Duration max_connection_age_grace = absl::Seconds(30);
  // Requests are three IDs of at most 1 KiB each; anything far larger is refused by gRPC.
  int max_receive_message_bytes = 64 * 1024;
  // The metrics endpoint's limits (its address is config.metrics_listen).
  std::size_t metrics_max_request_bytes = 8 * 1024;
  absl::Duration metrics_connection_timeout = absl::Seconds(5);
  // How often, at most, a call looks whether the caller policy file changed.
  absl::Duration caller_policy_poll_interval = absl::Seconds(1);
  // The version rollcall_build_info reports.
  std::string version = ROLLCALL_VERSION;
  // Health SERVING as soon as the server listens. False: NOT_SERVING until SetReady(true)
  // (rollcall_server: until the credential holds its first token).
  bool serving_at_start = true;
  // Delegated mode (config.delegated_mode): what turns a caller's user token into a Graph
  // client of that user; null: delegated mode is off.
  std::shared_ptr<graph::DelegatedGraph> delegated;
};

class RollcallServer {
 public:
  // Builds and starts the server on config.listen, and the metrics endpoint on
  // config.metrics_listen when that is set. `graph` must be non-null; `clock` and `logger` must
  // outlive the server. `metrics` is the Metrics object the server exposes and whose
  // rpc_observer() its service reports to; when null the server makes its own (pass one made
  // earlier when the Graph client must report to it too, as main.cc does). Errors: UNAVAILABLE
  // when an address cannot be bound; INVALID_ARGUMENT for transport settings that do not fit
  // together (CheckTransportSecurity), or a TLS file or the caller policy file that is missing
  // or does not parse (the message names the setting and the file).
  //
  // Transport security: TLS from config.tls_cert_file/tls_key_file through gRPC's file watcher
  // (re-read every tls_reload_interval: new connections get the new certificate, open ones
  // keep theirs); with tls_client_ca_file, mutual TLS (a client without a certificate from
  // that CA cannot connect); with caller_policy_file, the service checks each call's caller
  // (caller_policy.h). Plaintext only with config.plaintext, and a warning.
  static absl::StatusOr<std::unique_ptr<RollcallServer>> Start(
      const Config& config, std::shared_ptr<graph::GraphClient> graph, const common::Clock* clock,
      Logger* logger, const ServerTuning& tuning = ServerTuning(),
      std::shared_ptr<Metrics> metrics = nullptr);

  // Shutdown(now) if not shut down yet.
  ~RollcallServer();

  RollcallServer(const RollcallServer&) = delete;
  RollcallServer& operator=(const RollcallServer&) = delete;

  // The port actually bound (the OS's choice when config.listen's port was 0).
  int port() const { return port_; }
  // The metrics endpoint's port; 0 when metrics_listen is not set.
  int metrics_port() const { return metrics_port_; }

  // Where the service reports each answered RPC (latency histograms). Never null; lives as long
  // as the server.
  RpcObserver* rpc_observer() const { return metrics_.get(); }
  // The metrics the server exposes (the RPC and Graph call histograms, process metrics).
  Metrics& metrics() const { return *metrics_; }

  // Graceful shutdown. In order:
  //  1. new GetAttendanceReport calls that still reach the service are answered UNAVAILABLE
  //     (SHUTTING_DOWN);
  //  2. gRPC stops listening and sends every connection a GOAWAY, so clients take new calls
  //     elsewhere (a new connection is refused); calls in flight go on;
  //  3. health turns NOT_SERVING for every service (Watch streams are told, after their
  //     connection's GOAWAY);
  //  4. waits until no GetAttendanceReport call is in flight, or `deadline` (an instant of the
  //     server's clock, like every deadline in Rollcall);
  //  5. cancels whatever is left (calls past the deadline, health Watch and reflection
  //     streams) and closes every connection at once, without waiting for idle clients to
  //     acknowledge the GOAWAY (an idle gRPC client may take seconds to read it);
  //  6. loads not started yet are dropped without calling Graph; loads calling Graph are
  //     waited for until `deadline`;
  //  7. stops the metrics endpoint.
  // Returns true when everything stopped; false when Graph calls were still running at
  // `deadline` (they end by their own deadlines; the destructor waits for them).
  // Thread-safe; the first call does the work, later calls wait for it and return its result.
  bool Shutdown(absl::Time deadline);

  // Readiness: health SERVING (overall and for the service) or NOT_SERVING, e.g. while the
  // credential has no usable token. Ignored once shutdown has begun (health stays NOT_SERVING).
  // Thread-safe; any thread.
  void SetReady(bool ready);

  // Blocks until Shutdown() has been called and the server has stopped.
  void Wait();

  const ReportCache& cache() const { return *cache_; }
  const AttendanceReportServiceImpl& service() const { return *service_; }
  // The L2 tier; null without redis_url.
  const RedisL2* l2() const { return l2_.get(); }
  const UpstreamExecutor& executor() const { return *executor_; }

  // The caller policy in force; null without caller_policy_file.
  CallerPolicyFile* caller_policy() const { return caller_policy_.get(); }

  // The counters and gauges read from the components' Stats at each scrape.
  std::vector<prometheus::MetricFamily> CollectStats() const;

 private:
  RollcallServer(const Config& config, std::shared_ptr<const PageTokenSigner> page_tokens,
                 std::shared_ptr<CallerPolicyFile> caller_policy,
                 std::shared_ptr<graph::GraphClient> graph,
                 const common::Clock* clock, Logger* logger, const ServerTuning& tuning,
                 std::shared_ptr<Metrics> metrics);

  bool ShutdownOnce(absl::Time deadline);

  const common::Clock* const clock_;
  Logger* const logger_;
  const std::shared_ptr<graph::GraphClient> graph_;  // for its Stats()
  const std::shared_ptr<CallerPolicyFile> caller_policy_;  // shared with the service
  // Before the service, which reports to it; shared with whoever else reports to it.
  const std::shared_ptr<Metrics> metrics_;
  // The RPC observer the service is given: a log line per RPC, then the metrics.
  const std::unique_ptr<RequestLog> rpc_log_;
  // The L2 tier (null without redis_url); loads hold it too.
  const std::shared_ptr<RedisL2> l2_;
  // Declared in dependency order: destroyed metrics endpoint and server first, executor last.
  std::unique_ptr<UpstreamExecutor> executor_;
  std::unique_ptr<ReportCache> cache_;
  std::unique_ptr<AttendanceReportServiceImpl> service_;
  std::unique_ptr<ReflectionV1Service> reflection_v1_;  // v1alpha comes from gRPC's plugin
  std::unique_ptr<grpc::Server> server_;
  // The Stats collectable reads the members above; the endpoint holds it weakly and is stopped
  // (in Shutdown) before any of them goes.
  std::shared_ptr<CallbackCollectable> stats_collectable_;
  std::unique_ptr<MetricsEndpoint> metrics_endpoint_;
  int port_ = 0;
  int metrics_port_ = 0;

  common::Mutex mu_;
  common::CondVar shutdown_cv_{&mu_};
  bool shutdown_started_ ABSL_GUARDED_BY(mu_) = false;
  bool shutdown_done_ ABSL_GUARDED_BY(mu_) = false;
  bool shutdown_result_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace rollcall::service
