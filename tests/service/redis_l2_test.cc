// The L2 tier's pure parts: the value codec, the key scheme, redis_url and the password file.
// The tier against a live Redis is tested in tests/integration/redis_test.cc.

#include "service/redis_l2.h"

#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "service/cached_report.h"

namespace rollcall::service {
namespace {

L2Entry SampleEntry(bool negative = false) {
  L2Entry entry;
  entry.negative = negative;
  entry.fetch_time = absl::FromUnixSeconds(1700000000) + absl::Nanoseconds(123);
  entry.expires_at = entry.fetch_time + absl::Hours(1);
  entry.payload = std::string("\x0a\x03\x08\x01\x00 report bytes \xff", 21);
  return entry;
}

constexpr char kKey[] = "rollcall:v1:contoso:b0123";

TEST(RedisL2CodecTest, RoundTrips) {
  for (bool negative : {false, true}) {
    const L2Entry entry = SampleEntry(negative);
    const std::string value = EncodeL2Value(kKey, entry);
    EXPECT_EQ(value.size(), kL2HeaderBytes + entry.payload.size());
    EXPECT_EQ(value.substr(0, 4), "RCL2");
    absl::StatusOr<L2Entry> decoded = DecodeL2Value(kKey, value);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(decoded->negative, negative);
    EXPECT_EQ(decoded->fetch_time, entry.fetch_time);
    EXPECT_EQ(decoded->expires_at, entry.expires_at);
    EXPECT_EQ(decoded->payload, entry.payload);
  }
}

TEST(RedisL2CodecTest, EmptyPayloadRoundTrips) {
  L2Entry entry = SampleEntry();
  entry.payload.clear();
  absl::StatusOr<L2Entry> decoded = DecodeL2Value(kKey, EncodeL2Value(kKey, entry));
  ASSERT_TRUE(decoded.ok());
  EXPECT_TRUE(decoded->payload.empty());
}

TEST(RedisL2CodecTest, EveryFlippedByteIsRefused) {
  const std::string value = EncodeL2Value(kKey, SampleEntry());
  for (std::size_t i = 0; i < value.size(); ++i) {
    std::string corrupt = value;
    corrupt[i] = static_cast<char>(corrupt[i] ^ 0x01);
    const absl::StatusOr<L2Entry> decoded = DecodeL2Value(kKey, corrupt);
    EXPECT_FALSE(decoded.ok()) << "byte " << i;
    if (!decoded.ok()) {
      EXPECT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss);
    }
  }
}

TEST(RedisL2CodecTest, TruncatedOrPaddedValuesAreRefused) {
  const std::string value = EncodeL2Value(kKey, SampleEntry());
  for (std::size_t size = 0; size < value.size(); ++size) {
    EXPECT_FALSE(DecodeL2Value(kKey, value.substr(0, size)).ok()) << "size " << size;
  }
  EXPECT_FALSE(DecodeL2Value(kKey, value + "x").ok());
}

TEST(RedisL2CodecTest, ForeignValuesAreRefused) {
  const std::string value = EncodeL2Value(kKey, SampleEntry());
  // Under another key (copied, or a collision of namespaces): the digest covers the key.
  EXPECT_FALSE(DecodeL2Value("rollcall:v1:contoso:b0124", value).ok());
  EXPECT_FALSE(DecodeL2Value(kKey, "garbage").ok());
  EXPECT_FALSE(DecodeL2Value(kKey, std::string(200, 'x')).ok());
  EXPECT_FALSE(DecodeL2Value(kKey, "").ok());
  // Another format version, with a digest that would match: refused by the version check.
  std::string other_version = value;
  other_version[4] = 2;
  EXPECT_FALSE(DecodeL2Value(kKey, other_version).ok());
  // Messages never quote the value.
  const absl::Status status = DecodeL2Value(kKey, "secret-looking-garbage").status();
  EXPECT_FALSE(absl::StrContains(status.message(), "secret-looking"));
}

TEST(RedisL2KeyTest, KeysAreVersionedNamespacedAndEncodeTheCacheKey) {
  const ReportKey key("user", "meeting", "report", rollcall::v1::REPORT_VIEW_FULL);
  const std::string value_key = L2ValueKey("contoso-tenant", key.encoded());
  EXPECT_TRUE(absl::StartsWith(value_key, "rollcall:v1:contoso-tenant:")) << value_key;
  std::string decoded;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(
      value_key.substr(std::string("rollcall:v1:contoso-tenant:").size()), &decoded));
  EXPECT_EQ(decoded, key.encoded());
  EXPECT_EQ(L2LeaseKey("contoso-tenant", key.encoded()), value_key + ":lease");
  // Views, tenants and kinds apart.
  const ReportKey basic("user", "meeting", "report", rollcall::v1::REPORT_VIEW_BASIC);
  EXPECT_NE(L2ValueKey("contoso-tenant", basic.encoded()), value_key);
  EXPECT_NE(L2ValueKey("fabrikam", key.encoded()), value_key);
  // Only printable characters, whatever bytes the IDs hold.
  const ReportKey hostile(std::string("a:b\n\0c", 6), " ", "\xff", rollcall::v1::REPORT_VIEW_FULL);
  for (char c : L2ValueKey("t", hostile.encoded())) {
    EXPECT_TRUE(c > 0x20 && c < 0x7f) << static_cast<int>(c);
  }
}

TEST(RedisUrlTest, AcceptsTcpAndUnixForms) {
  auto a = ParseRedisUrl("redis://127.0.0.1:6380/2");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 6380);
  EXPECT_EQ(a->db, 2);
  a = ParseRedisUrl("redis://redis.internal");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "redis.internal");
  EXPECT_EQ(a->port, 6379);
  EXPECT_EQ(a->db, 0);
  a = ParseRedisUrl("redis://[::1]:7000/");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "::1");
  EXPECT_EQ(a->port, 7000);
  a = ParseRedisUrl("unix:///run/redis/redis.sock");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->unix_path, "/run/redis/redis.sock");
}

TEST(RedisUrlTest, RefusesTlsCredentialsAndNonsenseWithoutQuotingThem) {
  const auto tls = ParseRedisUrl("rediss://cache.example:6380");
  ASSERT_FALSE(tls.ok());
  EXPECT_TRUE(absl::StrContains(tls.status().message(), "hiredis 0.14 has no TLS"));
  EXPECT_TRUE(absl::StrContains(tls.status().message(), "proxy"));
  EXPECT_FALSE(absl::StrContains(tls.status().message(), "cache.example"));
  const auto creds = ParseRedisUrl("redis://user:hunter2@host:6379");
  ASSERT_FALSE(creds.ok());
  EXPECT_FALSE(absl::StrContains(creds.status().message(), "hunter2"));
  EXPECT_TRUE(absl::StrContains(creds.status().message(), "redis_password_file"));
  for (const char* bad : {"http://host", "redis://", "redis://:6379", "redis://host:",
                          "redis://host:0", "redis://host:99999", "redis://host:x",
                          "redis://host/x", "redis://host/0?a=b", "redis://[::1", "unix://rel",
                          "redis://ho st"}) {
    EXPECT_FALSE(ParseRedisUrl(bad).ok()) << bad;
  }
}

TEST(RedisPasswordFileTest, OneLineIsThePasswordTwoLinesAreUserAndPassword) {
  auto c = ParseRedisPasswordFile("s3:cr3t\n");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->user, "");
  EXPECT_EQ(c->password, "s3:cr3t");
  c = ParseRedisPasswordFile("rollcall\r\npa ss\r\n");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->user, "rollcall");
  EXPECT_EQ(c->password, "pa ss");
  EXPECT_FALSE(ParseRedisPasswordFile("").ok());
  EXPECT_FALSE(ParseRedisPasswordFile("\n").ok());
  // A trailing line end is not a second line.
  EXPECT_EQ(ParseRedisPasswordFile("only-password\n")->user, "");
  const auto three = ParseRedisPasswordFile("a\nb\nc-secret");
  ASSERT_FALSE(three.ok());
  EXPECT_FALSE(absl::StrContains(three.status().message(), "c-secret"));
  const auto missing = ReadRedisPasswordFile("/nonexistent/redis-password");
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(absl::StrContains(missing.status().message(), "ROLLCALL_REDIS_PASSWORD_FILE"));
}

}  // namespace
}  // namespace rollcall::service
