#include "service/server.h"

#include <atomic>
#include <utility>

#include <grpc/support/log.h>

#include "absl/memory/memory.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"

namespace rollcall::service {
namespace {

std::atomic<Logger*> g_grpc_logger{nullptr};

void LogGrpcLine(gpr_log_func_args* args) {
  Logger* logger = g_grpc_logger.load(std::memory_order_acquire);
  if (logger == nullptr) return;
  LogLevel level = LogLevel::kDebug;
  if (args->severity == GPR_LOG_SEVERITY_ERROR) level = LogLevel::kError;
  if (args->severity == GPR_LOG_SEVERITY_INFO) level = LogLevel::kInfo;
  if (!logger->Enabled(level)) return;
  logger->Log(level, "grpc",
              {{"message", args->message == nullptr ? "" : args->message},
               {"source", absl::StrCat(args->file == nullptr ? "" : args->file, ":", args->line)}});
}

}  // namespace

void RouteGrpcLogs(Logger* logger) {
  g_grpc_logger.store(logger, std::memory_order_release);
  gpr_set_log_function(LogGrpcLine);
}

RollcallServer::RollcallServer(const Config& config, std::shared_ptr<graph::GraphClient> graph,
                               const graph::Clock* clock, Logger* logger,
                               const ServerTuning& tuning)
    : logger_(logger),
      executor_(std::make_unique<UpstreamExecutor>(config.upstream_concurrency,
                                                   tuning.max_queued_loads)),
      cache_(std::make_unique<ReportCache>(
          ReportCache::Options{static_cast<std::size_t>(config.cache_max_bytes)}, clock,
          executor_.get())),
      service_(std::make_unique<AttendanceReportServiceImpl>(
          ServiceOptions{config.default_deadline,
                         TtlPolicy{config.cache_ttl, config.cache_ttl_recent,
                                   config.recent_report_age}},
          std::move(graph), cache_.get(), clock, logger)) {}

absl::StatusOr<std::unique_ptr<RollcallServer>> RollcallServer::Start(
    const Config& config, std::shared_ptr<graph::GraphClient> graph, const graph::Clock* clock,
    Logger* logger, const ServerTuning& tuning) {
  // Both are process-wide switches that take effect for servers built after them.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  auto server =
      absl::WrapUnique(new RollcallServer(config, std::move(graph), clock, logger, tuning));

  grpc::ServerBuilder builder;
  // TLS is a later issue: plaintext until then (see the comment on Start in server.h).
  builder.AddListeningPort(config.listen, grpc::InsecureServerCredentials(), &server->port_);
  builder.RegisterService(server->service_.get());
  builder.SetMaxReceiveMessageSize(tuning.max_receive_message_bytes);
  builder.AddChannelArgument(
      GRPC_ARG_MAX_CONNECTION_AGE_MS,
      static_cast<int>(absl::ToInt64Milliseconds(tuning.max_connection_age)));
  builder.AddChannelArgument(
      GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
      static_cast<int>(absl::ToInt64Milliseconds(tuning.max_connection_age_grace)));
  // Without this gRPC sets SO_REUSEPORT, and a second server on the same port would start
  // "successfully" and steal half the connections.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);

  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("could not listen on ", config.listen, " (address in use or invalid?)"));
  }
  grpc::HealthCheckServiceInterface* health = server->server_->GetHealthCheckService();
  if (health != nullptr) {
    health->SetServingStatus("", true);
    health->SetServingStatus(rollcall::v1::AttendanceReportService::service_full_name(), true);
  }
  return server;
}

RollcallServer::~RollcallServer() { Shutdown(absl::Now()); }

void RollcallServer::Shutdown(absl::Time deadline) {
  {
    absl::MutexLock lock(&mu_);
    if (shutdown_started_) return;
    shutdown_started_ = true;
  }
  if (server_ != nullptr) {
    if (grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService()) {
      // NOT_SERVING for every service, and no later change.
      health->Shutdown();
    }
    // Returns once every call has finished: loads in flight still need the executor.
    server_->Shutdown(absl::ToChronoTime(deadline));
  }
  executor_->Shutdown();
  absl::MutexLock lock(&mu_);
  shutdown_done_ = true;
}

void RollcallServer::Wait() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(&shutdown_done_));
}

}  // namespace rollcall::service
