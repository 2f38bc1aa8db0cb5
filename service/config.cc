#include "service/config.h"

#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <limits>
#include <set>
#include <variant>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "service/redis_l2.h"

namespace rollcall::service {
namespace {

absl::Status Invalid(absl::string_view what) { return absl::InvalidArgumentError(what); }

// "http(s)://host[:port][/path]" -> scheme://host[:port]; INVALID_ARGUMENT otherwise. The
// message says what is wrong, never the URL itself.
absl::StatusOr<std::string> UrlOrigin(absl::string_view url) {
  absl::string_view scheme;
  if (absl::StartsWithIgnoreCase(url, "https://")) {
    scheme = "https://";
  } else if (absl::StartsWithIgnoreCase(url, "http://")) {
    scheme = "http://";
  } else {
    return Invalid("must be an http:// or https:// URL");
  }
  const absl::string_view rest = url.substr(scheme.size());
  const absl::string_view host = rest.substr(0, rest.find_first_of("/?#"));
  if (host.empty() || absl::StrContains(host, '@')) {
    return Invalid("must be an http:// or https:// URL with a host");
  }
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return Invalid("must not contain spaces or control characters");
    }
  }
  return absl::StrCat(absl::AsciiStrToLower(scheme), host);
}

// Whether `url` (already checked by UrlOrigin) names this machine: 127.0.0.0/8, ::1 or
// localhost.
bool IsLoopbackUrl(absl::string_view url) {
  const absl::string_view rest = url.substr(url.find("://") + 3);
  absl::string_view host = rest.substr(0, rest.find_first_of("/?#"));
  if (absl::StartsWith(host, "[")) return absl::StartsWith(host, "[::1]");
  host = host.substr(0, host.find(':'));
  if (absl::EqualsIgnoreCase(host, "localhost")) return true;
  // 127.x.y.z as an address, not a name that merely starts so (127.0.0.1.example.test).
  if (!absl::StartsWith(host, "127.")) return false;
  for (char c : host) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c)) && c != '.') return false;
  }
  return true;
}

absl::Status CheckListenAddress(absl::string_view value) {
  const std::size_t colon = value.rfind(':');
  if (colon == absl::string_view::npos || colon == 0) return Invalid("must be HOST:PORT");
  const absl::string_view host = value.substr(0, colon);
  const absl::string_view port_text = value.substr(colon + 1);
  uint32_t port = 0;
  if (port_text.empty() || !absl::SimpleAtoi(port_text, &port) || port > 65535 ||
      !absl::ascii_isdigit(static_cast<unsigned char>(port_text[0]))) {
    return Invalid("port must be a number from 0 to 65535");
  }
  if (absl::StrContains(host, ':') &&
      !(absl::StartsWith(host, "[") && absl::EndsWith(host, "]"))) {
    return Invalid("an IPv6 host must be in brackets ([::1]:50051)");
  }
  return absl::OkStatus();
}

// --- The table's types --------------------------------------------------------------------

struct Setting;

// The member of Config a setting fills.
using Field = std::variant<std::string Config::*, absl::Duration Config::*, uint64_t Config::*,
                           int Config::*, LogLevel Config::*, bool Config::*>;

// One kind of value: how text becomes the Config member (checked against the setting's limits;
// the error says what is wrong and never repeats the text) and how the member is shown in the
// startup log.
struct Type {
  absl::string_view hint;  // --help shows --name=HINT
  absl::Status (*parse)(const Setting& setting, absl::string_view text, Config* config);
  std::string (*format)(const Setting& setting, const Config& config);
};

struct Setting {
  std::string name;  // the flag's name; ROLLCALL_<NAME> unless `env` says otherwise
  std::vector<std::string> env;  // environment variables, highest priority first
  bool flag_allowed = true;
  bool secret = false;  // its value never appears in an error, in help or in the log
  std::string secret_noun;  // what the startup log calls a secret ("client secret")
  const Type* type = nullptr;
  Field field;
  int64_t min = 0;  // counts and sizes: the bounds (a size's max 0: none); durations: 0
  int64_t max = 0;  // allows zero, 1 does not; text and addresses: min 1 forbids empty
  std::string default_text;  // parsed into every Config; shown by --help
  std::string default_help;  // shown by --help instead of default_text, when set
  std::string hint;          // shown by --help instead of the type's hint, when set
  std::string help;
  std::string log_key;         // the startup log's key; the name when empty
  std::string log_when_empty;  // the startup log's value when the text is empty
};

template <typename T>
T& Member(const Setting& setting, Config* config) {
  return config->*std::get<T Config::*>(setting.field);
}
template <typename T>
const T& Member(const Setting& setting, const Config& config) {
  return config.*std::get<T Config::*>(setting.field);
}

std::string FormatText(const Setting& setting, const Config& config) {
  const std::string& value = Member<std::string>(setting, config);
  return value.empty() && !setting.log_when_empty.empty() ? setting.log_when_empty : value;
}

// Whether `text` holds a C0 control character or DEL: no path, ID, scope or secret does, and
// one that does is most likely a value pasted with its line break (or into the wrong place).
bool HasControlCharacter(absl::string_view text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return true;
  }
  return false;
}

absl::Status ParseText(const Setting& setting, absl::string_view text, Config* config) {
  if (text.empty() && setting.min > 0) return Invalid("must not be empty");
  if (HasControlCharacter(text)) {
    return Invalid("must not contain control characters (a line break or a tab pasted with it?)");
  }
  Member<std::string>(setting, config) = std::string(text);
  return absl::OkStatus();
}

// Only whether it is set, never the value.
std::string FormatSecret(const Setting& setting, const Config& config) {
  const std::string& env = setting.env.front();
  return Member<std::string>(setting, config).empty()
             ? absl::StrCat("no ", setting.secret_noun, " in ", env)
             : absl::StrCat(setting.secret_noun, " from ", env);
}

absl::Status ParseUrl(const Setting& setting, absl::string_view text, Config* config) {
  absl::StatusOr<std::string> origin = UrlOrigin(text);
  if (!origin.ok()) return origin.status();
  Member<std::string>(setting, config) = std::string(text);
  return absl::OkStatus();
}

// A URL kept without its trailing slashes (a root that paths are appended to).
absl::Status ParseBaseUrl(const Setting& setting, absl::string_view text, Config* config) {
  absl::StatusOr<std::string> origin = UrlOrigin(text);
  if (!origin.ok()) return origin.status();
  while (absl::EndsWith(text, "/")) text.remove_suffix(1);
  Member<std::string>(setting, config) = std::string(text);
  return absl::OkStatus();
}

// HOST:PORT; with min 0, empty too (the endpoint is off).
absl::Status ParseAddress(const Setting& setting, absl::string_view text, Config* config) {
  if (!text.empty() || setting.min > 0) {
    absl::Status status = CheckListenAddress(text);
    if (!status.ok()) return status;
  }
  Member<std::string>(setting, config) = std::string(text);
  return absl::OkStatus();
}

absl::Status ParseDuration(const Setting& setting, absl::string_view text, Config* config) {
  absl::StatusOr<absl::Duration> parsed = ParseDurationSetting(text);
  if (!parsed.ok()) return parsed.status();
  if (*parsed < absl::ZeroDuration() || (setting.min > 0 && *parsed == absl::ZeroDuration())) {
    return Invalid(setting.min > 0 ? "must be more than zero" : "must be zero or more");
  }
  Member<absl::Duration>(setting, config) = *parsed;
  return absl::OkStatus();
}

std::string FormatDuration(const Setting& setting, const Config& config) {
  return absl::FormatDuration(Member<absl::Duration>(setting, config));
}

absl::Status ParseBytes(const Setting& setting, absl::string_view text, Config* config) {
  absl::StatusOr<uint64_t> parsed = ParseSizeSetting(text);
  if (!parsed.ok()) return parsed.status();
  if (*parsed < static_cast<uint64_t>(setting.min)) {
    return Invalid(absl::StrCat("must be at least ", setting.min, " bytes"));
  }
  if (setting.max > 0 && *parsed > static_cast<uint64_t>(setting.max)) {
    return Invalid(absl::StrCat("must be at most ", setting.max, " bytes"));
  }
  Member<uint64_t>(setting, config) = *parsed;
  return absl::OkStatus();
}

std::string FormatBytes(const Setting& setting, const Config& config) {
  return absl::StrCat(Member<uint64_t>(setting, config));
}

absl::Status ParseCount(const Setting& setting, absl::string_view text, Config* config) {
  int n = 0;
  if (!absl::SimpleAtoi(text, &n) || n < setting.min || n > setting.max) {
    return Invalid(
        absl::StrCat("must be a whole number from ", setting.min, " to ", setting.max));
  }
  Member<int>(setting, config) = n;
  return absl::OkStatus();
}

std::string FormatCount(const Setting& setting, const Config& config) {
  return absl::StrCat(Member<int>(setting, config));
}

// The national clouds (FACTS §6, "National clouds"): the identity platform's host and Graph's
// host of each. GCC (moderate) uses the global endpoints.
struct Cloud {
  absl::string_view name;
  absl::string_view login;  // authority host
  absl::string_view graph;  // Graph's root
};
constexpr Cloud kClouds[] = {
    {"global", "https://login.microsoftonline.com/", "https://graph.microsoft.com"},
    {"usgov", "https://login.microsoftonline.us/", "https://graph.microsoft.us"},
    {"usgov-dod", "https://login.microsoftonline.us/", "https://dod-graph.microsoft.us"},
    {"china", "https://login.chinacloudapi.cn/", "https://microsoftgraph.chinacloudapi.cn"},
};

const Cloud* FindCloud(absl::string_view name) {
  for (const Cloud& cloud : kClouds) {
    if (cloud.name == name) return &cloud;
  }
  return nullptr;
}

absl::Status ParseCloud(const Setting& setting, absl::string_view text, Config* config) {
  const std::string lower = absl::AsciiStrToLower(text);
  if (FindCloud(lower) == nullptr) return Invalid("must be global, usgov, usgov-dod or china");
  Member<std::string>(setting, config) = lower;
  return absl::OkStatus();
}

// "ps256" or "rs256".
absl::Status ParseAssertionAlgorithm(const Setting& setting, absl::string_view text,
                                     Config* config) {
  const std::string lower = absl::AsciiStrToLower(text);
  if (lower != "ps256" && lower != "rs256") return Invalid("must be ps256 or rs256");
  Member<std::string>(setting, config) = lower;
  return absl::OkStatus();
}

// "v1.0" or "beta": the two versions Graph serves.
absl::Status ParseGraphVersion(const Setting& setting, absl::string_view text, Config* config) {
  if (text != "v1.0" && text != "beta") return Invalid("must be v1.0 or beta");
  Member<std::string>(setting, config) = std::string(text);
  return absl::OkStatus();
}

absl::Status ParseLevel(const Setting& setting, absl::string_view text, Config* config) {
  absl::StatusOr<LogLevel> level = ParseLogLevel(text);
  if (!level.ok()) return level.status();
  Member<LogLevel>(setting, config) = *level;
  return absl::OkStatus();
}

std::string FormatLevel(const Setting& setting, const Config& config) {
  return std::string(LogLevelName(Member<LogLevel>(setting, config)));
}

// "true" or "false" (also 1/0, yes/no, on/off), any case.
absl::Status ParseBool(const Setting& setting, absl::string_view text, Config* config) {
  const std::string lower = absl::AsciiStrToLower(text);
  bool value = false;
  if (lower == "true" || lower == "1" || lower == "yes" || lower == "on") {
    value = true;
  } else if (lower != "false" && lower != "0" && lower != "no" && lower != "off") {
    return Invalid("must be true or false");
  }
  Member<bool>(setting, config) = value;
  return absl::OkStatus();
}

std::string FormatBool(const Setting& setting, const Config& config) {
  return Member<bool>(setting, config) ? "true" : "false";
}

// redis://HOST[:PORT][/DB] or unix:///PATH (service/redis_l2.h); empty: no Redis.
absl::Status ParseRedisUrlSetting(const Setting& setting, absl::string_view text,
                                  Config* config) {
  if (!text.empty()) {
    absl::StatusOr<RedisAddress> address = ParseRedisUrl(text);
    if (!address.ok()) return address.status();
  }
  Member<std::string>(setting, config) = std::string(text);
  return absl::OkStatus();
}

constexpr Type kText{"TEXT", ParseText, FormatText};
constexpr Type kRedisUrl{"URL", ParseRedisUrlSetting, FormatText};
constexpr Type kBool{"true|false", ParseBool, FormatBool};
constexpr Type kSecret{"", ParseText, FormatSecret};
constexpr Type kUrl{"URL", ParseUrl, FormatText};
constexpr Type kBaseUrl{"URL", ParseBaseUrl, FormatText};
constexpr Type kAddress{"HOST:PORT", ParseAddress, FormatText};
constexpr Type kDuration{"DURATION", ParseDuration, FormatDuration};
constexpr Type kBytes{"SIZE", ParseBytes, FormatBytes};
constexpr Type kCount{"N", ParseCount, FormatCount};
constexpr Type kLevel{"LEVEL", ParseLevel, FormatLevel};
constexpr Type kGraphVersion{"VERSION", ParseGraphVersion, FormatText};
constexpr Type kCloud{"CLOUD", ParseCloud, FormatText};
constexpr Type kAssertionAlgorithm{"ALGORITHM", ParseAssertionAlgorithm, FormatText};

// --- Entry builders, one per type -----------------------------------------------------------

Setting Entry(std::string name, const Type& type, Field field, std::string default_text,
              std::string help) {
  Setting setting;
  setting.name = std::move(name);
  setting.type = &type;
  setting.field = field;
  setting.default_text = std::move(default_text);
  setting.help = std::move(help);
  return setting;
}

enum class Zero { kAllowed, kNotAllowed };

Setting DurationEntry(std::string name, absl::Duration Config::*field, std::string default_text,
                      Zero zero, std::string help) {
  Setting setting = Entry(std::move(name), kDuration, field, std::move(default_text),
                          std::move(help));
  setting.min = zero == Zero::kAllowed ? 0 : 1;
  return setting;
}

Setting BytesEntry(std::string name, uint64_t Config::*field, std::string default_text,
                   int64_t min, std::string help) {
  Setting setting = Entry(std::move(name), kBytes, field, std::move(default_text),
                          std::move(help));
  setting.min = min;
  return setting;
}

Setting CountEntry(std::string name, int Config::*field, std::string default_text, int64_t min,
                   int64_t max, std::string help) {
  Setting setting = Entry(std::move(name), kCount, field, std::move(default_text),
                          std::move(help));
  setting.min = min;
  setting.max = max;
  return setting;
}

// Modifiers for the few entries that differ from the common case.
Setting WithEnv(Setting setting, std::vector<std::string> env) {
  setting.env = std::move(env);
  return setting;
}
Setting ShownDefault(Setting setting, std::string default_help) {
  setting.default_help = std::move(default_help);
  return setting;
}
Setting LoggedWhenEmpty(Setting setting, std::string text) {
  setting.log_when_empty = std::move(text);
  return setting;
}
Setting Hint(Setting setting, std::string hint) {
  setting.hint = std::move(hint);
  return setting;
}
// The startup log's key, for settings whose name holds a word the logger redacts ("secret",
// "token", "assertion"): their paths and choices are not secret.
Setting LogKey(Setting setting, std::string key) {
  setting.log_key = std::move(key);
  return setting;
}
Setting WithMax(Setting setting, int64_t max) {
  setting.max = max;
  return setting;
}
Setting NonEmpty(Setting setting) {
  setting.min = 1;
  return setting;
}

// --- The table ------------------------------------------------------------------------------

std::vector<Setting> BuildSettings() {
  Setting secret = ShownDefault(
      WithEnv(Entry("client_secret", kSecret, &Config::client_secret, "",
                    "The app registration's client secret. Read ONLY from the environment, "
                    "never from a flag, so it cannot show in `ps`; never logged or printed."),
              {"AZURE_CLIENT_SECRET"}),
      "(none; required)");
  secret.flag_allowed = false;
  secret.secret = true;
  secret.secret_noun = "client secret";
  // The key avoids the words the logger redacts: it logs whether a secret is set, not a secret.
  secret.log_key = "client_auth";

  Setting password = ShownDefault(
      WithEnv(Entry("client_certificate_password", kSecret, &Config::client_certificate_password,
                    "",
                    "The passphrase of the certificate's private key, when it is encrypted. "
                    "Read ONLY from the environment; never logged or printed."),
              {"AZURE_CLIENT_CERTIFICATE_PASSWORD"}),
      "(none)");
  password.flag_allowed = false;
  password.secret = true;
  password.secret_noun = "certificate passphrase";
  password.log_key = "client_certificate_key";

  // The path is not secret, but the logger redacts keys that say "token": log it as the
  // paging key's file.
  Setting page_key = LoggedWhenEmpty(
      ShownDefault(
          Hint(Entry("page_token_key_file", kText, &Config::page_token_key_file, "",
                     "File holding the key (at least 32 bytes) that signs ListAttendanceRecords "
                     "page tokens. Give every replica the same file (a Kubernetes Secret) so "
                     "that a token minted by one is accepted by all; without it each process "
                     "makes a random key, and its tokens work on it alone, until it restarts."),
               "PATH"),
          "(empty: a random key per process)"),
      "(random per process)");
  page_key.log_key = "paging_key_file";

  std::vector<Setting> settings = {
      ShownDefault(
          NonEmpty(Entry("listen", kAddress, &Config::listen, "0.0.0.0:50051",
                         "Address the gRPC server listens on. Port 0 lets the OS choose; the "
                         "bound address is printed on stdout as `rollcall listening on "
                         "HOST:PORT`.")),
          "0.0.0.0:50051 with TLS; 127.0.0.1:50051 (off the network) with plaintext"),
      LoggedWhenEmpty(
          ShownDefault(
              Hint(Entry("tls_cert_file", kText, &Config::tls_cert_file, "",
                         "PEM certificate chain the gRPC port serves TLS with (a mounted "
                         "Kubernetes TLS Secret's tls.crt); needs tls_key_file. Re-read every "
                         "tls_reload_interval when it changes: new connections get the new "
                         "certificate, open ones go on. Required unless plaintext is true."),
                   "PATH"),
              "(none)"),
          "(none)"),
      LoggedWhenEmpty(
          ShownDefault(
              Hint(Entry("tls_key_file", kText, &Config::tls_key_file, "",
                         "PEM private key of tls_cert_file (tls.key); re-read with it."),
                   "PATH"),
              "(none)"),
          "(none)"),
      LoggedWhenEmpty(
          ShownDefault(
              Hint(Entry("tls_client_ca_file", kText, &Config::tls_client_ca_file, "",
                         "PEM bundle of the CAs that issue client certificates: turns on mutual "
                         "TLS, and a client without a certificate from one of them cannot "
                         "connect. Re-read with the certificate."),
                   "PATH"),
              "(none: clients are not asked for a certificate)"),
          "(none)"),
      DurationEntry("tls_reload_interval", &Config::tls_reload_interval, "60s",
                    Zero::kNotAllowed,
                    "How often the TLS certificate, key and client CA files are checked for "
                    "changes (whole seconds; at least 1s)."),
      LoggedWhenEmpty(
          ShownDefault(
              Hint(Entry("caller_policy_file", kText, &Config::caller_policy_file, "",
                         "JSON file naming the callers (client certificate identities: a SPIFFE "
                         "ID or other URI SAN, a DNS SAN, or the subject) and whose meetings "
                         "each may read (README, \"Caller policy\"); any other caller gets "
                         "PERMISSION_DENIED (CALLER_NOT_ALLOWED). Needs tls_client_ca_file. "
                         "Re-read when it changes (checked at most once a second)."),
                   "PATH"),
              "(none: every caller that connects may read everything)"),
          "(none)"),
      Entry("plaintext", kBool, &Config::plaintext, "false",
            "Serve gRPC without TLS: anyone who reaches the port can read every report Rollcall "
            "can. Only for tests and local use; logged as a warning at start-up. Without "
            "TLS files it must be set explicitly, and then listen defaults to 127.0.0.1:50051."),
      Hint(Entry("cloud", kCloud, &Config::cloud, "global",
                 "The Microsoft cloud: global, usgov (GCC High, L4), usgov-dod (L5) or china. It "
                 "sets authority_host, graph_base_url and graph_scope to that cloud's unless they "
                 "are set; one set to another cloud's host is refused, as its tokens would be."),
           "global|usgov|usgov-dod|china"),
      Entry("graph_base_url", kBaseUrl, &Config::graph_base_url, "https://graph.microsoft.com",
            "Microsoft Graph's root, without the version (graph_version is appended): "
            "https://graph.microsoft.com, or a national cloud's Graph host."),
      Entry("graph_version", kGraphVersion, &Config::graph_version, "v1.0",
            "Graph's API version: v1.0, or beta (which adds the beta-only attendance record "
            "fields, registrantId and engagements; beta APIs may change without notice)."),
      ShownDefault(
          Hint(NonEmpty(Entry("graph_scope", kText, &Config::graph_scope,
                         "https://graph.microsoft.com/.default",
                         "OAuth scope of the app-only token (https://graph.microsoft.com/.default "
                         "by default).")),
               "SCOPE"),
          "scheme and host of graph_base_url + /.default"),
      WithEnv(Entry("authority_host", kUrl, &Config::authority_host,
                    "https://login.microsoftonline.com/",
                    "The Microsoft identity platform's host."),
              {"ROLLCALL_AUTHORITY_HOST", "AZURE_AUTHORITY_HOST"}),
      ShownDefault(Hint(WithEnv(Entry("tenant_id", kText, &Config::tenant_id, "",
                                      "Entra ID tenant of the app registration."),
                                {"AZURE_TENANT_ID"}),
                        "ID"),
                   "(none; required)"),
      ShownDefault(Hint(WithEnv(Entry("client_id", kText, &Config::client_id, "",
                                      "Application (client) ID of the app registration."),
                                {"AZURE_CLIENT_ID"}),
                        "ID"),
                   "(none; required)"),
      secret,
      LogKey(LoggedWhenEmpty(
          ShownDefault(
              Hint(Entry("client_secret_file", kText, &Config::client_secret_file, "",
                         "File holding the client secret (a mounted Kubernetes Secret), used "
                         "when AZURE_CLIENT_SECRET is not set; re-read when it changes, so a "
                         "rotated secret needs no restart."),
                   "PATH"),
              "(none)"),
          "(none)"), "client_auth_file"),
      LoggedWhenEmpty(
          ShownDefault(
              Hint(WithEnv(Entry("client_certificate_path", kText,
                                 &Config::client_certificate_path, "",
                                 "PEM file with the app registration's certificate and its RSA "
                                 "private key: Rollcall signs a client assertion with it (used "
                                 "when no client secret is configured)."),
                           {"AZURE_CLIENT_CERTIFICATE_PATH"}),
                   "PATH"),
              "(none)"),
          "(none)"),
      password,
      LogKey(Hint(Entry("client_assertion_algorithm", kAssertionAlgorithm,
                 &Config::client_assertion_algorithm, "ps256",
                 "How the certificate's assertion is signed: ps256 (RSASSA-PSS, header "
                 "x5t#S256, what Entra ID documents) or rs256 (PKCS#1 v1.5, header x5t, for "
                 "older tenants)."),
           "ps256|rs256"), "client_signing_algorithm"),
      LogKey(LoggedWhenEmpty(
          ShownDefault(
              Hint(WithEnv(Entry("federated_token_file", kText, &Config::federated_token_file,
                                 "",
                                 "Kubernetes workload identity: the projected service account "
                                 "token sent as the client assertion, read for every token "
                                 "request (used when no secret or certificate is configured)."),
                           {"AZURE_FEDERATED_TOKEN_FILE"}),
                   "PATH"),
              "(none)"),
          "(none)"), "federated_identity_file"),
      LoggedWhenEmpty(
          ShownDefault(Hint(Entry("ca_bundle", kText, &Config::ca_bundle, "",
                                  "PEM bundle of CAs trusted for outbound TLS (Graph and the "
                                  "token endpoint)."),
                            "PATH"),
                       "(empty: system store)"),
          "(system store)"),
      DurationEntry("http_connect_timeout", &Config::http_connect_timeout, "5s",
                    Zero::kNotAllowed, "Connect timeout of one outbound HTTP request."),
      DurationEntry("http_timeout", &Config::http_timeout, "30s", Zero::kNotAllowed,
                    "Total timeout of one outbound HTTP request."),
      BytesEntry("max_response_bytes", &Config::max_response_bytes, "64MiB", 1,
                 "Largest HTTP response body accepted from Graph or the token endpoint."),
      BytesEntry("max_report_bytes", &Config::max_report_bytes, "64MiB", 1,
                 "Largest attendance report accepted from Graph: the sum of its pages' bodies "
                 "(the report and every page of its records). A larger one is refused with "
                 "FAILED_PRECONDITION (REPORT_TOO_LARGE)."),
      CountEntry("max_report_records", &Config::max_report_records, "100000", 1, 100'000'000,
                 "Most attendance records accepted in one report, counted across its pages as "
                 "they are parsed (Teams meetings and town halls have at most tens of "
                 "thousands). A larger one is refused with FAILED_PRECONDITION "
                 "(REPORT_TOO_LARGE) as soon as the count passes it."),
      BytesEntry("max_report_memory", &Config::max_report_memory, "256MiB", 1 << 20,
                 "Most memory one Graph answer may take while it is read: the page being "
                 "parsed (its copy and 32 bytes per JSON value) plus the message built so far. "
                 "Past it the read stops with FAILED_PRECONDITION (REPORT_TOO_LARGE)."),
      BytesEntry("cache_max_bytes", &Config::cache_max_bytes, "256MiB", 0,
                 "Memory bound of the report cache (least recently used entries are evicted); "
                 "0 turns caching off."),
      DurationEntry("cache_ttl", &Config::cache_ttl, "1h", Zero::kAllowed,
                    "How long a report of a meeting that ended at least recent_report_age ago "
                    "is cached."),
      DurationEntry("cache_ttl_recent", &Config::cache_ttl_recent, "60s", Zero::kAllowed,
                    "How long a report with no meeting end time, or of a meeting that ended "
                    "less than recent_report_age ago, is cached (it may still change)."),
      DurationEntry("recent_report_age", &Config::recent_report_age, "1h", Zero::kAllowed,
                    "A report whose meeting ended less than this long ago counts as recent."),
      DurationEntry("reports_list_ttl", &Config::reports_list_ttl, "60s", Zero::kAllowed,
                    "How long a meeting's list of attendance reports (ListAttendanceReports) is "
                    "cached; a recurring meeting gains a report with each session."),
      DurationEntry("meeting_lookup_ttl", &Config::meeting_lookup_ttl, "1h", Zero::kAllowed,
                    "How long the meeting a join link resolves to (ResolveOnlineMeeting) is "
                    "cached."),
      DurationEntry("negative_cache_ttl", &Config::negative_cache_ttl, "30s", Zero::kAllowed,
                    "How long Graph's 404 for a report is remembered and answered (NOT_FOUND) "
                    "without asking Graph again; 0 turns negative caching off."),
      DurationEntry("stale_if_error", &Config::stale_if_error, "24h", Zero::kAllowed,
                    "How long past its expiry a cached report may still be served, marked "
                    "stale, when Graph fails (5xx, timeouts, throttling, broken bodies); 0 "
                    "turns this off."),
      LoggedWhenEmpty(
          ShownDefault(
              Hint(Entry("redis_url", kRedisUrl, &Config::redis_url, "",
                         "Redis as a second cache tier shared by every replica: "
                         "redis://HOST[:PORT][/DB] or unix:///PATH. A miss looks there before "
                         "Graph and a Graph load is written there; concurrent misses on "
                         "different replicas make one Graph call. Redis down or slow is not an "
                         "outage: loads go to Graph. rediss:// is refused (hiredis 0.14 has no "
                         "TLS): use a local TLS proxy."),
                   "URL"),
              "(empty: no Redis)"),
          "(off)"),
      LogKey(LoggedWhenEmpty(
          ShownDefault(
              Hint(Entry("redis_password_file", kText, &Config::redis_password_file, "",
                         "File holding Redis' AUTH password (one line), or an ACL user and its "
                         "password (two lines); read for each new connection, never logged."),
                   "PATH"),
              "(none: no AUTH)"),
          "(none)"), "redis_auth_file"),
      DurationEntry("redis_timeout", &Config::redis_timeout, "100ms", Zero::kNotAllowed,
                    "Timeout of each Redis connect and each command; past it the load goes to "
                    "Graph and Redis is left alone for a short backoff."),
      DurationEntry("redis_lease_ttl", &Config::redis_lease_ttl, "10s", Zero::kNotAllowed,
                    "How long a replica loading a report from Graph holds its Redis lease: "
                    "the others wait for its value meanwhile, and load themselves if it "
                    "expires without one."),
      CountEntry("upstream_concurrency", &Config::upstream_concurrency, "8", 1, 256,
                 "Threads making Graph calls for cache misses."),
      CountEntry("upstream_queue", &Config::upstream_queue, "256", 0, 1000000,
                 "Cache misses that may wait for an upstream thread; a miss beyond them gets "
                 "RESOURCE_EXHAUSTED (UPSTREAM_OVERLOADED, retry after 1s) at once. Cache hits "
                 "never wait."),
      CountEntry("graph_max_attempts", &Config::graph_max_attempts, "4", 1, 20,
                 "Attempts of one Graph request in all (429, 503, 504, failed connections); 1 "
                 "turns retries off."),
      DurationEntry("graph_initial_backoff", &Config::graph_initial_backoff, "500ms",
                    Zero::kNotAllowed,
                    "First wait between Graph attempts when Graph sends no Retry-After; "
                    "doubles after each attempt."),
      DurationEntry("graph_max_backoff", &Config::graph_max_backoff, "30s", Zero::kNotAllowed,
                    "Longest wait between Graph attempts, a Retry-After's included."),
      DurationEntry("default_deadline", &Config::default_deadline, "30s", Zero::kNotAllowed,
                    "Deadline of a call whose client set none."),
      DurationEntry("shutdown_grace", &Config::shutdown_grace, "20s", Zero::kAllowed,
                    "After SIGTERM (health NOT_SERVING, new calls refused), how long calls in "
                    "flight may take to finish before they are cancelled and the process exits "
                    "0."),
      DurationEntry("max_connection_age", &Config::max_connection_age, "5m", Zero::kAllowed,
                    "Close each client connection (GOAWAY, calls in flight get 30s) after this "
                    "long, so that clients re-resolve and spread over new replicas; 0 keeps "
                    "connections open (with a proxy that balances each call). Costs every call "
                    "a few percent of CPU."),
      CountEntry("max_concurrent_streams", &Config::max_concurrent_streams, "100", 1,
                 std::numeric_limits<int>::max(),
                 "Calls one client connection may have open at once (HTTP/2 "
                 "SETTINGS_MAX_CONCURRENT_STREAMS); a client's further calls wait until one "
                 "ends. Bounds what one connection can make the server hold, such as replies "
                 "it does not read."),
      BytesEntry("grpc_memory_quota", &Config::grpc_memory_quota, "256MiB", 1 << 20,
                 "Byte budget of gRPC's resource quota: what gRPC itself allocates for calls "
                 "and connections (call state, read buffers); under pressure it shrinks its "
                 "buffers and may close connections. Replies are not charged to it: they "
                 "share the cache's bytes."),
      WithMax(BytesEntry("max_send_message_bytes", &Config::max_send_message_bytes, "64MiB",
                         1 << 20,
                         "Largest message the server sends. A whole report (GetAttendanceReport) "
                         "larger than this is refused with FAILED_PRECONDITION "
                         "(REPORT_TOO_LARGE) before any of it is sent; page or stream its "
                         "records instead. At most 2GiB minus one byte."),
              std::numeric_limits<int>::max()),
      BytesEntry("max_reply_memory", &Config::max_reply_memory, "256MiB", 1 << 20,
                 "Most memory whole replies of 64KiB and more may hold together from the "
                 "moment they are sent until their calls end: a client that does not read keeps "
                 "its replies, and a reply whose report has left the cache is its own copy. A "
                 "reply past it is refused with RESOURCE_EXHAUSTED (REPLIES_BACKLOGGED, retry "
                 "after 1s)."),
      page_key,
      LoggedWhenEmpty(
          ShownDefault(Entry("metrics_listen", kAddress, &Config::metrics_listen, "",
                             "Address of the Prometheus endpoint, GET /metrics over plain HTTP. "
                             "Port 0 lets the OS choose; the bound address is printed on stdout "
                             "as `rollcall metrics on HOST:PORT`."),
                       "(empty: no metrics endpoint)"),
          "(off)"),
      Entry("log_level", kLevel, &Config::log_level, "info",
            "debug, info, warn or error. Logs are JSON lines on stderr."),
      Entry("delegated_mode", kBool, &Config::delegated_mode, "false",
            "Delegated mode: a GetAttendanceReport call that carries a user's token "
            "(`authorization: Bearer ...`, a token issued for this app registration) and "
            "user_id \"me\" (or empty) reads the report through Graph's /me as that user, "
            "after an on-behalf-of exchange, with the delegated permission "
            "OnlineMeetingArtifact.Read.All (README, \"Delegated mode\"). Off: such calls are "
            "refused with FAILED_PRECONDITION (DELEGATED_MODE_OFF)."),
      CountEntry("delegated_max_users", &Config::delegated_max_users, "5000", 1, 1000000,
                 "Delegated mode: how many users' (user tokens') Graph tokens are cached; the "
                 "least recently used go first."),
  };
  for (Setting& setting : settings) {
    if (setting.env.empty()) {
      setting.env.push_back(absl::StrCat("ROLLCALL_", absl::AsciiStrToUpper(setting.name)));
    }
    if (setting.log_key.empty()) setting.log_key = setting.name;
  }
  return settings;
}

const std::vector<Setting>& Settings() {
  static const auto* const settings = new std::vector<Setting>(BuildSettings());
  return *settings;
}

const Setting* FindSetting(absl::string_view name) {
  for (const Setting& setting : Settings()) {
    if (setting.name == name) return &setting;
  }
  return nullptr;
}

// Every name a setting goes by: "--cache_ttl or ROLLCALL_CACHE_TTL", "--authority_host,
// ROLLCALL_AUTHORITY_HOST or AZURE_AUTHORITY_HOST", "AZURE_CLIENT_SECRET (environment only)".
std::string NamesOf(const Setting& setting) {
  std::vector<std::string> names;
  if (setting.flag_allowed) names.push_back(absl::StrCat("--", setting.name));
  names.insert(names.end(), setting.env.begin(), setting.env.end());
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "" : i + 1 == names.size() ? " or " : ", ", names[i]);
  }
  if (!setting.flag_allowed) absl::StrAppend(&out, " (environment only)");
  return out;
}

std::string NamesOf(absl::string_view name) {
  const Setting* setting = FindSetting(name);
  return setting == nullptr ? std::string(name) : NamesOf(*setting);
}

// The error for a value of `setting` read from `where` (the flag or the variable): what is
// wrong and every name of the setting, never the value (it may be a secret pasted in the wrong
// place). `problem` comes from a parser, which never quotes the text either.
absl::Status BadValue(const Setting& setting, absl::string_view where,
                      absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(where, ": ", problem, " (setting ",
                                                 setting.name, ": ", NamesOf(setting),
                                                 "; the value given is not shown)"));
}

// An error about settings whose values are each valid but not together: the sentence names
// them, and the names they are set by follow.
absl::Status Conflict(absl::string_view sentence,
                      std::initializer_list<absl::string_view> settings) {
  std::vector<std::string> names;
  for (absl::string_view name : settings) names.push_back(NamesOf(name));
  return absl::InvalidArgumentError(
      absl::StrCat(sentence, " (set by ", absl::StrJoin(names, "; "), ")"));
}

}  // namespace

std::vector<SettingNames> ConfigSettingNames() {
  std::vector<SettingNames> out;
  for (const Setting& setting : Settings()) {
    out.push_back({setting.name, setting.flag_allowed, setting.env});
  }
  return out;
}

Config::Config() {
  for (const Setting& setting : Settings()) {
    const absl::Status status = setting.type->parse(setting, setting.default_text, this);
    if (!status.ok()) {
      // The table itself is wrong: a programming error that every test would hit.
      std::fprintf(stderr, "rollcall: the default of %s does not parse: %s\n",
                   setting.name.c_str(), std::string(status.message()).c_str());
      std::abort();
    }
  }
}

absl::StatusOr<absl::Duration> ParseDurationSetting(absl::string_view text) {
  absl::Duration duration;
  if (text.empty() || !absl::ParseDuration(std::string(text), &duration) ||
      duration == absl::InfiniteDuration() || duration == -absl::InfiniteDuration()) {
    return Invalid("must be a duration such as 250ms, 30s, 5m or 1h");
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
    return Invalid(
        "must be a size in bytes, optionally with a KiB, MiB or GiB suffix (e.g. 64MiB)");
  }
  return number * unit;
}

absl::Status CheckTransportSecurity(const Config& config) {
  const bool cert = !config.tls_cert_file.empty();
  const bool key = !config.tls_key_file.empty();
  if (cert != key) {
    return Invalid(cert ? "ROLLCALL_TLS_CERT_FILE is set without ROLLCALL_TLS_KEY_FILE: set both"
                        : "ROLLCALL_TLS_KEY_FILE is set without ROLLCALL_TLS_CERT_FILE: set both");
  }
  if (cert && config.plaintext) {
    return Invalid(
        "ROLLCALL_PLAINTEXT=true and ROLLCALL_TLS_CERT_FILE/ROLLCALL_TLS_KEY_FILE are both set: "
        "choose TLS (unset ROLLCALL_PLAINTEXT) or plaintext (unset the TLS files)");
  }
  if (!cert && !config.plaintext) {
    return Invalid(
        "no transport security: set ROLLCALL_TLS_CERT_FILE and ROLLCALL_TLS_KEY_FILE (TLS, and "
        "ROLLCALL_TLS_CLIENT_CA_FILE for mutual TLS), or ROLLCALL_PLAINTEXT=true to serve "
        "without TLS (tests and local use only)");
  }
  if (!config.tls_client_ca_file.empty() && !cert) {
    return Invalid("ROLLCALL_TLS_CLIENT_CA_FILE needs TLS: set ROLLCALL_TLS_CERT_FILE and "
                   "ROLLCALL_TLS_KEY_FILE (and not ROLLCALL_PLAINTEXT)");
  }
  if (!config.caller_policy_file.empty() && config.tls_client_ca_file.empty()) {
    return Invalid("ROLLCALL_CALLER_POLICY_FILE needs mutual TLS to know who calls: set "
                   "ROLLCALL_TLS_CLIENT_CA_FILE (and ROLLCALL_TLS_CERT_FILE, ROLLCALL_TLS_KEY_FILE)");
  }
  return absl::OkStatus();
}

bool UsesPlainHttp(const Config& config) {
  return absl::StartsWithIgnoreCase(config.graph_base_url, "http://") ||
         absl::StartsWithIgnoreCase(config.authority_host, "http://");
}

std::string GraphUrl(const Config& config) {
  return absl::StrCat(config.graph_base_url, "/", config.graph_version);
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
    for (const std::string& env_name : setting.env) {
      std::optional<std::string> value = getenv(env_name);
      if (!value.has_value() || value->empty()) continue;
      absl::Status status = setting.type->parse(setting, *value, &config);
      if (!status.ok()) return BadValue(setting, env_name, status.message());
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
    const std::string flag = absl::StrCat("--", name);
    std::string value;
    if (eq != absl::string_view::npos) {
      value = std::string(body.substr(eq + 1));
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return BadValue(*setting, flag, "needs a value (--name=value or --name value)");
    }
    absl::Status status = setting->type->parse(*setting, value, &config);
    if (!status.ok()) return BadValue(*setting, flag, status.message());
    set_by_user.insert(setting->name);
  }

  // Plaintext stays off the network unless an address is asked for.
  if (config.plaintext && set_by_user.count("listen") == 0) config.listen = "127.0.0.1:50051";
  if (config.graph_max_backoff < config.graph_initial_backoff) {
    return Conflict("graph_max_backoff must not be shorter than graph_initial_backoff",
                    {"graph_max_backoff", "graph_initial_backoff"});
  }
  // Tokens and reports travel only over TLS; plain http:// only to this machine, for tests.
  for (const auto& [name, url] : {std::pair<const char*, const std::string*>{
                                      "graph_base_url", &config.graph_base_url},
                                  {"authority_host", &config.authority_host}}) {
    if (absl::StartsWithIgnoreCase(*url, "http://") && !IsLoopbackUrl(*url)) {
      return Conflict(absl::StrCat(name, " must be an https:// URL: tokens and reports must not "
                                   "cross the network in the clear (http:// is accepted only "
                                   "for a loopback host, in tests)"),
                      {name});
    }
  }
  for (absl::string_view version : {"/v1.0", "/beta"}) {
    if (absl::EndsWithIgnoreCase(config.graph_base_url, version)) {
      return Conflict(absl::StrCat("graph_base_url ends in the Graph version ",
                                   version.substr(1),
                                   "; give the root alone (https://graph.microsoft.com) and "
                                   "the version as graph_version"),
                      {"graph_base_url", "graph_version"});
    }
  }
  // The cloud's hosts, where not set; and no host of another cloud.
  const Cloud* cloud = FindCloud(config.cloud);
  if (set_by_user.count("graph_base_url") == 0) config.graph_base_url = std::string(cloud->graph);
  if (set_by_user.count("authority_host") == 0) config.authority_host = std::string(cloud->login);
  const auto cloud_of = [](absl::string_view url, bool login) -> const Cloud* {
    absl::StatusOr<std::string> origin = UrlOrigin(url);
    if (!origin.ok()) return nullptr;
    for (const Cloud& known : kClouds) {
      absl::string_view host = login ? known.login : known.graph;
      while (absl::EndsWith(host, "/")) host.remove_suffix(1);
      if (absl::EqualsIgnoreCase(*origin, host)) return &known;
    }
    return nullptr;  // not a Microsoft host (the emulator, a proxy): allowed
  };
  const Cloud* graph_cloud = cloud_of(config.graph_base_url, false);
  if (graph_cloud != nullptr && graph_cloud != cloud) {
    return Conflict(absl::StrCat("graph_base_url is the ", graph_cloud->name,
                                 " cloud's Graph but cloud is ", cloud->name, ": set cloud=",
                                 graph_cloud->name, ", or leave graph_base_url unset"),
                    {"graph_base_url", "cloud"});
  }
  const Cloud* login_cloud = cloud_of(config.authority_host, true);
  if (login_cloud != nullptr && login_cloud->login != cloud->login) {
    return Conflict(absl::StrCat("authority_host is the ", login_cloud->name,
                                 " cloud's identity platform but cloud is ", cloud->name,
                                 ": tokens of one cloud are not accepted by another"),
                    {"authority_host", "cloud"});
  }

  if (set_by_user.count("graph_scope") == 0) {
    absl::StatusOr<std::string> origin = UrlOrigin(config.graph_base_url);
    if (!origin.ok()) return origin.status();  // unreachable: graph_base_url was checked
    config.graph_scope = absl::StrCat(*origin, "/.default");
  } else {
    const Cloud* scope_cloud = cloud_of(config.graph_scope, false);
    if (scope_cloud != nullptr && graph_cloud != nullptr && scope_cloud != graph_cloud) {
      return Conflict(absl::StrCat("graph_scope is for the ", scope_cloud->name,
                                   " cloud's Graph but graph_base_url is the ",
                                   graph_cloud->name,
                                   " cloud's: a token for one is refused by the other"),
                      {"graph_scope", "graph_base_url"});
    }
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
        setting.flag_allowed ? absl::StrCat("--", setting.name, "=",
                                            setting.hint.empty() ? setting.type->hint
                                                                 : setting.hint)
                             : std::string("(environment only, no flag)");
    absl::StrAppend(&help, "  ", flag, "\n      env: ", absl::StrJoin(setting.env, ", "),
                    "\n      default: ",
                    !setting.default_help.empty()   ? setting.default_help
                    : !setting.default_text.empty() ? setting.default_text
                                                    : std::string("(none)"),
                    "\n      ", setting.help, "\n");
  }
  absl::StrAppend(&help,
                  "  --help\n"
                  "      Print this text and exit.\n");
  return help;
}

std::vector<std::pair<std::string, std::string>> ConfigLogFields(const Config& config) {
  std::vector<std::pair<std::string, std::string>> fields;
  fields.reserve(Settings().size());
  for (const Setting& setting : Settings()) {
    fields.emplace_back(setting.log_key, setting.type->format(setting, config));
  }
  return fields;
}

}  // namespace rollcall::service
