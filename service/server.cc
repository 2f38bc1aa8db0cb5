#include "service/server.h"

#include <grpc/grpc.h>
#include <grpc/support/log.h>
#include <grpc/support/time.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <utility>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "absl/memory/memory.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "service/reflection_v1.h"
#include "service/request_log.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_credentials_options.h"

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

// A PEM file's objects, read with OpenSSL, so that a wrong path or a broken file stops the
// start with a message naming the setting (gRPC's file watcher would only log and serve
// nothing). Each check returns the problem, or OK.
using Bio = std::unique_ptr<BIO, decltype(&BIO_free)>;

absl::Status PemProblem(absl::string_view setting, const std::string& path,
                        absl::string_view what) {
  ERR_clear_error();
  return absl::InvalidArgumentError(absl::StrCat(setting, " ", path, ": ", what));
}

absl::StatusOr<std::unique_ptr<X509, decltype(&X509_free)>> ReadCertificates(
    absl::string_view setting, const std::string& path, int* count) {
  Bio bio(BIO_new_file(path.c_str(), "r"), BIO_free);
  if (bio == nullptr) return PemProblem(setting, path, "cannot be read (missing?)");
  std::unique_ptr<X509, decltype(&X509_free)> first(nullptr, X509_free);
  *count = 0;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    if (first == nullptr) {
      first.reset(cert);
    } else {
      X509_free(cert);
    }
    ++*count;
  }
  if (*count == 0) return PemProblem(setting, path, "holds no PEM certificate");
  ERR_clear_error();  // the end of the file
  return first;
}

absl::Status CheckTlsFiles(const Config& config) {
  int count = 0;
  auto cert = ReadCertificates("tls_cert_file", config.tls_cert_file, &count);
  if (!cert.ok()) return cert.status();
  Bio bio(BIO_new_file(config.tls_key_file.c_str(), "r"), BIO_free);
  if (bio == nullptr) {
    return PemProblem("tls_key_file", config.tls_key_file, "cannot be read (missing?)");
  }
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
  if (key == nullptr) {
    return PemProblem("tls_key_file", config.tls_key_file,
                      "holds no unencrypted PEM private key");
  }
  if (X509_check_private_key(cert->get(), key.get()) != 1) {
    return PemProblem("tls_key_file", config.tls_key_file,
                      absl::StrCat("is not the key of the certificate in tls_cert_file ",
                                   config.tls_cert_file));
  }
  if (!config.tls_client_ca_file.empty()) {
    auto ca = ReadCertificates("tls_client_ca_file", config.tls_client_ca_file, &count);
    if (!ca.ok()) return ca.status();
  }
  return absl::OkStatus();
}

ServiceOptions ServiceOptionsFor(const Config& config,
                                 std::shared_ptr<const PageTokenSigner> page_tokens,
                                 std::shared_ptr<CallerPolicyFile> caller_policy,
                                 std::shared_ptr<RedisL2> l2) {
  ServiceOptions options;
  options.l2 = std::move(l2);
  options.default_deadline = config.default_deadline;
  options.ttl = TtlPolicy{config.cache_ttl, config.cache_ttl_recent, config.recent_report_age};
  options.reports_list_ttl = config.reports_list_ttl;
  options.meeting_lookup_ttl = config.meeting_lookup_ttl;
  options.page_tokens = std::move(page_tokens);
  options.caller_policy = std::move(caller_policy);
  options.max_reply_bytes = static_cast<std::size_t>(config.max_send_message_bytes);
  options.max_reply_memory = static_cast<std::size_t>(config.max_reply_memory);
  return options;
}

// The L2 tier of redis_url (already checked by LoadConfig; the password file by Start); null
// without one.
std::shared_ptr<RedisL2> MakeL2(const Config& config, const common::Clock* clock,
                                Logger* logger) {
  if (config.redis_url.empty()) return nullptr;
  absl::StatusOr<RedisAddress> address = ParseRedisUrl(config.redis_url);
  if (!address.ok()) return nullptr;
  RedisL2::Options options;
  options.address = *address;
  options.password_file = config.redis_password_file;
  options.timeout = config.redis_timeout;
  options.lease_ttl = config.redis_lease_ttl;
  options.negative_ttl = config.negative_cache_ttl;
  // Replicas share values only when they read the same tenant through the same Graph version
  // (v1.0 and beta answer with different shapes).
  options.tenant = absl::StrCat(config.tenant_id, ":", config.graph_version);
  options.replica_id = MakeReplicaId();
  logger->Info("redis L2 cache on",
               {{"redis_url", config.redis_url},
                {"replica_id", options.replica_id},
                {"redis_timeout", absl::FormatDuration(options.timeout)},
                {"redis_lease_ttl", absl::FormatDuration(options.lease_ttl)}});
  return std::make_shared<RedisL2>(std::move(options), clock, logger);
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFor(
    const Config& config, Logger* logger) {
  absl::Status status = CheckTransportSecurity(config);
  if (!status.ok()) return status;
  if (config.plaintext) {
    logger->Warn("plaintext: the gRPC port serves without TLS, and anyone who reaches it can "
                 "read every report Rollcall can read; for tests and local use only (set "
                 "ROLLCALL_TLS_CERT_FILE and ROLLCALL_TLS_KEY_FILE to serve TLS)",
                 {{"listen", config.listen}});
    return grpc::InsecureServerCredentials();
  }
  status = CheckTlsFiles(config);
  if (!status.ok()) return status;
  // Whole seconds, at least one.
  const auto interval = static_cast<unsigned int>(std::clamp<int64_t>(
      absl::ToInt64Seconds(absl::Ceil(config.tls_reload_interval, absl::Seconds(1))), 1,
      std::numeric_limits<int>::max()));
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      config.tls_key_file, config.tls_cert_file, config.tls_client_ca_file, interval);
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (!config.tls_client_ca_file.empty()) {
    options.watch_root_certs();
    options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  } else {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  std::shared_ptr<grpc::ServerCredentials> credentials =
      grpc::experimental::TlsServerCredentials(options);
  if (credentials == nullptr) {
    return absl::InvalidArgumentError("gRPC refused the TLS settings");
  }
  logger->Info(config.tls_client_ca_file.empty() ? "serving TLS" : "serving mutual TLS",
               {{"tls_cert_file", config.tls_cert_file},
                {"tls_client_ca_file", config.tls_client_ca_file},
                {"tls_reload_interval", absl::StrCat(interval, "s")}});
  return credentials;
}

void RouteGrpcLogs(Logger* logger) {
  g_grpc_logger.store(logger, std::memory_order_release);
  gpr_set_log_function(LogGrpcLine);
}

RollcallServer::RollcallServer(const Config& config,
                               std::shared_ptr<const PageTokenSigner> page_tokens,
                               std::shared_ptr<CallerPolicyFile> caller_policy,
                               std::shared_ptr<graph::GraphClient> graph,
                               const common::Clock* clock, Logger* logger,
                               const ServerTuning& tuning, std::shared_ptr<Metrics> metrics)
    : clock_(clock),
      logger_(logger),
      graph_(graph),
      caller_policy_(caller_policy),
      metrics_(metrics != nullptr ? std::move(metrics) : std::make_shared<Metrics>(tuning.version)),
      rpc_log_(std::make_unique<RequestLog>(logger, metrics_.get(), nullptr)),
      l2_(MakeL2(config, clock, logger)),
      executor_(std::make_unique<UpstreamExecutor>(
          config.upstream_concurrency, static_cast<std::size_t>(config.upstream_queue), clock)),
      cache_(std::make_unique<ReportCache>(
          ReportCache::Options{static_cast<std::size_t>(config.cache_max_bytes),
                               config.negative_cache_ttl, config.stale_if_error},
          clock, executor_.get(), logger)),
      service_(std::make_unique<AttendanceReportServiceImpl>(
          [&] {
            ServiceOptions options =
                ServiceOptionsFor(config, std::move(page_tokens), std::move(caller_policy), l2_);
            options.delegated_mode = config.delegated_mode;
            options.delegated = tuning.delegated;
            options.exchange_executor = executor_.get();
            return options;
          }(),
          std::move(graph), cache_.get(), clock, logger, rpc_log_.get())) {}

absl::StatusOr<std::unique_ptr<RollcallServer>> RollcallServer::Start(
    const Config& config, std::shared_ptr<graph::GraphClient> graph, const common::Clock* clock,
    Logger* logger, const ServerTuning& tuning, std::shared_ptr<Metrics> metrics) {
  // Both are process-wide switches that take effect for servers built after them.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  // Transport security first: a server that may not serve says so before anything else.
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      ServerCredentialsFor(config, logger);
  if (!credentials.ok()) return credentials.status();

  std::shared_ptr<const PageTokenSigner> page_tokens;
  if (config.page_token_key_file.empty()) {
    logger->Warn("page_token_key_file is not set: ListAttendanceRecords page tokens are signed "
                 "with a random key and work on this process alone; give every replica the "
                 "same key file");
    page_tokens = std::make_shared<const PageTokenSigner>(PageTokenSigner::Random());
  } else {
    absl::StatusOr<PageTokenSigner> signer =
        PageTokenSigner::FromFile(config.page_token_key_file);
    if (!signer.ok()) return signer.status();
    page_tokens = std::make_shared<const PageTokenSigner>(*std::move(signer));
  }
  if (!config.redis_url.empty()) {
    absl::StatusOr<RedisAddress> address = ParseRedisUrl(config.redis_url);
    if (!address.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("redis_url: ", address.status().message()));
    }
    if (!config.redis_password_file.empty()) {
      absl::StatusOr<RedisCredentials> credentials =
          ReadRedisPasswordFile(config.redis_password_file);
      if (!credentials.ok()) return credentials.status();
    }
  }
  std::shared_ptr<CallerPolicyFile> caller_policy;
  if (!config.caller_policy_file.empty()) {
    absl::StatusOr<std::unique_ptr<CallerPolicyFile>> file = CallerPolicyFile::Open(
        config.caller_policy_file, clock, logger, tuning.caller_policy_poll_interval);
    if (!file.ok()) return file.status();
    caller_policy = std::move(*file);
    logger->Info("caller policy loaded",
                 {{"file", config.caller_policy_file},
                  {"callers", absl::StrCat(caller_policy->Current()->size())}});
  } else if (!config.tls_client_ca_file.empty()) {
    logger->Warn("tls_client_ca_file without caller_policy_file: every client with a "
                 "certificate from that CA may read every report Rollcall can read");
  }
  auto server = absl::WrapUnique(new RollcallServer(config, std::move(page_tokens),
                                                    std::move(caller_policy),
                                                    std::move(graph), clock, logger, tuning,
                                                    std::move(metrics)));

  if (!config.metrics_listen.empty()) {
    const RollcallServer* self = server.get();
    server->stats_collectable_ =
        std::make_shared<CallbackCollectable>([self] { return self->CollectStats(); });
    MetricsEndpoint::Options options;
    options.listen = config.metrics_listen;
    options.max_request_bytes = tuning.metrics_max_request_bytes;
    options.request_timeout = tuning.metrics_connection_timeout;
    absl::StatusOr<std::unique_ptr<MetricsEndpoint>> endpoint = MetricsEndpoint::Start(
        options, {server->stats_collectable_, server->metrics_});
    if (!endpoint.ok()) {
      return absl::UnavailableError(endpoint.status().message());
    }
    server->metrics_endpoint_ = std::move(*endpoint);
    server->metrics_port_ = server->metrics_endpoint_->port();
  }

  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.listen, *credentials, &server->port_);
  builder.RegisterService(server->service_.get());
  server->reflection_v1_ = std::make_unique<ReflectionV1Service>(ReflectedServiceNames());
  builder.RegisterService(server->reflection_v1_.get());
  builder.SetMaxReceiveMessageSize(tuning.max_receive_message_bytes);
  // Limits (README, "Limits"). The service refuses a whole report over the send cap itself,
  // with ErrorInfo; gRPC's own cap is the backstop for every other message.
  builder.SetMaxSendMessageSize(static_cast<int>(
      std::min<uint64_t>(config.max_send_message_bytes, std::numeric_limits<int>::max())));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, config.max_concurrent_streams);
  // The builder takes its own reference: the quota lives as long as the server.
  grpc::ResourceQuota quota("rollcall_server");
  quota.Resize(static_cast<std::size_t>(config.grpc_memory_quota));
  builder.SetResourceQuota(quota);
  if (config.max_connection_age > absl::ZeroDuration()) {
    // gRPC takes milliseconds as an int: about 24 days at most.
    const auto millis = [](absl::Duration d) {
      return static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(d),
                                                std::numeric_limits<int>::max()));
    };
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS, millis(config.max_connection_age));
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                               millis(tuning.max_connection_age_grace));
  }
  // Without this gRPC sets SO_REUSEPORT, and a second server on the same port would start
  // "successfully" and steal half the connections.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Channelz's per-call and per-socket counters (on by default) are read only through the
  // channelz service, which this server does not register: they would cost every call some
  // 300 instructions, about 0.6% of a cache hit, for figures nobody can read.
  builder.AddChannelArgument(GRPC_ARG_ENABLE_CHANNELZ, 0);

  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("could not listen on ", config.listen, " (address in use or invalid?)"));
  }
  grpc::HealthCheckServiceInterface* health = server->server_->GetHealthCheckService();
  if (health != nullptr) {
    health->SetServingStatus("", tuning.serving_at_start);
    health->SetServingStatus(rollcall::v1::AttendanceReportService::service_full_name(),
                             tuning.serving_at_start);
  }
  return server;
}

RollcallServer::~RollcallServer() { Shutdown(clock_->Now()); }

bool RollcallServer::Shutdown(absl::Time deadline) {
  {
    common::MutexLock lock(&mu_);
    if (shutdown_started_) {
      while (!shutdown_done_) shutdown_cv_.Wait();
      return shutdown_result_;
    }
    shutdown_started_ = true;
  }
  const bool result = ShutdownOnce(deadline);
  common::MutexLock lock(&mu_);
  shutdown_result_ = result;
  shutdown_done_ = true;
  shutdown_cv_.SignalAll();
  return result;
}

void RollcallServer::SetReady(bool ready) {
  common::MutexLock lock(&mu_);
  // Under mu_: a shutdown that starts after this check waits for it, then sets NOT_SERVING for
  // good.
  if (shutdown_started_ || server_ == nullptr) return;
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  if (health == nullptr) return;
  health->SetServingStatus("", ready);
  health->SetServingStatus(rollcall::v1::AttendanceReportService::service_full_name(), ready);
}

void RollcallServer::Wait() {
  common::MutexLock lock(&mu_);
  while (!shutdown_done_) shutdown_cv_.Wait();
}

bool RollcallServer::ShutdownOnce(absl::Time deadline) {
  service_->StartDraining();
  if (server_ != nullptr) {
    // Stop listening and send GOAWAY now, so that clients move new calls elsewhere while the
    // calls in flight finish. grpc::Server::Shutdown would do the same, but then waits until
    // every connection has closed; a client that is idle reads the GOAWAY (and acknowledges
    // its PING) only when its own poller next runs (gRPC's client backup poller: every 5 s),
    // so that wait would hold shutdown for seconds with nothing left to do. Shutting down in
    // gRPC core is idempotent; grpc::Server::Shutdown below adds its own tag.
    // (gRPC core's C API: a grpc::CompletionQueue would take the tag for one of its own.)
    grpc_completion_queue* goaway_cq = grpc_completion_queue_create_for_next(nullptr);
    int goaway_tag = 0;
    grpc_server_shutdown_and_notify(server_->c_server(), goaway_cq, &goaway_tag);
    if (grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService()) {
      // NOT_SERVING for every service, and no later change. Watch streams are told, after
      // their connection's GOAWAY: a client that saw NOT_SERVING already knows to reconnect.
      health->Shutdown();
    }

    const bool drained = service_->AwaitNoCallsInFlight(deadline);
    if (!drained) {
      logger_->Warn("shutdown grace period over; cancelling calls still in flight",
                    {{"calls_in_flight", absl::StrCat(service_->GetStats().calls_in_flight)}});
    }
    // Deadline already passed: cancels what is left (calls past the grace, health Watch and
    // reflection streams) and closes every connection at once.
    server_->Shutdown(absl::ToChronoTime(absl::Now()));
    // The server has shut down, so goaway_tag is delivered; drain it, then the queue.
    grpc_completion_queue_shutdown(goaway_cq);
    while (grpc_completion_queue_next(goaway_cq, gpr_inf_future(GPR_CLOCK_REALTIME), nullptr)
               .type != GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(goaway_cq);
  } else {
    service_->AwaitNoCallsInFlight(deadline);
  }

  // No call is left to answer: loads still queued would call Graph for nobody.
  service_->AbandonPendingLoads();
  const bool stopped = executor_->Shutdown(deadline);
  if (!stopped) {
    logger_->Warn("shutdown grace period over with Graph calls still running",
                  {{"running", absl::StrCat(executor_->running())}});
  }
  // Stops serving scrapes (one in progress finishes first), so that nothing reads the
  // components through stats_collectable_ once they start to go.
  metrics_endpoint_.reset();
  return stopped;
}

std::vector<prometheus::MetricFamily> RollcallServer::CollectStats() const {
  using prometheus::MetricType;
  const AttendanceReportServiceImpl::Stats service = service_->GetStats();
  const ReportCache::Stats cache = cache_->GetStats();
  const graph::GraphClientStats graph = graph_->Stats();
  const auto n = [](uint64_t value) { return static_cast<double>(value); };

  std::vector<std::pair<std::string, double>> by_code;
  for (int code = 0; code < AttendanceReportServiceImpl::kStatusCodes; ++code) {
    by_code.emplace_back(std::string(GrpcCodeName(code)), n(service.replies_by_code[code]));
  }
  std::vector<std::pair<std::string, double>> by_reason;
  for (const auto& [reason, count] : service.graph_errors_by_reason) {
    by_reason.emplace_back(reason, n(count));
  }

  std::vector<prometheus::MetricFamily> out;
  out.push_back(LabelledFamily("rollcall_requests_total", MetricType::Counter,
                               "GetAttendanceReport calls answered, by gRPC status code.", "code",
                               by_code));
  out.push_back(GaugeFamily("rollcall_calls_in_flight",
                            "GetAttendanceReport calls received and not yet done.",
                            n(service.calls_in_flight)));
  out.push_back(CounterFamily("rollcall_cache_hits_total",
                              "Calls answered from a fresh cached report.", n(cache.hits)));
  out.push_back(CounterFamily("rollcall_cache_misses_total",
                              "Calls that found no fresh cache entry (expired entries included).",
                              n(cache.misses)));
  out.push_back(CounterFamily(
      "rollcall_cache_negative_hits_total",
      "Calls answered NOT_FOUND from a remembered Graph 404, without a Graph call.",
      n(cache.negative_hits)));
  out.push_back(CounterFamily(
      "rollcall_cache_stale_served_total",
      "Replies that carried an expired report (stale: true) because Graph failed.",
      n(cache.stale_served)));
  out.push_back(CounterFamily("rollcall_cache_evictions_total",
                              "Cache entries evicted for the byte bound.", n(cache.evictions)));
  out.push_back(CounterFamily("rollcall_cache_expirations_total",
                              "Cache entries dropped because their TTL and stale window passed.",
                              n(cache.expirations)));
  out.push_back(CounterFamily("rollcall_cache_joins_total",
                              "Misses that shared a Graph load already in flight (singleflight).",
                              n(cache.joins)));
  out.push_back(CounterFamily("rollcall_cache_reloads_total",
                              "Loads run again for callers who joined with a later deadline than "
                              "the one the load ran out of.",
                              n(cache.reloads)));
  out.push_back(GaugeFamily("rollcall_cache_entries",
                            "Entries in the cache, negative ones included.", n(cache.entries)));
  out.push_back(GaugeFamily("rollcall_cache_negative_entries",
                            "Remembered Graph 404s in the cache.", n(cache.negative_entries)));
  out.push_back(GaugeFamily("rollcall_cache_bytes", "Bytes charged to the cache's memory bound.",
                            n(cache.bytes)));
  out.push_back(GaugeFamily("rollcall_upstream_queue_depth",
                            "Cache misses waiting for an upstream thread.",
                            n(executor_->queued())));
  out.push_back(GaugeFamily("rollcall_upstream_running", "Loads running on upstream threads.",
                            n(executor_->running())));
  out.push_back(CounterFamily("rollcall_caller_denied_total",
                              "Calls the caller policy refused (PERMISSION_DENIED, "
                              "CALLER_NOT_ALLOWED), before any cache or Graph access.",
                              n(service.caller_denied)));
  out.push_back(CounterFamily("rollcall_replies_refused_total",
                              "Whole replies refused because replies not yet read by their "
                              "clients held max_reply_memory (RESOURCE_EXHAUSTED, "
                              "REPLIES_BACKLOGGED).",
                              n(service.replies_refused)));
  out.push_back(GaugeFamily("rollcall_held_reply_bytes",
                            "Bytes of whole replies of 64 KiB and more whose calls have not "
                            "ended (bounded by max_reply_memory).",
                            n(service.held_reply_bytes)));
  out.push_back(CounterFamily("rollcall_upstream_rejected_total",
                              "Cache misses refused at once because the upstream queue was full "
                              "(RESOURCE_EXHAUSTED, UPSTREAM_OVERLOADED).",
                              n(cache.rejected)));
  out.push_back(CounterFamily("rollcall_graph_fetches_total", "Loads that called Graph.",
                              n(service.graph_fetches)));
  out.push_back(LabelledFamily("rollcall_graph_errors_total", MetricType::Counter,
                               "Loads whose Graph call failed, by ErrorInfo reason.", "reason",
                               by_reason));
  out.push_back(CounterFamily("rollcall_graph_http_requests_total",
                              "HTTP exchanges attempted with Graph, retries included.",
                              n(graph.http_requests)));
  out.push_back(CounterFamily("rollcall_graph_retries_total", "Graph attempts after the first.",
                              n(graph.retries)));
  out.push_back(CounterFamily("rollcall_graph_throttled_total", "Graph 429 responses.",
                              n(graph.throttled)));
  out.push_back(CounterFamily("rollcall_graph_server_errors_total", "Graph 5xx responses.",
                              n(graph.server_errors)));
  out.push_back(CounterFamily(
      "rollcall_graph_transport_errors_total",
      "Graph exchanges that failed to connect, in TLS, by reset or by timeout.",
      n(graph.transport_errors)));
  out.push_back(CounterFamily("rollcall_graph_bad_responses_total",
                              "Graph bodies that were not what Graph documents.",
                              n(graph.bad_responses)));
  const RedisL2::Stats redis = l2_ != nullptr ? l2_->GetStats() : RedisL2::Stats();
  out.push_back(CounterFamily("rollcall_redis_hits_total",
                              "Loads answered from Redis (the L2 tier), without a Graph call.",
                              n(redis.hits)));
  out.push_back(CounterFamily("rollcall_redis_misses_total",
                              "Loads that found no usable value in Redis.", n(redis.misses)));
  out.push_back(CounterFamily("rollcall_redis_writes_total",
                              "Values written to Redis after a Graph load (404s included).",
                              n(redis.writes)));
  out.push_back(CounterFamily("rollcall_redis_lease_waits_total",
                              "Loads that waited for another replica's Graph load (its lease).",
                              n(redis.lease_waits)));
  out.push_back(CounterFamily("rollcall_redis_skipped_total",
                              "Loads that went to Graph without trying Redis: it failed "
                              "recently (circuit breaker open).",
                              n(redis.skipped)));
  std::vector<std::pair<std::string, double>> redis_errors;
  for (int kind = 0; kind < RedisL2::kErrorKinds; ++kind) {
    redis_errors.emplace_back(std::string(RedisL2::ErrorKindName(kind)), n(redis.errors[kind]));
  }
  out.push_back(LabelledFamily("rollcall_redis_errors_total", MetricType::Counter,
                               "Redis failures, by kind; the load went on without Redis.", "kind",
                               redis_errors));
  out.push_back(CounterFamily("rollcall_graph_token_refreshes_total",
                              "Tokens dropped after a Graph 401 and fetched again.",
                              n(graph.token_refreshes)));
  return out;
}

}  // namespace rollcall::service
