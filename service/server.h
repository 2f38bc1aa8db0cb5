#pragma once
// RollcallServer: the gRPC server with everything around the service: the upstream executor,
// the report cache, health (grpc.health.v1), reflection, a maximum connection age so clients
// rebalance across replicas, and graceful shutdown.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "graph_client/clock.h"
#include "graph_client/graph_client.h"
#include "grpcpp/grpcpp.h"
#include "service/attendance_service.h"
#include "service/config.h"
#include "service/log.h"
#include "service/report_cache.h"
#include "service/upstream_executor.h"

namespace rollcall::service {

// The fully qualified service name, as health checks and reflection name it.
inline constexpr char kServiceName[] = "rollcall.v1.AttendanceReportService";

// Sends gRPC's own log lines (gpr_log) through `logger` as JSON lines, so that stderr carries one
// format. Process-wide and for good (gRPC's public API cannot restore its default); `logger` must
// be non-null and stay valid until the process exits (gRPC threads may log late).
void RouteGrpcLogs(Logger* logger);

struct ServerTuning {
  // Connections are closed (with GOAWAY) after this long, so that clients re-resolve and
  // spread over replicas that Kubernetes added; in-flight calls get max_connection_age_grace.
  absl::Duration max_connection_age = absl::Minutes(5);
  absl::Duration max_connection_age_grace = absl::Seconds(30);
  // Requests are three IDs of at most 1 KiB each; anything far larger is refused by gRPC.
  int max_receive_message_bytes = 64 * 1024;
  // Loads waiting for an upstream thread beyond this many are refused (UNAVAILABLE).
  std::size_t max_queued_loads = 10000;
};

class RollcallServer {
 public:
  // Builds and starts the server on config.listen. `graph` must be non-null; `clock` and
  // `logger` must outlive the server. Errors: UNAVAILABLE when the address cannot be bound.
  //
  // Transport security: insecure (plaintext) credentials for now. Inbound TLS/mTLS and caller
  // allow-lists are a later issue (see ARCHITECTURE.md, "confused deputy"); until then, expose
  // the port only inside the cluster's network policy.
  static absl::StatusOr<std::unique_ptr<RollcallServer>> Start(
      const Config& config, std::shared_ptr<graph::GraphClient> graph, const graph::Clock* clock,
      Logger* logger, const ServerTuning& tuning = ServerTuning());

  // Shutdown(now) if not shut down yet.
  ~RollcallServer();

  RollcallServer(const RollcallServer&) = delete;
  RollcallServer& operator=(const RollcallServer&) = delete;

  // The port actually bound (the OS's choice when config.listen's port was 0).
  int port() const { return port_; }

  // Sets health to NOT_SERVING, stops accepting calls, lets calls in flight finish until
  // `deadline` (then cancels them; their Graph loads still end, bounded by their own
  // deadlines), then stops the upstream executor. Thread-safe; the first call does the work,
  // later calls return at once.
  void Shutdown(absl::Time deadline);

  // Blocks until Shutdown() has been called and the server has stopped.
  void Wait();

  const ReportCache& cache() const { return *cache_; }
  const AttendanceReportServiceImpl& service() const { return *service_; }

 private:
  RollcallServer(const Config& config, std::shared_ptr<graph::GraphClient> graph,
                 const graph::Clock* clock, Logger* logger, const ServerTuning& tuning);

  Logger* const logger_;
  // Declared in dependency order: destroyed server first, executor last.
  std::unique_ptr<UpstreamExecutor> executor_;
  std::unique_ptr<ReportCache> cache_;
  std::unique_ptr<AttendanceReportServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;

  absl::Mutex mu_;
  bool shutdown_started_ ABSL_GUARDED_BY(mu_) = false;
  bool shutdown_done_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace rollcall::service
