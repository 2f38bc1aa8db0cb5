#include "service/config.h"

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
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
  EXPECT_EQ(config->graph_base_url, "https://graph.microsoft.com");
  EXPECT_EQ(config->graph_version, "v1.0");
  EXPECT_EQ(GraphUrl(*config), "https://graph.microsoft.com/v1.0");
  EXPECT_EQ(config->max_report_bytes, uint64_t{64} << 20);
  EXPECT_EQ(config->max_report_records, 100'000);
  EXPECT_EQ(config->max_report_memory, uint64_t{256} << 20);
  EXPECT_EQ(config->reports_list_ttl, absl::Seconds(60));
  EXPECT_EQ(config->meeting_lookup_ttl, absl::Hours(1));
  EXPECT_EQ(config->page_token_key_file, "");
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
  EXPECT_EQ(config->max_concurrent_streams, 100);
  EXPECT_EQ(config->grpc_memory_quota, uint64_t{256} << 20);
  EXPECT_EQ(config->max_send_message_bytes, uint64_t{64} << 20);
  // Every report max_report_bytes lets in can be sent whole: its protobuf form is smaller than
  // Graph's JSON pages.
  EXPECT_GE(config->max_send_message_bytes, config->max_report_bytes);
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

TEST(ConfigTest, ServerLimits) {
  absl::StatusOr<Config> config =
      Load({"--max_concurrent_streams=8", "--grpc-memory-quota", "1GiB",
            "--max_send_message_bytes=4MiB"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->max_concurrent_streams, 8);
  EXPECT_EQ(config->grpc_memory_quota, uint64_t{1} << 30);
  EXPECT_EQ(config->max_send_message_bytes, uint64_t{4} << 20);

  config = Load({}, {{"ROLLCALL_MAX_CONCURRENT_STREAMS", "2147483647"},
                     {"ROLLCALL_GRPC_MEMORY_QUOTA", "1MiB"},
                     {"ROLLCALL_MAX_SEND_MESSAGE_BYTES", "2147483647"}});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->max_concurrent_streams, 2147483647);  // HTTP/2's own limit: no cap
  EXPECT_EQ(config->grpc_memory_quota, uint64_t{1} << 20);
  EXPECT_EQ(config->max_send_message_bytes, uint64_t{2147483647});  // gRPC takes an int

  // The startup line logs them, in bytes.
  std::map<std::string, std::string> logged;
  for (const auto& [key, value] : ConfigLogFields(*config)) logged[key] = value;
  EXPECT_EQ(logged["max_concurrent_streams"], "2147483647");
  EXPECT_EQ(logged["grpc_memory_quota"], "1048576");
  EXPECT_EQ(logged["max_send_message_bytes"], "2147483647");
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
                {"ROLLCALL_GRAPH_BASE_URL", "http://127.0.0.1:8443/"},
                {"ROLLCALL_GRAPH_VERSION", "beta"},
                {"ROLLCALL_CACHE_TTL", "2h"},
                {"ROLLCALL_MAX_RESPONSE_BYTES", "1048576"},
                {"ROLLCALL_LOG_LEVEL", "WARN"},
                {"AZURE_TENANT_ID", "tenant"},
                {"AZURE_CLIENT_ID", "client"},
                {"AZURE_CLIENT_SECRET", kSecret},
                {"AZURE_AUTHORITY_HOST", "https://login.example.test/"}});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listen, "[::1]:7000");
  EXPECT_EQ(config->graph_base_url, "http://127.0.0.1:8443");  // trailing slash dropped
  EXPECT_EQ(GraphUrl(*config), "http://127.0.0.1:8443/beta");
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

TEST(ConfigTest, RedisSettings) {
  absl::StatusOr<Config> config = Load({});
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->redis_url, "");
  EXPECT_EQ(config->redis_timeout, absl::Milliseconds(100));
  EXPECT_EQ(config->redis_lease_ttl, absl::Seconds(10));
  config = Load({"--redis_timeout=50ms"}, {{"ROLLCALL_REDIS_URL", "redis://10.0.0.5:6380/1"},
                                           {"ROLLCALL_REDIS_PASSWORD_FILE", "/run/redis/pw"},
                                           {"ROLLCALL_REDIS_LEASE_TTL", "3s"}});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->redis_url, "redis://10.0.0.5:6380/1");
  EXPECT_EQ(config->redis_password_file, "/run/redis/pw");
  EXPECT_EQ(config->redis_timeout, absl::Milliseconds(50));
  EXPECT_EQ(config->redis_lease_ttl, absl::Seconds(3));
  // TLS is refused with what to do instead, and the value is not shown.
  config = Load({}, {{"ROLLCALL_REDIS_URL", "rediss://cache.internal.example:6380"}});
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("ROLLCALL_REDIS_URL"));
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("hiredis 0.14 has no TLS"));
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("TLS proxy"));
  EXPECT_THAT(std::string(config.status().message()), Not(HasSubstr("cache.internal")));
  config = Load({"--redis_url=redis://user:" + std::string(kSecret) + "@host:6379"});
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(std::string(config.status().message()), Not(HasSubstr(kSecret)));
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("redis_password_file"));
  EXPECT_FALSE(Load({"--redis_timeout=0s"}).ok());
  EXPECT_FALSE(Load({"--redis_lease_ttl=0s"}).ok());
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
      Load({"--cloud=usgov", "--graph_base_url=https://graph.microsoft.us",
            "--graph_scope=api://x/.default"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->graph_scope, "api://x/.default");

  config = Load({"--cloud", "usgov", "--graph_base_url", "HTTPS://graph.microsoft.us"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->graph_scope, "https://graph.microsoft.us/.default");
}

TEST(ConfigTest, ACloudPicksItsHostsAndScope) {
  struct Case {
    std::string cloud, authority, graph;
  };
  for (const Case& c : {Case{"global", "https://login.microsoftonline.com/",
                             "https://graph.microsoft.com"},
                        Case{"usgov", "https://login.microsoftonline.us/",
                             "https://graph.microsoft.us"},
                        Case{"usgov-dod", "https://login.microsoftonline.us/",
                             "https://dod-graph.microsoft.us"},
                        Case{"china", "https://login.chinacloudapi.cn/",
                             "https://microsoftgraph.chinacloudapi.cn"}}) {
    absl::StatusOr<Config> config = Load({}, {{"ROLLCALL_CLOUD", c.cloud}});
    ASSERT_TRUE(config.ok()) << c.cloud << ": " << config.status();
    EXPECT_EQ(config->authority_host, c.authority);
    EXPECT_EQ(config->graph_base_url, c.graph);
    EXPECT_EQ(config->graph_scope, c.graph + "/.default");
  }
  // A host that is no Microsoft cloud's (the emulator, a proxy) goes with any cloud.
  absl::StatusOr<Config> config =
      Load({"--cloud=usgov", "--graph_base_url=https://127.0.0.1:8443",
            "--authority_host=https://127.0.0.1:8443/"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->graph_scope, "https://127.0.0.1:8443/.default");
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
        BadCase{{"--max_concurrent_streams=0"}, {}, "--max_concurrent_streams"},
        BadCase{{"--max_concurrent_streams=-1"}, {}, "--max_concurrent_streams"},
        BadCase{{"--max_concurrent_streams=2147483648"}, {}, "--max_concurrent_streams"},
        BadCase{{"--max_concurrent_streams=lots"}, {}, "--max_concurrent_streams"},
        BadCase{{}, {{"ROLLCALL_MAX_CONCURRENT_STREAMS", "1e3"}},
                "ROLLCALL_MAX_CONCURRENT_STREAMS"},
        BadCase{{"--grpc_memory_quota=0"}, {}, "--grpc_memory_quota"},
        BadCase{{"--grpc_memory_quota=1023KiB"}, {}, "must be at least 1048576 bytes"},
        BadCase{{"--grpc_memory_quota=256MB"}, {}, "--grpc_memory_quota"},
        BadCase{{}, {{"ROLLCALL_GRPC_MEMORY_QUOTA", "-1"}}, "ROLLCALL_GRPC_MEMORY_QUOTA"},
        BadCase{{"--max_send_message_bytes=64KiB"}, {}, "must be at least 1048576 bytes"},
        BadCase{{"--max_send_message_bytes=2GiB"}, {}, "must be at most 2147483647 bytes"},
        BadCase{{"--max_send_message_bytes=2147483648"}, {}, "--max_send_message_bytes"},
        BadCase{{}, {{"ROLLCALL_MAX_SEND_MESSAGE_BYTES", "big"}},
                "ROLLCALL_MAX_SEND_MESSAGE_BYTES"},
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
        BadCase{{"--graph_base_url=https://graph.microsoft.com/v1.0"}, {}, "graph_version"},
        BadCase{{}, {{"ROLLCALL_GRAPH_BASE_URL", "https://graph.microsoft.us/beta/"}},
                "graph_version"},
        BadCase{{"--graph_version=v2"}, {}, "--graph_version"},
        BadCase{{"--cloud=usgov", "--graph_base_url=https://graph.microsoft.com"}, {},
                "graph_base_url is the global cloud's Graph but cloud is usgov"},
        BadCase{{}, {{"AZURE_AUTHORITY_HOST", "https://login.microsoftonline.us/"}},
                "authority_host is the usgov cloud's"},
        BadCase{{"--cloud=usgov-dod", "--graph_scope=https://graph.microsoft.us/.default"}, {},
                "graph_scope is for the usgov cloud's Graph"},
        BadCase{{"--graph_base_url=http://graph.microsoft.com"}, {}, "must be an https:// URL"},
        BadCase{{"--authority_host=http://login.example.test/"}, {}, "authority_host must"},
        BadCase{{"--graph_base_url=http://127.0.0.1.example.test"}, {}, "graph_base_url must"},
        BadCase{{"--client_assertion_algorithm=es256"}, {}, "--client_assertion_algorithm"},
        BadCase{{"--client_certificate_password=x"}, {}, "AZURE_CLIENT_CERTIFICATE_PASSWORD"},
        BadCase{{"--authority_host=ftp://x"}, {}, "--authority_host"},
        BadCase{{"--listen"}, {}, "--listen"},
        BadCase{{}, {{"ROLLCALL_HTTP_TIMEOUT", "30"}}, "ROLLCALL_HTTP_TIMEOUT"},
        BadCase{{}, {{"ROLLCALL_CACHE_MAX_BYTES", "lots"}}, "ROLLCALL_CACHE_MAX_BYTES"},
        BadCase{{}, {{"AZURE_AUTHORITY_HOST", "nope"}}, "AZURE_AUTHORITY_HOST"},
        BadCase{{"--plaintext=maybe"}, {}, "--plaintext"},
        BadCase{{}, {{"ROLLCALL_PLAINTEXT", "yes please"}}, "ROLLCALL_PLAINTEXT"},
        BadCase{{"--tls_reload_interval=0s"}, {}, "--tls_reload_interval"},
        BadCase{{"-listen=1"}, {}, "unexpected argument #1"}));

TEST(ConfigTest, TransportSecuritySettings) {
  absl::StatusOr<Config> config = Load({});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_FALSE(config->plaintext);
  EXPECT_EQ(config->tls_reload_interval, absl::Seconds(60));
  EXPECT_EQ(config->listen, "0.0.0.0:50051");

  // Plaintext keeps the default address off the network; an explicit one is kept.
  config = Load({}, {{"ROLLCALL_PLAINTEXT", "true"}});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->plaintext);
  EXPECT_EQ(config->listen, "127.0.0.1:50051");
  config = Load({"--plaintext=TRUE", "--listen=0.0.0.0:7000"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listen, "0.0.0.0:7000");
  config = Load({"--plaintext=false"}, {{"ROLLCALL_PLAINTEXT", "true"}});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_FALSE(config->plaintext);
  EXPECT_EQ(config->listen, "0.0.0.0:50051");

  config = Load({"--tls_cert_file=/t/tls.crt", "--tls_reload_interval=2s"},
                {{"ROLLCALL_TLS_KEY_FILE", "/t/tls.key"},
                 {"ROLLCALL_TLS_CLIENT_CA_FILE", "/t/ca.crt"},
                 {"ROLLCALL_CALLER_POLICY_FILE", "/p/callers.json"}});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->tls_cert_file, "/t/tls.crt");
  EXPECT_EQ(config->tls_key_file, "/t/tls.key");
  EXPECT_EQ(config->tls_client_ca_file, "/t/ca.crt");
  EXPECT_EQ(config->caller_policy_file, "/p/callers.json");
  EXPECT_EQ(config->tls_reload_interval, absl::Seconds(2));
  EXPECT_TRUE(CheckTransportSecurity(*config).ok());
}

TEST(ConfigTest, CheckTransportSecurityNamesWhatToSet) {
  const auto problem = [](const Config& config) {
    const absl::Status status = CheckTransportSecurity(config);
    EXPECT_TRUE(status.ok() || status.code() == absl::StatusCode::kInvalidArgument) << status;
    return std::string(status.message());
  };
  Config config;  // neither TLS nor plaintext
  EXPECT_THAT(problem(config), HasSubstr("ROLLCALL_TLS_CERT_FILE"));
  EXPECT_THAT(problem(config), HasSubstr("ROLLCALL_PLAINTEXT=true"));

  config.plaintext = true;
  EXPECT_EQ(problem(config), "");
  config.tls_client_ca_file = "/ca.pem";
  EXPECT_THAT(problem(config), HasSubstr("ROLLCALL_TLS_CLIENT_CA_FILE needs TLS"));
  config.tls_client_ca_file.clear();

  config.tls_cert_file = "/tls.crt";
  EXPECT_THAT(problem(config), HasSubstr("without ROLLCALL_TLS_KEY_FILE"));
  config.tls_key_file = "/tls.key";
  EXPECT_THAT(problem(config), HasSubstr("both set"));
  config.plaintext = false;
  EXPECT_EQ(problem(config), "");
  config.tls_cert_file.clear();
  EXPECT_THAT(problem(config), HasSubstr("without ROLLCALL_TLS_CERT_FILE"));
  config.tls_cert_file = "/tls.crt";

  config.caller_policy_file = "/callers.json";
  EXPECT_THAT(problem(config), HasSubstr("ROLLCALL_CALLER_POLICY_FILE needs mutual TLS"));
  config.tls_client_ca_file = "/ca.pem";
  EXPECT_EQ(problem(config), "");
}

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

// The entry --help prints for one setting: from its first line (which starts with `head`) up to
// the next setting's; "" when there is none.
std::string HelpEntry(const std::string& help, const std::string& head) {
  const std::size_t start = help.find("\n  " + head);
  if (start == std::string::npos) return "";
  const std::size_t end = help.find("\n  -", start + 1);
  const std::size_t env_only = help.find("\n  (", start + 1);
  return help.substr(start + 1, std::min(end, env_only) - start);
}

TEST(ConfigTest, HelpListsEverySettingWithItsEnvVarAndDefault) {
  const std::string help = ConfigHelp();
  struct Expected {
    std::string flag;  // how the entry starts
    std::string env;   // its env line
    std::string default_text;
  };
  const std::vector<Expected> expected = {
      {"--listen=HOST:PORT", "ROLLCALL_LISTEN",
       "0.0.0.0:50051 with TLS; 127.0.0.1:50051 (off the network) with plaintext"},
      {"--tls_cert_file=PATH", "ROLLCALL_TLS_CERT_FILE", "(none)"},
      {"--tls_key_file=PATH", "ROLLCALL_TLS_KEY_FILE", "(none)"},
      {"--tls_client_ca_file=PATH", "ROLLCALL_TLS_CLIENT_CA_FILE",
       "(none: clients are not asked for a certificate)"},
      {"--tls_reload_interval=DURATION", "ROLLCALL_TLS_RELOAD_INTERVAL", "60s"},
      {"--caller_policy_file=PATH", "ROLLCALL_CALLER_POLICY_FILE",
       "(none: every caller that connects may read everything)"},
      {"--plaintext=true|false", "ROLLCALL_PLAINTEXT", "false"},
      {"--cloud=global|usgov|usgov-dod|china", "ROLLCALL_CLOUD", "global"},
      {"--graph_base_url=URL", "ROLLCALL_GRAPH_BASE_URL", "https://graph.microsoft.com"},
      {"--graph_version=VERSION", "ROLLCALL_GRAPH_VERSION", "v1.0"},
      {"--graph_scope=SCOPE", "ROLLCALL_GRAPH_SCOPE", "scheme and host of graph_base_url + /.default"},
      {"--authority_host=URL", "ROLLCALL_AUTHORITY_HOST, AZURE_AUTHORITY_HOST",
       "https://login.microsoftonline.com/"},
      {"--tenant_id=ID", "AZURE_TENANT_ID", "(none; required)"},
      {"--client_id=ID", "AZURE_CLIENT_ID", "(none; required)"},
      {"(environment only, no flag)", "AZURE_CLIENT_SECRET", "(none; required)"},
      {"--client_secret_file=PATH", "ROLLCALL_CLIENT_SECRET_FILE", "(none)"},
      {"--client_certificate_path=PATH", "AZURE_CLIENT_CERTIFICATE_PATH", "(none)"},
      {"(environment only, no flag)", "AZURE_CLIENT_CERTIFICATE_PASSWORD", "(none)"},
      {"--client_assertion_algorithm=ps256|rs256", "ROLLCALL_CLIENT_ASSERTION_ALGORITHM",
       "ps256"},
      {"--federated_token_file=PATH", "AZURE_FEDERATED_TOKEN_FILE", "(none)"},
      {"--ca_bundle=PATH", "ROLLCALL_CA_BUNDLE", "(empty: system store)"},
      {"--http_connect_timeout=DURATION", "ROLLCALL_HTTP_CONNECT_TIMEOUT", "5s"},
      {"--http_timeout=DURATION", "ROLLCALL_HTTP_TIMEOUT", "30s"},
      {"--max_response_bytes=SIZE", "ROLLCALL_MAX_RESPONSE_BYTES", "64MiB"},
      {"--max_report_bytes=SIZE", "ROLLCALL_MAX_REPORT_BYTES", "64MiB"},
      {"--max_report_records=N", "ROLLCALL_MAX_REPORT_RECORDS", "100000"},
      {"--max_report_memory=SIZE", "ROLLCALL_MAX_REPORT_MEMORY", "256MiB"},
      {"--cache_max_bytes=SIZE", "ROLLCALL_CACHE_MAX_BYTES", "256MiB"},
      {"--cache_ttl=DURATION", "ROLLCALL_CACHE_TTL", "1h"},
      {"--cache_ttl_recent=DURATION", "ROLLCALL_CACHE_TTL_RECENT", "60s"},
      {"--recent_report_age=DURATION", "ROLLCALL_RECENT_REPORT_AGE", "1h"},
      {"--reports_list_ttl=DURATION", "ROLLCALL_REPORTS_LIST_TTL", "60s"},
      {"--meeting_lookup_ttl=DURATION", "ROLLCALL_MEETING_LOOKUP_TTL", "1h"},
      {"--negative_cache_ttl=DURATION", "ROLLCALL_NEGATIVE_CACHE_TTL", "30s"},
      {"--stale_if_error=DURATION", "ROLLCALL_STALE_IF_ERROR", "24h"},
      {"--redis_url=URL", "ROLLCALL_REDIS_URL", "(empty: no Redis)"},
      {"--redis_password_file=PATH", "ROLLCALL_REDIS_PASSWORD_FILE", "(none: no AUTH)"},
      {"--redis_timeout=DURATION", "ROLLCALL_REDIS_TIMEOUT", "100ms"},
      {"--redis_lease_ttl=DURATION", "ROLLCALL_REDIS_LEASE_TTL", "10s"},
      {"--upstream_concurrency=N", "ROLLCALL_UPSTREAM_CONCURRENCY", "8"},
      {"--upstream_queue=N", "ROLLCALL_UPSTREAM_QUEUE", "256"},
      {"--graph_max_attempts=N", "ROLLCALL_GRAPH_MAX_ATTEMPTS", "4"},
      {"--graph_initial_backoff=DURATION", "ROLLCALL_GRAPH_INITIAL_BACKOFF", "500ms"},
      {"--graph_max_backoff=DURATION", "ROLLCALL_GRAPH_MAX_BACKOFF", "30s"},
      {"--default_deadline=DURATION", "ROLLCALL_DEFAULT_DEADLINE", "30s"},
      {"--shutdown_grace=DURATION", "ROLLCALL_SHUTDOWN_GRACE", "20s"},
      {"--max_connection_age=DURATION", "ROLLCALL_MAX_CONNECTION_AGE", "5m"},
      {"--max_concurrent_streams=N", "ROLLCALL_MAX_CONCURRENT_STREAMS", "100"},
      {"--grpc_memory_quota=SIZE", "ROLLCALL_GRPC_MEMORY_QUOTA", "256MiB"},
      {"--max_send_message_bytes=SIZE", "ROLLCALL_MAX_SEND_MESSAGE_BYTES", "64MiB"},
      {"--max_reply_memory=SIZE", "ROLLCALL_MAX_REPLY_MEMORY", "256MiB"},
      {"--page_token_key_file=PATH", "ROLLCALL_PAGE_TOKEN_KEY_FILE",
       "(empty: a random key per process)"},
      {"--metrics_listen=HOST:PORT", "ROLLCALL_METRICS_LISTEN", "(empty: no metrics endpoint)"},
      {"--log_level=LEVEL", "ROLLCALL_LOG_LEVEL", "info"},
      {"--delegated_mode=true|false", "ROLLCALL_DELEGATED_MODE", "false"},
      {"--delegated_max_users=N", "ROLLCALL_DELEGATED_MAX_USERS", "5000"},
  };
  for (const Expected& setting : expected) {
    // Environment-only entries all start alike: find each by its variable too.
    const bool env_only = setting.flag == "(environment only, no flag)";
    const std::string entry =
        HelpEntry(help, env_only ? setting.flag + "\n      env: " + setting.env : setting.flag);
    ASSERT_FALSE(entry.empty()) << setting.flag << " is not in --help:\n" << help;
    // Its own lines, not some other setting's: the env and default lines of this entry.
    EXPECT_THAT(entry, HasSubstr("\n      env: " + setting.env + "\n")) << entry;
    EXPECT_THAT(entry, HasSubstr("\n      default: " + setting.default_text + "\n")) << entry;
  }
  // Nothing more than those (and --help): a setting added to the table is added here too.
  std::size_t entries = 0;
  for (std::size_t at = help.find("\n  "); at != std::string::npos;
       at = help.find("\n  ", at + 1)) {
    if (help[at + 3] != ' ') ++entries;
  }
  EXPECT_EQ(entries, expected.size() + 1) << help;
  EXPECT_THAT(HelpEntry(help, "--help"), HasSubstr("Print this text and exit."));
  EXPECT_THAT(help, Not(HasSubstr("--client_secret=")));
  EXPECT_THAT(help, Not(HasSubstr("--client_certificate_password")));
  EXPECT_THAT(help, HasSubstr("never from a flag"));
  // The limits say what they bound and what happens past them.
  EXPECT_THAT(HelpEntry(help, "--max_concurrent_streams=N"),
              HasSubstr("SETTINGS_MAX_CONCURRENT_STREAMS"));
  EXPECT_THAT(HelpEntry(help, "--grpc_memory_quota=SIZE"),
              HasSubstr("Replies are not charged to it"));
  EXPECT_THAT(HelpEntry(help, "--max_send_message_bytes=SIZE"),
              HasSubstr("FAILED_PRECONDITION (REPORT_TOO_LARGE)"));
}

// Every default --help shows is the value a Config starts with.
TEST(ConfigTest, DefaultsParseFromTheHelpText) {
  const Config defaults;
  absl::StatusOr<Config> loaded = Load({});
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(ConfigLogFields(defaults), ConfigLogFields(*loaded));
  EXPECT_EQ(defaults.cache_ttl_recent, absl::Seconds(60));
  EXPECT_EQ(defaults.max_response_bytes, uint64_t{64} << 20);
  EXPECT_EQ(defaults.upstream_concurrency, 8);
}

// A malformed value's error names the setting and says what it must be, never the value.
TEST(ConfigTest, ErrorsNeverEchoTheValue) {
  constexpr char kValue[] = "Zq9-not-a-valid-anything";
  for (const char* name :
       {"listen", "cloud", "graph_base_url", "graph_version", "max_report_bytes", "max_report_records",
        "max_report_memory", "reports_list_ttl",
        "meeting_lookup_ttl", "client_assertion_algorithm", "authority_host", "http_connect_timeout", "http_timeout",
        "max_response_bytes", "cache_max_bytes", "cache_ttl", "cache_ttl_recent",
        "recent_report_age", "negative_cache_ttl", "stale_if_error", "upstream_concurrency",
        "upstream_queue", "graph_max_attempts", "graph_initial_backoff", "graph_max_backoff",
        "default_deadline", "shutdown_grace", "max_connection_age", "max_concurrent_streams",
        "grpc_memory_quota", "max_send_message_bytes", "metrics_listen",
        "log_level", "plaintext", "tls_reload_interval"}) {
    absl::StatusOr<Config> config = Load({absl::StrCat("--", name, "=", kValue)});
    ASSERT_FALSE(config.ok()) << name;
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(config.status().message()), HasSubstr(absl::StrCat("--", name, ":")));
    EXPECT_THAT(std::string(config.status().message()), Not(HasSubstr(kValue))) << name;

    const std::string env = absl::StrCat("ROLLCALL_", absl::AsciiStrToUpper(name));
    config = Load({}, {{env, kValue}});
    ASSERT_FALSE(config.ok()) << env;
    EXPECT_THAT(std::string(config.status().message()), HasSubstr(env + ":"));
    EXPECT_THAT(std::string(config.status().message()), Not(HasSubstr(kValue))) << env;
  }
  EXPECT_THAT(std::string(ParseDurationSetting(kValue).status().message()),
              Not(HasSubstr(kValue)));
  EXPECT_THAT(std::string(ParseSizeSetting(kValue).status().message()), Not(HasSubstr(kValue)));
}

// The first 6-byte piece of `value` that `message` contains, or "" when it contains none.
std::string PieceOfValueIn(const std::string& message, const std::string& value) {
  constexpr std::size_t kPiece = 6;
  for (std::size_t i = 0; i + kPiece <= value.size(); ++i) {
    if (message.find(value.substr(i, kPiece)) != std::string::npos) {
      return absl::CHexEscape(value.substr(i, kPiece));
    }
  }
  return "";
}

// Every setting of the table, through every name it is read by (--name=value, --name value,
// each environment variable), refuses a malformed value with INVALID_ARGUMENT whose message
// starts with the name that was read, names the setting by all its names, and holds no part of
// the value: a secret pasted into the wrong setting must not reach a terminal or a log.
TEST(ConfigTest, EverySettingsErrorNamesItAndShowsNoPartOfTheValue) {
  const std::string kShort = "s3cr3t-VALUE-\x01<>";
  std::string long_value = kShort;
  for (int i = 0; i < 250; ++i) long_value += "Qz7#";
  long_value += "tail-\x7f-END";
  ASSERT_GT(long_value.size(), 1000u);

  const std::vector<SettingNames> settings = ConfigSettingNames();
  // The table is all of --help: one entry per setting, and --help itself.
  std::size_t help_entries = 0;
  const std::string help = ConfigHelp();
  for (std::size_t at = help.find("\n  "); at != std::string::npos;
       at = help.find("\n  ", at + 1)) {
    if (help[at + 3] != ' ') ++help_entries;
  }
  ASSERT_EQ(settings.size() + 1, help_entries);

  std::size_t checked = 0;
  for (const SettingNames& setting : settings) {
    SCOPED_TRACE(setting.name);
    ASSERT_FALSE(setting.env.empty());
    for (const std::string& value : {kShort, long_value}) {
      struct Attempt {
        std::string where;  // the name that was read, which the message starts with
        absl::StatusOr<Config> config;
      };
      std::vector<Attempt> attempts;
      const std::string flag = "--" + setting.name;
      if (setting.flag) {
        attempts.push_back({flag, Load({flag + "=" + value})});
        attempts.push_back({flag, Load({flag, value})});
        std::string dashed = flag;  // --cache-ttl is --cache_ttl
        std::replace(dashed.begin() + 2, dashed.end(), '_', '-');
        attempts.push_back({flag, Load({dashed + "=" + value})});
      } else {
        // Refused as a flag whatever the value, naming the variable to use instead.
        attempts.push_back({flag, Load({flag + "=" + value})});
      }
      for (const std::string& env : setting.env) attempts.push_back({env, Load({}, {{env, value}})});

      for (const Attempt& attempt : attempts) {
        SCOPED_TRACE(attempt.where);
        ASSERT_FALSE(attempt.config.ok());
        EXPECT_EQ(attempt.config.status().code(), absl::StatusCode::kInvalidArgument);
        const std::string message(attempt.config.status().message());
        EXPECT_TRUE(absl::StartsWith(message, attempt.where)) << message;
        if (setting.flag) EXPECT_THAT(message, HasSubstr(flag)) << message;
        for (const std::string& env : setting.env) EXPECT_THAT(message, HasSubstr(env)) << message;
        EXPECT_EQ(PieceOfValueIn(message, value), "") << absl::CHexEscape(message);
        EXPECT_LT(message.size(), 600u) << message;
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 4 * settings.size());
}

// A secret with a line break (a Kubernetes Secret made from a file that ends in one) is refused
// at start-up instead of being sent to Entra ID, which would refuse it with a misleading
// "invalid client secret".
TEST(ConfigTest, ASecretWithALineBreakIsRefusedWithoutShowingIt) {
  absl::StatusOr<Config> config = Load({}, {{"AZURE_CLIENT_SECRET", std::string(kSecret) + "\n"}});
  ASSERT_FALSE(config.ok());
  const std::string message(config.status().message());
  EXPECT_THAT(message, HasSubstr("AZURE_CLIENT_SECRET: must not contain control characters"));
  EXPECT_EQ(PieceOfValueIn(message, kSecret), "") << message;
  config = Load({}, {{"AZURE_CLIENT_SECRET", kSecret}});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->client_secret, kSecret);
}

// Errors about two settings together name both, by flag and variable, and no value.
TEST(ConfigTest, ConflictsNameBothSettingsAndNoValue) {
  absl::StatusOr<Config> config =
      Load({"--graph_initial_backoff=17m"}, {{"ROLLCALL_GRAPH_MAX_BACKOFF", "13m"}});
  ASSERT_FALSE(config.ok());
  const std::string message(config.status().message());
  EXPECT_THAT(message, HasSubstr("graph_max_backoff must not be shorter than graph_initial_backoff"));
  EXPECT_THAT(message, HasSubstr("--graph_max_backoff or ROLLCALL_GRAPH_MAX_BACKOFF"));
  EXPECT_THAT(message, HasSubstr("--graph_initial_backoff or ROLLCALL_GRAPH_INITIAL_BACKOFF"));
  EXPECT_THAT(message, Not(HasSubstr("17m")));
  EXPECT_THAT(message, Not(HasSubstr("13m")));

  config = Load({}, {{"AZURE_AUTHORITY_HOST", "http://login.s3cr3t-host.test/"}});
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(std::string(config.status().message()),
              HasSubstr("--authority_host, ROLLCALL_AUTHORITY_HOST or AZURE_AUTHORITY_HOST"));
  EXPECT_THAT(std::string(config.status().message()), Not(HasSubstr("s3cr3t")));
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
