#include "service/config.h"

#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rollcall::service {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kSecret[] = "s3cr3t~Value.That_Must-Never_Show";

GetEnv EnvOf(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

absl::StatusOr<Config> Load(std::vector<std::string> args,
                            std::map<std::string, std::string> env = {}) {
  return LoadConfig(args, EnvOf(std::move(env)));
}

TEST(ConfigTest, Defaults) {
  absl::StatusOr<Config> config = Load({});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_FALSE(config->help);
  EXPECT_EQ(config->listen, "0.0.0.0:50051");
  EXPECT_EQ(config->graph_base_url, "https://graph.microsoft.com/v1.0");
  EXPECT_EQ(config->graph_scope, "https://graph.microsoft.com/.default");
  EXPECT_EQ(config->authority_host, "https://login.microsoftonline.com/");
  EXPECT_EQ(config->tenant_id, "");
  EXPECT_EQ(config->client_id, "");
  EXPECT_EQ(config->client_secret, "");
  EXPECT_EQ(config->ca_bundle, "");
  EXPECT_EQ(config->http_connect_timeout, absl::Seconds(5));
  EXPECT_EQ(config->http_timeout, absl::Seconds(30));
  EXPECT_EQ(config->max_response_bytes, 64u << 20);
  EXPECT_EQ(config->cache_max_bytes, 256u << 20);
  EXPECT_EQ(config->cache_ttl, absl::Hours(1));
  EXPECT_EQ(config->cache_ttl_recent, absl::Seconds(60));
  EXPECT_EQ(config->recent_report_age, absl::Hours(1));
  EXPECT_EQ(config->upstream_concurrency, 8);
  EXPECT_EQ(config->default_deadline, absl::Seconds(30));
  EXPECT_EQ(config->log_level, LogLevel::kInfo);
  EXPECT_EQ(config->negative_cache_ttl, absl::Seconds(30));
  EXPECT_EQ(config->stale_if_error, absl::Hours(24));
  EXPECT_EQ(config->upstream_queue, 256);
  EXPECT_EQ(config->shutdown_grace, absl::Seconds(20));
  EXPECT_EQ(config->max_connection_age, absl::Minutes(5));
  EXPECT_EQ(config->metrics_listen, "");
  EXPECT_EQ(config->graph_max_attempts, 4);
  EXPECT_EQ(config->graph_initial_backoff, absl::Milliseconds(500));
  EXPECT_EQ(config->graph_max_backoff, absl::Seconds(30));
}

TEST(ConfigTest, ResilienceSettingsAsFlags) {
  absl::StatusOr<Config> config =
      Load({"--negative_cache_ttl=5s", "--stale-if-error", "90m", "--upstream_queue=0",
            "--shutdown_grace=0s", "--metrics_listen=127.0.0.1:0", "--graph_max_attempts=1",
            "--graph_initial_backoff=100ms", "--graph_max_backoff=2s",
            "--max_connection_age=0s"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->negative_cache_ttl, absl::Seconds(5));
  EXPECT_EQ(config->stale_if_error, absl::Minutes(90));
  EXPECT_EQ(config->upstream_queue, 0);
  EXPECT_EQ(config->shutdown_grace, absl::ZeroDuration());
  EXPECT_EQ(config->max_connection_age, absl::ZeroDuration());  // connections kept open
  EXPECT_EQ(config->metrics_listen, "127.0.0.1:0");
  EXPECT_EQ(config->graph_max_attempts, 1);
  EXPECT_EQ(config->graph_initial_backoff, absl::Milliseconds(100));
  EXPECT_EQ(config->graph_max_backoff, absl::Seconds(2));

  // Zero turns negative caching and stale-if-error off; an empty flag turns metrics off.
  config = Load({"--negative_cache_ttl=0s", "--stale_if_error=0s", "--metrics_listen="},
                {{"ROLLCALL_METRICS_LISTEN", "[::]:9090"}});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->negative_cache_ttl, absl::ZeroDuration());
  EXPECT_EQ(config->stale_if_error, absl::ZeroDuration());
  EXPECT_EQ(config->metrics_listen, "");
}

TEST(ConfigTest, ResilienceSettingsFromTheEnvironment) {
  absl::StatusOr<Config> config = Load({}, {{"ROLLCALL_NEGATIVE_CACHE_TTL", "1m"},
                                            {"ROLLCALL_STALE_IF_ERROR", "48h"},
                                            {"ROLLCALL_UPSTREAM_QUEUE", "10"},
                                            {"ROLLCALL_SHUTDOWN_GRACE", "25s"},
                                            {"ROLLCALL_MAX_CONNECTION_AGE", "30m"},
                                            {"ROLLCALL_METRICS_LISTEN", "[::]:9090"},
                                            {"ROLLCALL_GRAPH_MAX_ATTEMPTS", "6"},
                                            {"ROLLCALL_GRAPH_INITIAL_BACKOFF", "1s"},
                                            {"ROLLCALL_GRAPH_MAX_BACKOFF", "1m"}});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->negative_cache_ttl, absl::Minutes(1));
  EXPECT_EQ(config->stale_if_error, absl::Hours(48));
  EXPECT_EQ(config->upstream_queue, 10);
  EXPECT_EQ(config->shutdown_grace, absl::Seconds(25));
  EXPECT_EQ(config->max_connection_age, absl::Minutes(30));
  EXPECT_EQ(config->metrics_listen, "[::]:9090");
  EXPECT_EQ(config->graph_max_attempts, 6);
  EXPECT_EQ(config->graph_initial_backoff, absl::Seconds(1));
  EXPECT_EQ(config->graph_max_backoff, absl::Minutes(1));
  bool logged = false;
  for (const auto& [key, value] : ConfigLogFields(*config)) {
    if (key == "metrics_listen") {
      logged = true;
      EXPECT_EQ(value, "[::]:9090");
    }
  }
  EXPECT_TRUE(logged);
}

TEST(ConfigTest, FlagsInBothForms) {
  absl::StatusOr<Config> config =
      Load({"--listen=127.0.0.1:0", "--http_timeout", "250ms", "--cache-max-bytes=64KiB",
            "--upstream_concurrency", "3", "--log_level=debug", "--tenant_id", "t-1",
            "--client_id=c-1", "--ca_bundle=/etc/ca.pem", "--cache_ttl=5m",
            "--cache_ttl_recent=0s", "--recent_report_age=2h", "--default_deadline=1s",
            "--http_connect_timeout=1s", "--max_response_bytes=1GiB"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listen, "127.0.0.1:0");
  EXPECT_EQ(config->http_timeout, absl::Milliseconds(250));
  EXPECT_EQ(config->cache_max_bytes, 64u * 1024);
  EXPECT_EQ(config->upstream_concurrency, 3);
  EXPECT_EQ(config->log_level, LogLevel::kDebug);
  EXPECT_EQ(config->tenant_id, "t-1");
  EXPECT_EQ(config->client_id, "c-1");
  EXPECT_EQ(config->ca_bundle, "/etc/ca.pem");
  EXPECT_EQ(config->cache_ttl, absl::Minutes(5));
  EXPECT_EQ(config->cache_ttl_recent, absl::ZeroDuration());
  EXPECT_EQ(config->recent_report_age, absl::Hours(2));
  EXPECT_EQ(config->default_deadline, absl::Seconds(1));
  EXPECT_EQ(config->http_connect_timeout, absl::Seconds(1));
  EXPECT_EQ(config->max_response_bytes, uint64_t{1} << 30);
}

TEST(ConfigTest, EnvironmentVariables) {
  absl::StatusOr<Config> config =
      Load({}, {{"ROLLCALL_LISTEN", "[::1]:7000"},
                {"ROLLCALL_GRAPH_BASE_URL", "http://127.0.0.1:8443/v1.0/"},
                {"ROLLCALL_CACHE_TTL", "2h"},
                {"ROLLCALL_MAX_RESPONSE_BYTES", "1048576"},
                {"ROLLCALL_LOG_LEVEL", "WARN"},
                {"AZURE_TENANT_ID", "tenant"},
                {"AZURE_CLIENT_ID", "client"},
                {"AZURE_CLIENT_SECRET", kSecret},
                {"AZURE_AUTHORITY_HOST", "https://login.example.test/"}});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listen, "[::1]:7000");
  EXPECT_EQ(config->graph_base_url, "http://127.0.0.1:8443/v1.0");  // trailing slash dropped
  EXPECT_EQ(config->graph_scope, "http://127.0.0.1:8443/.default");
  EXPECT_EQ(config->cache_ttl, absl::Hours(2));
  EXPECT_EQ(config->max_response_bytes, 1048576u);
  EXPECT_EQ(config->log_level, LogLevel::kWarn);
  EXPECT_EQ(config->tenant_id, "tenant");
  EXPECT_EQ(config->client_id, "client");
  EXPECT_EQ(config->client_secret, kSecret);
  EXPECT_EQ(config->authority_host, "https://login.example.test/");
}

TEST(ConfigTest, FlagBeatsEnvironment) {
  absl::StatusOr<Config> config =
      Load({"--listen=127.0.0.1:1", "--tenant_id=from-flag", "--authority_host=https://f.test/"},
           {{"ROLLCALL_LISTEN", "127.0.0.1:2"},
            {"AZURE_TENANT_ID", "from-env"},
            {"ROLLCALL_AUTHORITY_HOST", "https://r.test/"},
            {"AZURE_AUTHORITY_HOST", "https://a.test/"}});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listen, "127.0.0.1:1");
  EXPECT_EQ(config->tenant_id, "from-flag");
  EXPECT_EQ(config->authority_host, "https://f.test/");
}

TEST(ConfigTest, RollcallAuthorityHostBeatsAzureAndEmptyMeansUnset) {
  absl::StatusOr<Config> config = Load({}, {{"ROLLCALL_AUTHORITY_HOST", "https://r.test/"},
                                            {"AZURE_AUTHORITY_HOST", "https://a.test/"}});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->authority_host, "https://r.test/");

  config = Load({}, {{"ROLLCALL_AUTHORITY_HOST", ""}, {"AZURE_AUTHORITY_HOST", "https://a.test/"},
                     {"ROLLCALL_LISTEN", ""}});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->authority_host, "https://a.test/");
  EXPECT_EQ(config->listen, "0.0.0.0:50051");
}

TEST(ConfigTest, ExplicitScopeIsKeptAndDerivedScopeFollowsFlagBaseUrl) {
  absl::StatusOr<Config> config =
      Load({"--graph_base_url=https://graph.microsoft.us/beta", "--graph_scope=api://x/.default"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->graph_scope, "api://x/.default");

  config = Load({"--graph_base_url", "HTTPS://graph.microsoft.us/v1.0"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->graph_scope, "https://graph.microsoft.us/.default");
}

TEST(ConfigTest, HelpWinsOverEverythingElse) {
  absl::StatusOr<Config> config = Load({"--bogus", "--help"}, {{"ROLLCALL_LISTEN", "nope"}});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->help);
  config = Load({"-h"});
  ASSERT_TRUE(config.ok());
  EXPECT_TRUE(config->help);
}

struct BadCase {
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
  std::string must_name;
};

class ConfigBadValueTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(ConfigBadValueTest, IsInvalidArgumentNamingTheSetting) {
  absl::StatusOr<Config> config = Load(GetParam().args, GetParam().env);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(config.status().message()), HasSubstr(GetParam().must_name));
}

INSTANTIATE_TEST_SUITE_P(
    BadValues, ConfigBadValueTest,
    ::testing::Values(
        BadCase{{"--no_such_flag=1"}, {}, "--no_such_flag"},
        BadCase{{"--http_timeout=soon"}, {}, "--http_timeout"},
        BadCase{{"--http_timeout=0s"}, {}, "--http_timeout"},
        BadCase{{"--cache_ttl=-5s"}, {}, "--cache_ttl"},
        BadCase{{"--default_deadline=inf"}, {}, "--default_deadline"},
        BadCase{{"--cache_max_bytes=12MB"}, {}, "--cache_max_bytes"},
        BadCase{{"--max_response_bytes=0"}, {}, "--max_response_bytes"},
        BadCase{{"--max_response_bytes=99999999999999999999GiB"}, {}, "--max_response_bytes"},
        BadCase{{"--listen=localhost"}, {}, "--listen"},
        BadCase{{"--listen=127.0.0.1:70000"}, {}, "--listen"},
        BadCase{{"--listen=::1:80"}, {}, "--listen"},
        BadCase{{"--listen=:80"}, {}, "--listen"},
        BadCase{{"--upstream_concurrency=0"}, {}, "--upstream_concurrency"},
        BadCase{{"--upstream_concurrency=lots"}, {}, "--upstream_concurrency"},
        BadCase{{"--negative_cache_ttl=-1s"}, {}, "--negative_cache_ttl"},
        BadCase{{"--negative_cache_ttl=soon"}, {}, "--negative_cache_ttl"},
        BadCase{{"--stale_if_error=-1h"}, {}, "--stale_if_error"},
        BadCase{{"--upstream_queue=-1"}, {}, "--upstream_queue"},
        BadCase{{"--upstream_queue=many"}, {}, "--upstream_queue"},
        BadCase{{"--upstream_queue=1000001"}, {}, "--upstream_queue"},
        BadCase{{"--shutdown_grace=-5s"}, {}, "--shutdown_grace"},
        BadCase{{"--max_connection_age=-1s"}, {}, "--max_connection_age"},
        BadCase{{"--metrics_listen=9090"}, {}, "--metrics_listen"},
        BadCase{{"--metrics_listen=localhost:http"}, {}, "--metrics_listen"},
        BadCase{{"--graph_max_attempts=0"}, {}, "--graph_max_attempts"},
        BadCase{{"--graph_max_attempts=21"}, {}, "--graph_max_attempts"},
        BadCase{{"--graph_initial_backoff=0s"}, {}, "--graph_initial_backoff"},
        BadCase{{"--graph_max_backoff=0s"}, {}, "--graph_max_backoff"},
        BadCase{{"--graph_initial_backoff=1m"}, {}, "graph_max_backoff"},
        BadCase{{}, {{"ROLLCALL_UPSTREAM_QUEUE", "x"}}, "ROLLCALL_UPSTREAM_QUEUE"},
        BadCase{{}, {{"ROLLCALL_STALE_IF_ERROR", "1"}}, "ROLLCALL_STALE_IF_ERROR"},
        BadCase{{"--log_level=chatty"}, {}, "--log_level"},
        BadCase{{"--graph_base_url=graph.microsoft.com"}, {}, "--graph_base_url"},
        BadCase{{"--authority_host=ftp://x"}, {}, "--authority_host"},
        BadCase{{"--listen"}, {}, "--listen"},
        BadCase{{}, {{"ROLLCALL_HTTP_TIMEOUT", "30"}}, "ROLLCALL_HTTP_TIMEOUT"},
        BadCase{{}, {{"ROLLCALL_CACHE_MAX_BYTES", "lots"}}, "ROLLCALL_CACHE_MAX_BYTES"},
        BadCase{{}, {{"AZURE_AUTHORITY_HOST", "nope"}}, "AZURE_AUTHORITY_HOST"},
        BadCase{{"-listen=1"}, {}, "unexpected argument #1"}));

TEST(ConfigTest, SecretIsNeverAFlagAndNeverEchoed) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {std::string("--client_secret=") + kSecret},
           {"--client_secret", kSecret},
           {"--client-secret=" + std::string(kSecret)}}) {
    absl::StatusOr<Config> config = Load(args);
    ASSERT_FALSE(config.ok());
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(config.status().message()), HasSubstr("AZURE_CLIENT_SECRET"));
    EXPECT_THAT(std::string(config.status().message()), Not(HasSubstr(kSecret)));
  }
  // Misplaced values are not echoed either: a typo'd flag or a stray positional argument.
  for (const auto& args : std::vector<std::vector<std::string>>{
           {std::string("--client_secert=") + kSecret}, {kSecret}}) {
    absl::StatusOr<Config> config = Load(args);
    ASSERT_FALSE(config.ok());
    EXPECT_THAT(std::string(config.status().message()), Not(HasSubstr(kSecret)));
  }
}

TEST(ConfigTest, HelpListsEverySettingEnvVarAndDefault) {
  const std::string help = ConfigHelp();
  for (const char* flag :
       {"--listen=", "--graph_base_url=", "--graph_scope=", "--authority_host=", "--tenant_id=",
        "--client_id=", "--ca_bundle=", "--http_connect_timeout=", "--http_timeout=",
        "--max_response_bytes=", "--cache_max_bytes=", "--cache_ttl=", "--cache_ttl_recent=",
        "--recent_report_age=", "--upstream_concurrency=", "--default_deadline=",
        "--log_level=", "--negative_cache_ttl=", "--stale_if_error=", "--upstream_queue=",
        "--shutdown_grace=", "--metrics_listen=", "--graph_max_attempts=",
        "--graph_initial_backoff=", "--graph_max_backoff=", "--max_connection_age=", "--help"}) {
    EXPECT_THAT(help, HasSubstr(flag));
  }
  for (const char* env :
       {"ROLLCALL_LISTEN", "ROLLCALL_GRAPH_BASE_URL", "ROLLCALL_GRAPH_SCOPE",
        "ROLLCALL_AUTHORITY_HOST", "AZURE_AUTHORITY_HOST", "AZURE_TENANT_ID", "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET", "ROLLCALL_CA_BUNDLE", "ROLLCALL_HTTP_CONNECT_TIMEOUT",
        "ROLLCALL_HTTP_TIMEOUT", "ROLLCALL_MAX_RESPONSE_BYTES", "ROLLCALL_CACHE_MAX_BYTES",
        "ROLLCALL_CACHE_TTL", "ROLLCALL_CACHE_TTL_RECENT", "ROLLCALL_RECENT_REPORT_AGE",
        "ROLLCALL_UPSTREAM_CONCURRENCY", "ROLLCALL_DEFAULT_DEADLINE", "ROLLCALL_LOG_LEVEL",
        "ROLLCALL_NEGATIVE_CACHE_TTL", "ROLLCALL_STALE_IF_ERROR", "ROLLCALL_UPSTREAM_QUEUE",
        "ROLLCALL_SHUTDOWN_GRACE", "ROLLCALL_METRICS_LISTEN", "ROLLCALL_GRAPH_MAX_ATTEMPTS",
        "ROLLCALL_GRAPH_INITIAL_BACKOFF", "ROLLCALL_GRAPH_MAX_BACKOFF",
        "ROLLCALL_MAX_CONNECTION_AGE"}) {
    EXPECT_THAT(help, HasSubstr(env));
  }
  for (const char* default_text : {"0.0.0.0:50051", "https://graph.microsoft.com/v1.0",
                                   "https://login.microsoftonline.com/", "5s", "30s", "64MiB",
                                   "256MiB", "1h", "60s", "default: 8", "default: info",
                                   "default: 24h", "default: 256", "default: 20s",
                                   "default: 500ms", "default: 4"}) {
    EXPECT_THAT(help, HasSubstr(default_text));
  }
  EXPECT_THAT(help, Not(HasSubstr("--client_secret")));
  EXPECT_THAT(help, HasSubstr("never from a flag"));
}

TEST(ConfigTest, HelpAndLogFieldsNeverShowTheSecret) {
  absl::StatusOr<Config> config = Load({}, {{"AZURE_CLIENT_SECRET", kSecret}});
  ASSERT_TRUE(config.ok());
  EXPECT_THAT(ConfigHelp(), Not(HasSubstr(kSecret)));
  bool mentions_auth = false;
  for (const auto& [key, value] : ConfigLogFields(*config)) {
    EXPECT_THAT(value, Not(HasSubstr(kSecret))) << key;
    EXPECT_FALSE(IsSecretLogKey(key)) << key << " would be redacted by the logger";
    if (key == "client_auth") {
      mentions_auth = true;
      EXPECT_EQ(value, "client secret from AZURE_CLIENT_SECRET");
    }
  }
  EXPECT_TRUE(mentions_auth);
}

TEST(ConfigTest, Parsers) {
  EXPECT_EQ(*ParseDurationSetting("250ms"), absl::Milliseconds(250));
  EXPECT_EQ(*ParseDurationSetting("1h30m"), absl::Minutes(90));
  EXPECT_FALSE(ParseDurationSetting("").ok());
  EXPECT_FALSE(ParseDurationSetting("5").ok());
  EXPECT_EQ(*ParseSizeSetting("0"), 0u);
  EXPECT_EQ(*ParseSizeSetting("10B"), 10u);
  EXPECT_EQ(*ParseSizeSetting("3kib"), 3072u);
  EXPECT_EQ(*ParseSizeSetting("2MiB"), 2u << 20);
  EXPECT_FALSE(ParseSizeSetting("MiB").ok());
  EXPECT_FALSE(ParseSizeSetting("-1").ok());
  EXPECT_FALSE(ParseSizeSetting("1.5MiB").ok());
  EXPECT_FALSE(ParseSizeSetting("1 MiB").ok());
  EXPECT_EQ(ListenHost("0.0.0.0:50051"), "0.0.0.0");
  EXPECT_EQ(ListenHost("[::]:0"), "[::]");
}

}  // namespace
}  // namespace rollcall::service
