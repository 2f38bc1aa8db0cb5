#include "service/config.h"

#include <cstdlib>
#include <limits>
#include <set>
#include "absl/strings/string_view.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"

namespace rollcall::service {
namespace {

constexpr int kMaxUpstreamConcurrency = 256;
constexpr int kMaxUpstreamQueue = 1000000;
constexpr int kMaxGraphAttempts = 20;

// What a value is checked against; the error says what was wrong, the caller adds which
// setting it was.
using Apply = absl::Status (*)(absl::string_view value, Config* config);

struct Setting {
  absl::string_view name;  // the flag's name, also the key of the ROLLCALL_ variable
  std::vector<absl::string_view> env;  // environment variables, highest priority first
  bool flag_allowed;
  bool secret;  // its value never appears in an error or in help
  absl::string_view value_hint;
  absl::string_view default_text;
  absl::string_view help;
  Apply apply;
};

std::string Quote(absl::string_view value) {
  constexpr std::size_t kMaxShown = 80;
  std::string shown(value.substr(0, kMaxShown));
  if (value.size() > kMaxShown) shown += "...";
  return absl::StrCat("\"", absl::CHexEscape(shown), "\"");
}

absl::Status Invalid(absl::string_view what) { return absl::InvalidArgumentError(what); }

// "http(s)://host[:port][/path]" -> scheme://host[:port]; INVALID_ARGUMENT otherwise.
absl::StatusOr<std::string> UrlOrigin(absl::string_view url) {
  absl::string_view rest;
  absl::string_view scheme;
  if (absl::StartsWithIgnoreCase(url, "https://")) {
    scheme = "https://";
  } else if (absl::StartsWithIgnoreCase(url, "http://")) {
    scheme = "http://";
  } else {
    return Invalid(absl::StrCat("must be an http:// or https:// URL, got ", Quote(url)));
  }
  rest = url.substr(scheme.size());
  const std::size_t end = rest.find_first_of("/?#");
  const absl::string_view host = rest.substr(0, end);
  if (host.empty() || absl::StrContains(host, '@')) {
    return Invalid(absl::StrCat("must be an http:// or https:// URL with a host, got ",
                                Quote(url)));
  }
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return Invalid(absl::StrCat("must not contain spaces or control characters, got ",
                                  Quote(url)));
    }
  }
  return absl::StrCat(absl::AsciiStrToLower(scheme), host);
}

absl::Status ApplyListen(absl::string_view value, Config* config) {
  const std::size_t colon = value.rfind(':');
  if (colon == absl::string_view::npos || colon == 0) {
    return Invalid(absl::StrCat("must be HOST:PORT, got ", Quote(value)));
  }
  const absl::string_view host = value.substr(0, colon);
  const absl::string_view port_text = value.substr(colon + 1);
  uint32_t port = 0;
  if (port_text.empty() || !absl::SimpleAtoi(port_text, &port) || port > 65535 ||
      !absl::ascii_isdigit(static_cast<unsigned char>(port_text[0]))) {
    return Invalid(absl::StrCat("port must be a number from 0 to 65535, got ", Quote(value)));
  }
  if (absl::StrContains(host, ':') &&
      !(absl::StartsWith(host, "[") && absl::EndsWith(host, "]"))) {
    return Invalid(absl::StrCat("an IPv6 host must be in brackets ([::1]:50051), got ",
                                Quote(value)));
  }
  config->listen = std::string(value);
  return absl::OkStatus();
}

absl::Status ApplyGraphBaseUrl(absl::string_view value, Config* config) {
  absl::StatusOr<std::string> origin = UrlOrigin(value);
  if (!origin.ok()) return origin.status();
  while (absl::EndsWith(value, "/")) value.remove_suffix(1);
  config->graph_base_url = std::string(value);
  return absl::OkStatus();
}

absl::Status ApplyGraphScope(absl::string_view value, Config* config) {
  if (value.empty()) return Invalid("must not be empty");
  config->graph_scope = std::string(value);
  return absl::OkStatus();
}

absl::Status ApplyAuthorityHost(absl::string_view value, Config* config) {
  absl::StatusOr<std::string> origin = UrlOrigin(value);
  if (!origin.ok()) return origin.status();
  config->authority_host = std::string(value);
  return absl::OkStatus();
}

absl::Status ApplyTenantId(absl::string_view value, Config* config) {
  config->tenant_id = std::string(value);
  return absl::OkStatus();
}

absl::Status ApplyClientId(absl::string_view value, Config* config) {
  config->client_id = std::string(value);
  return absl::OkStatus();
}

absl::Status ApplyClientSecret(absl::string_view value, Config* config) {
  config->client_secret = std::string(value);
  return absl::OkStatus();
}

absl::Status ApplyCaBundle(absl::string_view value, Config* config) {
  config->ca_bundle = std::string(value);
  return absl::OkStatus();
}

// A duration setting that must be > 0 (or >= 0 when zero_ok).
template <absl::Duration Config::*kField, bool kZeroOk>
absl::Status ApplyDuration(absl::string_view value, Config* config) {
  absl::StatusOr<absl::Duration> parsed = ParseDurationSetting(value);
  if (!parsed.ok()) return parsed.status();
  if (*parsed < absl::ZeroDuration() || (!kZeroOk && *parsed == absl::ZeroDuration())) {
    return Invalid(absl::StrCat("must be ", kZeroOk ? "zero or more" : "more than zero",
                                ", got ", Quote(value)));
  }
  config->*kField = *parsed;
  return absl::OkStatus();
}

template <uint64_t Config::*kField, uint64_t kMin>
absl::Status ApplySize(absl::string_view value, Config* config) {
  absl::StatusOr<uint64_t> parsed = ParseSizeSetting(value);
  if (!parsed.ok()) return parsed.status();
  if (*parsed < kMin) return Invalid(absl::StrCat("must be at least ", kMin, " bytes"));
  config->*kField = *parsed;
  return absl::OkStatus();
}

absl::Status ApplyUpstreamConcurrency(absl::string_view value, Config* config) {
  int n = 0;
  if (!absl::SimpleAtoi(value, &n) || n < 1 || n > kMaxUpstreamConcurrency) {
    return Invalid(absl::StrCat("must be a whole number from 1 to ", kMaxUpstreamConcurrency,
                                ", got ", Quote(value)));
  }
  config->upstream_concurrency = n;
  return absl::OkStatus();
}

absl::Status ApplyUpstreamQueue(absl::string_view value, Config* config) {
  int n = 0;
  if (!absl::SimpleAtoi(value, &n) || n < 0 || n > kMaxUpstreamQueue) {
    return Invalid(absl::StrCat("must be a whole number from 0 to ", kMaxUpstreamQueue,
                                ", got ", Quote(value)));
  }
  config->upstream_queue = n;
  return absl::OkStatus();
}

absl::Status ApplyGraphMaxAttempts(absl::string_view value, Config* config) {
  int n = 0;
  if (!absl::SimpleAtoi(value, &n) || n < 1 || n > kMaxGraphAttempts) {
    return Invalid(absl::StrCat("must be a whole number from 1 to ", kMaxGraphAttempts,
                                ", got ", Quote(value)));
  }
  config->graph_max_attempts = n;
  return absl::OkStatus();
}

// Empty turns the endpoint off; otherwise HOST:PORT as for listen.
absl::Status ApplyMetricsListen(absl::string_view value, Config* config) {
  if (value.empty()) {
    config->metrics_listen.clear();
    return absl::OkStatus();
  }
  Config scratch;
  absl::Status status = ApplyListen(value, &scratch);
  if (!status.ok()) return status;
  config->metrics_listen = std::move(scratch.listen);
  return absl::OkStatus();
}

absl::Status ApplyLogLevel(absl::string_view value, Config* config) {
  absl::StatusOr<LogLevel> level = ParseLogLevel(value);
  if (!level.ok()) {
    return Invalid(absl::StrCat(level.status().message(), ", got ", Quote(value)));
  }
  config->log_level = *level;
  return absl::OkStatus();
}

const std::vector<Setting>& Settings() {
  static const auto* const settings = new std::vector<Setting>{
      {"listen", {"ROLLCALL_LISTEN"}, true, false, "HOST:PORT", "0.0.0.0:50051",
       "Address the gRPC server listens on. Port 0 lets the OS choose; the bound address is "
       "printed on stdout as `rollcall listening on HOST:PORT`.",
       ApplyListen},
      {"graph_base_url", {"ROLLCALL_GRAPH_BASE_URL"}, true, false, "URL",
       "https://graph.microsoft.com/v1.0", "Microsoft Graph's root, version included.",
       ApplyGraphBaseUrl},
      {"graph_scope", {"ROLLCALL_GRAPH_SCOPE"}, true, false, "SCOPE",
       "scheme and host of graph_base_url + /.default",
       "OAuth scope of the app-only token (https://graph.microsoft.com/.default by default).",
       ApplyGraphScope},
      {"authority_host", {"ROLLCALL_AUTHORITY_HOST", "AZURE_AUTHORITY_HOST"}, true, false, "URL",
       "https://login.microsoftonline.com/", "The Microsoft identity platform's host.",
       ApplyAuthorityHost},
      {"tenant_id", {"AZURE_TENANT_ID"}, true, false, "ID", "(none; required)",
       "Entra ID tenant of the app registration.", ApplyTenantId},
      {"client_id", {"AZURE_CLIENT_ID"}, true, false, "ID", "(none; required)",
       "Application (client) ID of the app registration.", ApplyClientId},
      {"client_secret", {"AZURE_CLIENT_SECRET"}, false, true, "", "(none; required)",
       "The app registration's client secret. Read ONLY from the environment, never from a "
       "flag, so it cannot show in `ps`; never logged or printed.",
       ApplyClientSecret},
      {"ca_bundle", {"ROLLCALL_CA_BUNDLE"}, true, false, "PATH", "(empty: system store)",
       "PEM bundle of CAs trusted for outbound TLS (Graph and the token endpoint).",
       ApplyCaBundle},
      {"http_connect_timeout", {"ROLLCALL_HTTP_CONNECT_TIMEOUT"}, true, false, "DURATION", "5s",
       "Connect timeout of one outbound HTTP request.",
       ApplyDuration<&Config::http_connect_timeout, false>},
      {"http_timeout", {"ROLLCALL_HTTP_TIMEOUT"}, true, false, "DURATION", "30s",
       "Total timeout of one outbound HTTP request.",
       ApplyDuration<&Config::http_timeout, false>},
      {"max_response_bytes", {"ROLLCALL_MAX_RESPONSE_BYTES"}, true, false, "SIZE", "64MiB",
       "Largest HTTP response body accepted from Graph or the token endpoint.",
       ApplySize<&Config::max_response_bytes, 1>},
      {"cache_max_bytes", {"ROLLCALL_CACHE_MAX_BYTES"}, true, false, "SIZE", "256MiB",
       "Memory bound of the report cache (least recently used entries are evicted); 0 turns "
       "caching off.",
       ApplySize<&Config::cache_max_bytes, 0>},
      {"cache_ttl", {"ROLLCALL_CACHE_TTL"}, true, false, "DURATION", "1h",
       "How long a report of a meeting that ended at least recent_report_age ago is cached.",
       ApplyDuration<&Config::cache_ttl, true>},
      {"cache_ttl_recent", {"ROLLCALL_CACHE_TTL_RECENT"}, true, false, "DURATION", "60s",
       "How long a report with no meeting end time, or of a meeting that ended less than "
       "recent_report_age ago, is cached (it may still change).",
       ApplyDuration<&Config::cache_ttl_recent, true>},
      {"recent_report_age", {"ROLLCALL_RECENT_REPORT_AGE"}, true, false, "DURATION", "1h",
       "A report whose meeting ended less than this long ago counts as recent.",
       ApplyDuration<&Config::recent_report_age, true>},
      {"negative_cache_ttl", {"ROLLCALL_NEGATIVE_CACHE_TTL"}, true, false, "DURATION", "30s",
       "How long Graph's 404 for a report is remembered and answered (NOT_FOUND) without "
       "asking Graph again; 0 turns negative caching off.",
       ApplyDuration<&Config::negative_cache_ttl, true>},
      {"stale_if_error", {"ROLLCALL_STALE_IF_ERROR"}, true, false, "DURATION", "24h",
       "How long past its expiry a cached report may still be served, marked stale, when Graph "
       "fails (5xx, timeouts, throttling, broken bodies); 0 turns this off.",
       ApplyDuration<&Config::stale_if_error, true>},
      {"upstream_concurrency", {"ROLLCALL_UPSTREAM_CONCURRENCY"}, true, false, "N", "8",
       "Threads making Graph calls for cache misses.", ApplyUpstreamConcurrency},
      {"upstream_queue", {"ROLLCALL_UPSTREAM_QUEUE"}, true, false, "N", "256",
       "Cache misses that may wait for an upstream thread; a miss beyond them gets "
       "RESOURCE_EXHAUSTED (UPSTREAM_OVERLOADED, retry after 1s) at once. Cache hits never wait.",
       ApplyUpstreamQueue},
      {"graph_max_attempts", {"ROLLCALL_GRAPH_MAX_ATTEMPTS"}, true, false, "N", "4",
       "Attempts of one Graph request in all (429, 503, 504, failed connections); 1 turns "
       "retries off.",
       ApplyGraphMaxAttempts},
      {"graph_initial_backoff", {"ROLLCALL_GRAPH_INITIAL_BACKOFF"}, true, false, "DURATION",
       "500ms", "First wait between Graph attempts when Graph sends no Retry-After; doubles "
       "after each attempt.",
       ApplyDuration<&Config::graph_initial_backoff, false>},
      {"graph_max_backoff", {"ROLLCALL_GRAPH_MAX_BACKOFF"}, true, false, "DURATION", "30s",
       "Longest wait between Graph attempts, a Retry-After's included.",
       ApplyDuration<&Config::graph_max_backoff, false>},
      {"default_deadline", {"ROLLCALL_DEFAULT_DEADLINE"}, true, false, "DURATION", "30s",
       "Deadline of a call whose client set none.",
       ApplyDuration<&Config::default_deadline, false>},
      {"shutdown_grace", {"ROLLCALL_SHUTDOWN_GRACE"}, true, false, "DURATION", "20s",
       "After SIGTERM (health NOT_SERVING, new calls refused), how long calls in flight may "
       "take to finish before they are cancelled and the process exits 0.",
       ApplyDuration<&Config::shutdown_grace, true>},
      {"max_connection_age", {"ROLLCALL_MAX_CONNECTION_AGE"}, true, false, "DURATION", "5m",
       "Close each client connection (GOAWAY, calls in flight get 30s) after this long, so that "
       "clients re-resolve and spread over new replicas; 0 keeps connections open (with a "
       "proxy that balances each call). Costs every call a few percent of CPU.",
       ApplyDuration<&Config::max_connection_age, true>},
      {"metrics_listen", {"ROLLCALL_METRICS_LISTEN"}, true, false, "HOST:PORT",
       "(empty: no metrics endpoint)",
       "Address of the Prometheus endpoint, GET /metrics over plain HTTP. Port 0 lets the OS "
       "choose; the bound address is printed on stdout as `rollcall metrics on HOST:PORT`.",
       ApplyMetricsListen},
      {"log_level", {"ROLLCALL_LOG_LEVEL"}, true, false, "LEVEL", "info",
       "debug, info, warn or error. Logs are JSON lines on stderr.", ApplyLogLevel},
  };
  return *settings;
}

const Setting* FindSetting(absl::string_view name) {
  for (const Setting& setting : Settings()) {
    if (setting.name == name) return &setting;
  }
  return nullptr;
}

}  // namespace

absl::StatusOr<absl::Duration> ParseDurationSetting(absl::string_view text) {
  absl::Duration duration;
  if (text.empty() || !absl::ParseDuration(std::string(text), &duration) ||
      duration == absl::InfiniteDuration() || duration == -absl::InfiniteDuration()) {
    return Invalid(
        absl::StrCat("must be a duration such as 250ms, 30s, 5m or 1h, got ", Quote(text)));
  }
  return duration;
}

absl::StatusOr<uint64_t> ParseSizeSetting(absl::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && absl::ascii_isdigit(static_cast<unsigned char>(text[digits]))) {
    ++digits;
  }
  const absl::string_view suffix = text.substr(digits);
  uint64_t unit = 0;
  if (suffix.empty() || absl::EqualsIgnoreCase(suffix, "B")) {
    unit = 1;
  } else if (absl::EqualsIgnoreCase(suffix, "KiB")) {
    unit = uint64_t{1} << 10;
  } else if (absl::EqualsIgnoreCase(suffix, "MiB")) {
    unit = uint64_t{1} << 20;
  } else if (absl::EqualsIgnoreCase(suffix, "GiB")) {
    unit = uint64_t{1} << 30;
  }
  uint64_t number = 0;
  if (digits == 0 || unit == 0 || !absl::SimpleAtoi(text.substr(0, digits), &number) ||
      number > std::numeric_limits<uint64_t>::max() / unit) {
    return Invalid(absl::StrCat(
        "must be a size in bytes, optionally with a KiB, MiB or GiB suffix (e.g. 64MiB), got ",
        Quote(text)));
  }
  return number * unit;
}

std::string ListenHost(const std::string& listen) {
  const std::size_t colon = listen.rfind(':');
  return colon == std::string::npos ? listen : listen.substr(0, colon);
}

GetEnv ProcessEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

absl::StatusOr<Config> LoadConfig(const std::vector<std::string>& args, const GetEnv& getenv) {
  Config config;
  for (const std::string& arg : args) {
    if (arg == "--help" || arg == "-h" || arg == "-help") {
      config.help = true;
      return config;
    }
  }

  std::set<absl::string_view> set_by_user;

  // The environment first, so that flags override it.
  for (const Setting& setting : Settings()) {
    for (absl::string_view env_name : setting.env) {
      std::optional<std::string> value = getenv(std::string(env_name));
      if (!value.has_value() || value->empty()) continue;
      absl::Status status = setting.apply(*value, &config);
      if (!status.ok()) {
        return absl::InvalidArgumentError(
            setting.secret ? absl::StrCat(env_name, " is invalid")
                           : absl::StrCat(env_name, ": ", status.message()));
      }
      set_by_user.insert(setting.name);
      break;
    }
  }

  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (!absl::StartsWith(arg, "--") || arg.size() == 2) {
      // Never echo the argument: it may be a secret pasted in the wrong place.
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected argument #", i + 1,
                       " (settings are --name=value or --name value; see --help)"));
    }
    absl::string_view body = absl::string_view(arg).substr(2);
    const std::size_t eq = body.find('=');
    const std::string name = absl::StrReplaceAll(body.substr(0, eq), {{"-", "_"}});
    const Setting* setting = FindSetting(name);
    if (setting == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown flag --", absl::CHexEscape(TruncateForLog(name, 64)), " (see --help)"));
    }
    if (!setting->flag_allowed) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--", name, " is not accepted: set ", setting->env.front(),
          " in the environment instead, so the value cannot show in the process list"));
    }
    std::string value;
    if (eq != absl::string_view::npos) {
      value = std::string(body.substr(eq + 1));
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return absl::InvalidArgumentError(absl::StrCat("flag --", name, " needs a value"));
    }
    absl::Status status = setting->apply(value, &config);
    if (!status.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--", name, ": ", status.message()));
    }
    set_by_user.insert(setting->name);
  }

  if (config.graph_max_backoff < config.graph_initial_backoff) {
    return absl::InvalidArgumentError(absl::StrCat(
        "graph_max_backoff (", absl::FormatDuration(config.graph_max_backoff),
        ") must not be shorter than graph_initial_backoff (",
        absl::FormatDuration(config.graph_initial_backoff), ")"));
  }
  if (set_by_user.count("graph_scope") == 0) {
    absl::StatusOr<std::string> origin = UrlOrigin(config.graph_base_url);
    if (!origin.ok()) return origin.status();  // unreachable: graph_base_url was checked
    config.graph_scope = absl::StrCat(*origin, "/.default");
  }
  return config;
}

std::string ConfigHelp() {
  std::string help =
      "Usage: rollcall_server [--name=value | --name value]...\n"
      "\n"
      "Serves rollcall.v1.AttendanceReportService (gRPC) from Microsoft Graph, with a cache.\n"
      "Every setting is a flag and an environment variable; a flag wins over the environment.\n"
      "Durations: 250ms, 30s, 5m, 1h. Sizes: bytes, or with a KiB, MiB or GiB suffix.\n"
      "\n"
      "Settings:\n";
  for (const Setting& setting : Settings()) {
    const std::string flag =
        setting.flag_allowed ? absl::StrCat("--", setting.name, "=", setting.value_hint)
                             : std::string("(environment only, no flag)");
    absl::StrAppend(&help, "  ", flag, "\n      env: ");
    for (std::size_t i = 0; i < setting.env.size(); ++i) {
      absl::StrAppend(&help, i == 0 ? "" : ", ", setting.env[i]);
    }
    absl::StrAppend(&help, "\n      default: ", setting.default_text, "\n      ", setting.help,
                    "\n");
  }
  absl::StrAppend(&help,
                  "  --help\n"
                  "      Print this text and exit.\n");
  return help;
}

std::vector<std::pair<std::string, std::string>> ConfigLogFields(const Config& config) {
  return {
      {"listen", config.listen},
      {"graph_base_url", config.graph_base_url},
      {"graph_scope", config.graph_scope},
      {"authority_host", config.authority_host},
      {"tenant_id", config.tenant_id},
      {"client_id", config.client_id},
      // Whether it is set, never its value (the key avoids words the logger redacts).
      {"client_auth", config.client_secret.empty() ? "no client secret in AZURE_CLIENT_SECRET"
                                                   : "client secret from AZURE_CLIENT_SECRET"},
      {"ca_bundle", config.ca_bundle.empty() ? "(system store)" : config.ca_bundle},
      {"http_connect_timeout", absl::FormatDuration(config.http_connect_timeout)},
      {"http_timeout", absl::FormatDuration(config.http_timeout)},
      {"max_response_bytes", absl::StrCat(config.max_response_bytes)},
      {"cache_max_bytes", absl::StrCat(config.cache_max_bytes)},
      {"cache_ttl", absl::FormatDuration(config.cache_ttl)},
      {"cache_ttl_recent", absl::FormatDuration(config.cache_ttl_recent)},
      {"recent_report_age", absl::FormatDuration(config.recent_report_age)},
      {"negative_cache_ttl", absl::FormatDuration(config.negative_cache_ttl)},
      {"stale_if_error", absl::FormatDuration(config.stale_if_error)},
      {"upstream_concurrency", absl::StrCat(config.upstream_concurrency)},
      {"upstream_queue", absl::StrCat(config.upstream_queue)},
      {"graph_max_attempts", absl::StrCat(config.graph_max_attempts)},
      {"graph_initial_backoff", absl::FormatDuration(config.graph_initial_backoff)},
      {"graph_max_backoff", absl::FormatDuration(config.graph_max_backoff)},
      {"default_deadline", absl::FormatDuration(config.default_deadline)},
      {"shutdown_grace", absl::FormatDuration(config.shutdown_grace)},
      {"max_connection_age", absl::FormatDuration(config.max_connection_age)},
      {"metrics_listen", config.metrics_listen.empty() ? "(off)" : config.metrics_listen},
      {"log_level", std::string(LogLevelName(config.log_level))},
  };
}

}  // namespace rollcall::service
