#pragma once
// Every setting of rollcall_server. Each one is a command-line flag (`--name=value` or
// `--name value`; dashes and underscores in the name are interchangeable) and an environment
// variable ROLLCALL_NAME; a flag wins over the environment, the environment over the default.
//
// Exceptions, following the Azure SDKs' names:
//   tenant_id      --tenant_id or AZURE_TENANT_ID
//   client_id      --client_id or AZURE_CLIENT_ID
//   authority_host --authority_host, ROLLCALL_AUTHORITY_HOST or AZURE_AUTHORITY_HOST
//   client_secret  AZURE_CLIENT_SECRET ONLY. Never a flag, so it cannot show in `ps`; a
//                  --client_secret flag is an error (whose message never repeats the value).
//   client_certificate_path      --client_certificate_path or AZURE_CLIENT_CERTIFICATE_PATH
//   client_certificate_password  AZURE_CLIENT_CERTIFICATE_PASSWORD ONLY, as the secret
//   federated_token_file         --federated_token_file or AZURE_FEDERATED_TOKEN_FILE
//
// An empty environment variable counts as unset.
//
// Each setting is defined once, as one entry of the table in config.cc: its name, environment
// variable(s), default, help text, log field, and the type (duration, size, count, text, URL,
// address, log level) whose parser reads it and whose formatter shows it. LoadConfig, Config's
// defaults, ConfigHelp and ConfigLogFields all walk that table.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "service/log.h"

namespace rollcall::service {

// The values of every setting. A default-constructed Config holds every default: they come from
// the one table of settings in config.cc (which --help, the environment, the flags and the startup
// log all read), not from initializers here.
struct Config {
  Config();

  // --help or -h was given: print ConfigHelp() and exit; nothing else was parsed.
  bool help = false;

  // gRPC address, HOST:PORT ("[::1]:50051" for IPv6). Port 0 lets the OS choose. When not set
  // and plaintext is on, 127.0.0.1:50051 (off the network) instead of 0.0.0.0:50051.
  std::string listen;
  // Inbound transport security (issue 11). TLS from a PEM certificate chain and key, re-read
  // every tls_reload_interval when they change; with tls_client_ca_file, mutual TLS: every
  // client must present a certificate that CA issued. caller_policy_file (requires mutual TLS)
  // says which callers may read whose reports (service/caller_policy.h). plaintext: no TLS at
  // all, only when asked for (a warning at start-up). CheckTransportSecurity says which
  // combinations are accepted.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;
  absl::Duration tls_reload_interval;
  std::string caller_policy_file;
  bool plaintext = false;
  // The Microsoft cloud: "global", "usgov" (GCC High, L4), "usgov-dod" (L5) or "china". It
  // picks the authority host, Graph's host and the token scope unless those are set; a host set
  // to another cloud's is refused (tokens of one cloud are not accepted by another).
  std::string cloud;
  // Graph's root without the version; stored without a trailing slash.
  std::string graph_base_url;
  // "v1.0" or "beta". GraphUrl() joins the two.
  std::string graph_version;
  // The token scope. When not set: scheme and host of graph_base_url + "/.default".
  std::string graph_scope;
  std::string authority_host;
  std::string tenant_id;
  std::string client_id;
  // From AZURE_CLIENT_SECRET only. Never log, print or put this in an error.
  std::string client_secret;
  // A file holding the client secret (a mounted Kubernetes Secret), re-read when it changes.
  std::string client_secret_file;
  // AZURE_CLIENT_CERTIFICATE_PATH: PEM with the certificate and its RSA private key.
  std::string client_certificate_path;
  // AZURE_CLIENT_CERTIFICATE_PASSWORD only (never a flag), the key's passphrase. Never logged.
  std::string client_certificate_password;
  // "ps256" (x5t#S256, what Entra ID documents) or "rs256" (x5t, older tenants).
  std::string client_assertion_algorithm;
  // AZURE_FEDERATED_TOKEN_FILE: the projected service account token (workload identity).
  std::string federated_token_file;
  // PEM CA bundle for outbound TLS; empty means the system's default store.
  std::string ca_bundle;
  absl::Duration http_connect_timeout;
  absl::Duration http_timeout;
  uint64_t max_response_bytes = 0;
  // Bound on one report's pages together (graph::GraphClientOptions::max_report_bytes).
  uint64_t max_report_bytes = 0;
  // Bounds on what reading one Graph answer builds (graph::GraphClientOptions).
  int max_report_records = 0;
  uint64_t max_report_memory = 0;
  uint64_t cache_max_bytes = 0;
  // TTL of a report whose meeting ended at least recent_report_age ago.
  absl::Duration cache_ttl;
  // TTL of a report with no meeting end time, or one that ended less than recent_report_age ago.
  absl::Duration cache_ttl_recent;
  absl::Duration recent_report_age;
  // How long a meeting's list of reports, and the meeting a join link names, are cached.
  absl::Duration reports_list_ttl;
  absl::Duration meeting_lookup_ttl;
  // The file of the key that signs page tokens; empty: a random key per process.
  std::string page_token_key_file;
  // How long a Graph 404 (REPORT_NOT_FOUND) is remembered and answered from the cache; zero
  // remembers none.
  absl::Duration negative_cache_ttl;
  // How long past its expiry a cached report may still be served (marked stale) when Graph
  // fails; zero turns stale-if-error off.
  absl::Duration stale_if_error;
  // The second cache tier, shared by replicas (service/redis_l2.h): redis://HOST[:PORT][/DB]
  // or unix:///PATH; empty: no L2. The password file holds the password, or a user and a
  // password on two lines. Each Redis connect and command gives up after redis_timeout; a
  // replica loading a report from Graph holds its lease for at most redis_lease_ttl.
  std::string redis_url;
  std::string redis_password_file;
  absl::Duration redis_timeout;
  absl::Duration redis_lease_ttl;
  // Threads that make Graph calls (the upstream executor's size).
  int upstream_concurrency = 0;
  // Misses that may wait for one of those threads; a miss beyond them is refused at once
  // (RESOURCE_EXHAUSTED, UPSTREAM_OVERLOADED).
  int upstream_queue = 0;
  // Graph retries (graph::RetryOptions): attempts in all, and the exponential backoff's bounds.
  int graph_max_attempts = 0;
  absl::Duration graph_initial_backoff;
  absl::Duration graph_max_backoff;
  // The deadline of a call whose client set none.
  absl::Duration default_deadline;
  // After SIGTERM, how long calls in flight may take to finish.
  absl::Duration shutdown_grace;
  // Connections are closed (with GOAWAY) after this long, so that clients re-resolve and spread
  // over replicas Kubernetes added; zero keeps them open. gRPC's filter for it costs every call
  // a little (bench/README.md).
  absl::Duration max_connection_age;
  // gRPC server limits (README, "Limits"). Calls one connection may have open at once (HTTP/2
  // SETTINGS_MAX_CONCURRENT_STREAMS): a client's further calls wait in the client.
  int max_concurrent_streams = 0;
  // The byte budget of gRPC's resource quota: what gRPC itself allocates (per-call state, read
  // buffers). Replies are not charged to it: they are the cache's bytes, shared.
  uint64_t grpc_memory_quota = 0;
  // Largest message the server sends. A whole report (GetAttendanceReport) larger than this is
  // refused with FAILED_PRECONDITION (REPORT_TOO_LARGE) before anything is sent; gRPC enforces
  // it on every other message. At most 2 GiB - 1 (gRPC takes an int).
  uint64_t max_send_message_bytes = 0;
  // What whole replies of 64 KiB and more may hold together until their calls end
  // (ServiceOptions::max_reply_memory).
  uint64_t max_reply_memory = 0;
  // HOST:PORT of the Prometheus endpoint (GET /metrics); empty: none. Port 0 lets the OS
  // choose; the bound address is printed as `rollcall metrics on HOST:PORT`.
  std::string metrics_listen;
  LogLevel log_level = LogLevel::kInfo;
  // Delegated mode (README, "Delegated mode"): GetAttendanceReport calls carrying a user's
  // token ("authorization: Bearer ...") read through /me as that user, after an on-behalf-of
  // exchange. Off by default. At most delegated_max_users users' Graph tokens are cached.
  bool delegated_mode = false;
  int delegated_max_users = 0;
};

using GetEnv = std::function<std::optional<std::string>(const std::string& name)>;

// Parses `args` (the command line WITHOUT the program name, i.e. argv[1..]) over the
// environment read through `getenv`. Errors: INVALID_ARGUMENT naming the flag or variable at
// fault (an unknown flag, a missing or bad value, --client_secret). Error messages start with
// the flag or variable that was read, say what form the value must have and end with every
// name of the setting ("(setting cache_ttl: --cache_ttl or ROLLCALL_CACHE_TTL; the value given
// is not shown)"); they never contain the value given, nor any part of it, since a value may be
// a secret pasted into the wrong place. (An unknown flag's name is shown, escaped and capped at
// 64 bytes.) Text settings (paths, IDs, the scope, the secrets) refuse control characters.
// With --help anywhere, returns {help = true} and defaults without looking further.
absl::StatusOr<Config> LoadConfig(const std::vector<std::string>& args, const GetEnv& getenv);

// The names of every setting, in the table's (and --help's) order: its name, whether it is a
// flag too (--name), and its environment variables, highest priority first.
struct SettingNames {
  std::string name;
  bool flag = true;
  std::vector<std::string> env;
};
std::vector<SettingNames> ConfigSettingNames();

// A GetEnv over the process environment.
GetEnv ProcessEnv();

// The --help text: every setting with its flag, environment variable(s) and default. Static
// text: it never shows a configured value, so never the secret.
std::string ConfigHelp();

// The effective configuration as log fields, for the startup line. Never includes the secret
// (only whether one is set).
std::vector<std::pair<std::string, std::string>> ConfigLogFields(const Config& config);

// Parsers shared with tests: durations as absl::ParseDuration ("250ms", "30s", "5m", "1h");
// sizes as plain bytes or with a KiB / MiB / GiB suffix ("65536", "64KiB", "256MiB", "1GiB").
absl::StatusOr<absl::Duration> ParseDurationSetting(absl::string_view text);
absl::StatusOr<uint64_t> ParseSizeSetting(absl::string_view text);

// The transport settings' rules, checked by RollcallServer::Start: tls_cert_file and
// tls_key_file together, or plaintext, but not both and not neither; tls_client_ca_file only
// with TLS; caller_policy_file only with tls_client_ca_file. INVALID_ARGUMENT saying which
// settings to set. (Whether the files exist and parse is checked when the server starts.)
absl::Status CheckTransportSecurity(const Config& config);

// Whether Graph or the token endpoint is reached over plain http:// (accepted only for a loopback
// host, in tests; the server warns at start-up).
bool UsesPlainHttp(const Config& config);

// Graph's root with the version: graph_base_url + "/" + graph_version.
std::string GraphUrl(const Config& config);

// The host part of a HOST:PORT listen address, brackets kept ("0.0.0.0", "[::]").
std::string ListenHost(const std::string& listen);

}  // namespace rollcall::service
