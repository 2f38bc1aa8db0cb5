// rollcall_server: wires the real Graph client into the gRPC server. All logic lives in
// rollcall_service and rollcall_graph_client; this file only parses, builds and waits.
//
// Signals: SIGTERM and SIGINT shut down gracefully; SIGHUP is logged and ignored (files that may
// change are re-read when they do).
//
// Exit codes: 0 after a graceful shutdown (SIGTERM / SIGINT) or --help; 2 for a configuration
// or credential problem (the message says what to fix); 1 when the server cannot start.
//
// stdout carries exactly the lines tests and scripts read, each flushed:
//   rollcall listening on HOST:PORT
//   rollcall metrics on HOST:PORT        (only with metrics_listen)

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/mutex.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/clock.h"
#include "graph_client/graph_client.h"
#include "graph_client/http_transport.h"
#include "graph_client/on_behalf_of.h"
#include "graph_client/token_credential.h"
#include "service/config.h"
#include "service/log.h"
#include "service/metrics.h"
#include "service/request_log.h"
#include "service/server.h"

namespace {

// Readiness from the credential: health NOT_SERVING until its first token, and again while it
// holds no usable one (the token endpoint down past the token's expiry, or the credentials
// rejected). The credential's refresher thread calls OnTokenUsable, possibly before the server
// exists (then the state waits for Attach) and until Detach.
class Readiness final : public rollcall::graph::CredentialObserver {
 public:
  explicit Readiness(rollcall::service::Logger* logger) : logger_(logger) {}

  void OnTokenUsable(bool usable) override {
    rollcall::common::MutexLock lock(&mu_);
    usable_ = usable;
    if (usable) {
      logger_->Info("the credential holds a token: health SERVING");
    } else {
      logger_->Warn("the credential holds no usable token: health NOT_SERVING until it does");
    }
    if (server_ != nullptr) server_->SetReady(usable);
  }

  void Attach(rollcall::service::RollcallServer* server) {
    rollcall::common::MutexLock lock(&mu_);
    server_ = server;
    server_->SetReady(usable_);
  }

  void Detach() {
    rollcall::common::MutexLock lock(&mu_);
    server_ = nullptr;
  }

 private:
  rollcall::service::Logger* const logger_;
  rollcall::common::Mutex mu_;
  bool usable_ ABSL_GUARDED_BY(mu_) = false;
  rollcall::service::RollcallServer* server_ ABSL_GUARDED_BY(mu_) = nullptr;
};

using rollcall::service::Config;
using rollcall::service::Logger;
using rollcall::service::LogField;

int Run(int argc, char** argv) {
  // Debian's Abseil checks every absl::Mutex acquisition (gRPC's own included) for lock-order
  // cycles, a debugging aid that costs a graph update per lock on the hot path. Off in serving.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // Before any thread exists, so that every thread inherits the mask and only sigwait below
  // receives these signals.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  // SIGHUP's default action would kill the process; what can change is re-read on its own
  // (TLS files, caller policy, secret file), so the loop below logs it and goes on serving.
  sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  const std::vector<std::string> args(argv + 1, argv + argc);
  absl::StatusOr<Config> config =
      rollcall::service::LoadConfig(args, rollcall::service::ProcessEnv());
  // The secrets now live in the Config alone (and soon in the credential alone): out of the
  // environment, so no child process, /proc/<pid>/environ reader or crash dump of the
  // environment sees them.
  for (const char* name : {"AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PASSWORD"}) {
    // Overwritten in place first: unsetenv alone leaves the bytes where the kernel put the
    // environment, which /proc/<pid>/environ shows to anyone who may read it.
    if (char* value = std::getenv(name)) std::memset(value, 0, std::strlen(value));
    unsetenv(name);
  }
  if (!config.ok()) {
    std::fprintf(stderr, "rollcall_server: %s\nRun rollcall_server --help for the settings.\n",
                 std::string(config.status().message()).c_str());
    return 2;
  }
  if (config->help) {
    std::fputs(rollcall::service::ConfigHelp().c_str(), stdout);
    return 0;
  }
  // A setting error, like the ones LoadConfig reports: exit 2 before anything starts.
  if (absl::Status transport = rollcall::service::CheckTransportSecurity(*config);
      !transport.ok()) {
    std::fprintf(stderr, "rollcall_server: %s\nRun rollcall_server --help for the settings.\n",
                 std::string(transport.message()).c_str());
    return 2;
  }
  if (!config->ca_bundle.empty() && access(config->ca_bundle.c_str(), R_OK) != 0) {
    // Like every setting error: the setting's names, not its value.
    std::fprintf(stderr,
                 "rollcall_server: ca_bundle (--ca_bundle or ROLLCALL_CA_BUNDLE) is not a "
                 "readable file (the path given is not shown)\n");
    return 2;
  }
  // The outbound proxy, read here once, as libcurl would have read it, and passed to the
  // transport, which reads nothing of the environment itself: logged below, and named in errors.
  const rollcall::graph::ProxySettings proxy =
      rollcall::graph::ProxyFromEnvironment(rollcall::service::ProcessEnv());
  if (!proxy.url.empty() && rollcall::graph::ProxyAddress(proxy.url).empty()) {
    std::fprintf(stderr,
                 "rollcall_server: %s is not a proxy URL: expected http://HOST:PORT (or "
                 "http://USER:PASSWORD@HOST:PORT, https://, socks5://, socks5h://); the value is "
                 "not shown, as it may hold a password\n",
                 proxy.url_variable.c_str());
    return 2;
  }

  const rollcall::common::Clock* clock = rollcall::common::SystemClock();
  // Never destroyed: gRPC threads may still log while the process exits.
  Logger& logger = *new Logger(config->log_level, clock);
  rollcall::service::RouteGrpcLogs(&logger);
  {
    const auto fields = rollcall::service::ConfigLogFields(*config);
    std::vector<LogField> views;
    views.reserve(fields.size());
    for (const auto& [name, value] : fields) views.emplace_back(name, value);
    logger.Info("starting", views);
  }
  // Which proxy Graph and token traffic use (without its user name and password), so that
  // no proxy is ever used without the log saying so.
  if (proxy.url.empty()) {
    logger.Info("outbound proxy: none, Graph and the token endpoint are reached directly",
                {{"proxy", "none"},
                 {"proxy_variables", "HTTPS_PROXY, https_proxy, ALL_PROXY, all_proxy: not set"}});
  } else {
    logger.Info("outbound proxy: Graph and the token endpoint are reached through it",
                {{"proxy", rollcall::graph::ProxyUrlForLog(proxy.url)},
                 {"proxy_variable", proxy.url_variable},
                 {"no_proxy", proxy.no_proxy.empty() ? "(none)" : proxy.no_proxy},
                 {"no_proxy_variable",
                  proxy.no_proxy_variable.empty() ? "(not set)" : proxy.no_proxy_variable}});
  }
  if (config->cloud == "china") {
    logger.Warn("Microsoft documents the attendance report APIs as not available in the China "
                "cloud (21Vianet); expect Graph to refuse them");
  }
  if (rollcall::service::UsesPlainHttp(*config)) {
    logger.Warn("Graph or the token endpoint is reached over plain http:// (a loopback host): "
                "for tests only; production uses https://");
  }

  // What /metrics exposes, made before the Graph client so that the client can report each
  // exchange to it; declared before the client and the server, so it outlives both.
  const auto metrics = std::make_shared<rollcall::service::Metrics>(ROLLCALL_VERSION);
  // Each exchange with Graph and the token endpoint: a log line, then the metrics.
  const auto graph_log =
      std::make_shared<rollcall::service::RequestLog>(&logger, nullptr, metrics.get());

  rollcall::graph::CurlTransportOptions transport_options;
  transport_options.ca_bundle_path = config->ca_bundle;
  transport_options.connect_timeout = config->http_connect_timeout;
  transport_options.total_timeout = config->http_timeout;
  transport_options.max_response_bytes = static_cast<std::size_t>(config->max_response_bytes);
  transport_options.clock = clock;  // the clock every deadline below is on
  transport_options.proxy = proxy;
  std::shared_ptr<rollcall::graph::HttpTransport> transport =
      rollcall::graph::MakeCurlTransport(transport_options);

  // Graph and the token endpoint are retried under one policy.
  rollcall::graph::RetryOptions retry;
  retry.max_attempts = config->graph_max_attempts;
  retry.initial_backoff = config->graph_initial_backoff;
  retry.max_backoff = config->graph_max_backoff;

  rollcall::graph::TokenCredentialConfig credential_options;
  credential_options.retry = retry;
  credential_options.observer = graph_log;
  const auto readiness = std::make_shared<Readiness>(&logger);
  credential_options.credential_observer = readiness;
  credential_options.authority_host = config->authority_host;
  credential_options.tenant_id = config->tenant_id;
  credential_options.client_id = config->client_id;
  credential_options.client_secret = config->client_secret;
  credential_options.client_secret_file = config->client_secret_file;
  credential_options.client_certificate_path = config->client_certificate_path;
  credential_options.client_certificate_password = config->client_certificate_password;
  credential_options.assertion_algorithm =
      config->client_assertion_algorithm == "rs256" ? rollcall::graph::AssertionAlgorithm::kRs256
                                                    : rollcall::graph::AssertionAlgorithm::kPs256;
  credential_options.federated_token_file = config->federated_token_file;
  credential_options.scope = config->graph_scope;
  absl::StatusOr<std::unique_ptr<rollcall::graph::TokenCredential>> credential =
      rollcall::graph::MakeTokenCredential(credential_options, transport, clock);
  // Delegated mode authenticates the app to the on-behalf-of grant as the client-credentials
  // grant does: its own authenticator of the same credential.
  std::shared_ptr<rollcall::graph::ClientAuthenticator> delegated_authenticator;
  if (config->delegated_mode && credential.ok()) {
    absl::StatusOr<std::shared_ptr<rollcall::graph::ClientAuthenticator>> authenticator =
        rollcall::graph::MakeClientAuthenticator(credential_options, clock);
    if (!authenticator.ok()) {
      logger.Error("cannot build the credential of delegated mode",
                   {{"error", authenticator.status().message()}});
      return 2;
    }
    delegated_authenticator = *std::move(authenticator);
  }
  // The secret now lives only inside the credential.
  config->client_secret.clear();
  credential_options.client_secret.clear();
  config->client_certificate_password.clear();
  credential_options.client_certificate_password.clear();
  if (!credential.ok()) {
    logger.Error("cannot build the Graph credential; set AZURE_TENANT_ID, AZURE_CLIENT_ID and "
                 "AZURE_CLIENT_SECRET",
                 {{"error", credential.status().message()}});
    return 2;
  }

  rollcall::graph::GraphClientOptions graph_options;
  graph_options.base_url = rollcall::service::GraphUrl(*config);
  graph_options.max_report_bytes = static_cast<std::size_t>(config->max_report_bytes);
  graph_options.max_report_records = config->max_report_records;
  graph_options.max_report_memory = static_cast<std::size_t>(config->max_report_memory);
  graph_options.retry = retry;
  graph_options.observer = graph_log;
  std::shared_ptr<rollcall::graph::DelegatedGraph> delegated;
  if (delegated_authenticator != nullptr) {
    rollcall::graph::DelegatedOptions delegated_options;
    delegated_options.token = credential_options;
    delegated_options.token.background_refresh = false;
    delegated_options.token.credential_observer = nullptr;
    // The delegated permission on the app scope's resource (graph_scope without "/.default"),
    // so that a national cloud's or the emulator's Graph host is used like the app scope's.
    const std::string& app_scope = config->graph_scope;
    delegated_options.scope =
        absl::EndsWith(app_scope, "/.default")
            ? absl::StrCat(app_scope.substr(0, app_scope.size() - 9), "/",
                           rollcall::graph::kDelegatedPermission)
            : rollcall::graph::DelegatedScope(config->graph_base_url);
    delegated_options.graph = graph_options;
    delegated_options.max_users = static_cast<std::size_t>(config->delegated_max_users);
    const std::string delegated_scope = delegated_options.scope;
    delegated = std::make_shared<rollcall::graph::DelegatedCredentials>(
        std::move(delegated_options), std::move(delegated_authenticator), transport, clock);
    logger.Info("delegated mode on: GetAttendanceReport calls with a user's token read through "
                "/me as that user (on-behalf-of)",
                {{"scope", delegated_scope}});
  }
  std::shared_ptr<rollcall::graph::GraphClient> graph = rollcall::graph::MakeGraphClient(
      graph_options, transport,
      std::shared_ptr<rollcall::graph::TokenCredential>(std::move(*credential)), clock);

  absl::StatusOr<std::unique_ptr<rollcall::service::RollcallServer>> server =
      rollcall::service::RollcallServer::Start(*config, std::move(graph), clock, &logger,
                                               [&] {
                                                 rollcall::service::ServerTuning tuning;
                                                 tuning.serving_at_start = false;
                                                 tuning.delegated = delegated;
                                                 return tuning;
                                               }(),
                                               metrics);
  if (!server.ok()) {
    logger.Error("cannot start the gRPC server", {{"error", server.status().message()}});
    return 1;
  }
  readiness->Attach(server->get());
  const std::string address =
      absl::StrCat(rollcall::service::ListenHost(config->listen), ":", (*server)->port());
  // Integration tests read this line; keep its shape.
  std::printf("rollcall listening on %s\n", address.c_str());
  std::fflush(stdout);
  std::string metrics_address;
  if ((*server)->metrics_port() != 0) {
    metrics_address = absl::StrCat(rollcall::service::ListenHost(config->metrics_listen), ":",
                                   (*server)->metrics_port());
    std::printf("rollcall metrics on %s\n", metrics_address.c_str());
    std::fflush(stdout);
  }
  logger.Info("serving", {{"address", address}, {"metrics", metrics_address}});

  int signal_number = 0;
  while (true) {
    if (sigwait(&stop_signals, &signal_number) != 0) signal_number = SIGTERM;  // cannot happen
    if (signal_number != SIGHUP) break;
    logger.Info("SIGHUP ignored: the TLS files and the caller policy are re-read when they "
                "change, and the client secret file at each token request");
  }
  logger.Info("shutting down", {{"signal", signal_number == SIGTERM ? "SIGTERM" : "SIGINT"},
                                {"grace", absl::FormatDuration(config->shutdown_grace)}});
  const bool stopped = (*server)->Shutdown(clock->Now() + config->shutdown_grace);
  // The credential's refresher may still report until the server (which owns it) is gone.
  readiness->Detach();

  const auto cache = (*server)->cache().GetStats();
  const auto service = (*server)->service().GetStats();
  logger.Info("stopped", {{"requests", absl::StrCat(service.requests)},
                          {"invalid_requests", absl::StrCat(service.invalid_requests)},
                          {"cache_hits", absl::StrCat(cache.hits)},
                          {"cache_misses", absl::StrCat(cache.misses)},
                          {"graph_fetches", absl::StrCat(service.graph_fetches)},
                          {"graph_errors", absl::StrCat(service.graph_errors)},
                          {"cache_evictions", absl::StrCat(cache.evictions)},
                          {"cache_entries", absl::StrCat(cache.entries)},
                          {"cache_bytes", absl::StrCat(cache.bytes)},
                          {"cache_negative_hits", absl::StrCat(cache.negative_hits)},
                          {"cache_stale_served", absl::StrCat(cache.stale_served)},
                          {"upstream_rejected", absl::StrCat(cache.rejected)}});
  if (!stopped) {
    // Graph calls outlived the grace period; they hold nothing a client waits for. Exit now
    // instead of joining them (each would end by its own deadline).
    std::fflush(nullptr);
    std::_Exit(0);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
