#include "service/log.h"

#include <cmath>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/fake_clock.h"

namespace rollcall::service {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class LogTest : public ::testing::Test {
 protected:
  Logger MakeLogger(LogLevel threshold) {
    return Logger(threshold, &clock_, [this](absl::string_view line) {
      lines_.emplace_back(line);
    });
  }
  rollcall::testing::FakeClock clock_{absl::FromUnixSeconds(1700000000) +
                                      absl::Microseconds(123456)};
  std::vector<std::string> lines_;
};

TEST_F(LogTest, WritesOneJsonLinePerEvent) {
  Logger logger = MakeLogger(LogLevel::kInfo);
  logger.Info("graph fetch", {{"user_id", "u-1"}, {"records", "2"}});
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_EQ(lines_[0],
            "{\"ts\":\"2023-11-14T22:13:20.123456Z\",\"level\":\"info\",\"msg\":\"graph fetch\","
            "\"user_id\":\"u-1\",\"records\":\"2\"}\n");
}

TEST_F(LogTest, FieldsKeepTheirJsonTypesAtTheTopLevel) {
  Logger logger = MakeLogger(LogLevel::kInfo);
  logger.Info("rpc", {{"method", "GetAttendanceReport"},
                      {"http_status", 404},
                      {"records", int64_t{1} << 40},
                      {"latency_ms", 12.5},
                      {"from_cache", true},
                      {"ratio", std::nan("")},
                      {"msg", "not the message"}});
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_EQ(lines_[0],
            "{\"ts\":\"2023-11-14T22:13:20.123456Z\",\"level\":\"info\",\"msg\":\"rpc\","
            "\"method\":\"GetAttendanceReport\",\"http_status\":404,\"records\":1099511627776,"
            "\"latency_ms\":12.5,\"from_cache\":true,\"ratio\":null,"
            "\"field_msg\":\"not the message\"}\n");
}

TEST_F(LogTest, HonoursTheThreshold) {
  Logger logger = MakeLogger(LogLevel::kWarn);
  logger.Debug("d");
  logger.Info("i");
  logger.Warn("w");
  logger.Error("e");
  ASSERT_EQ(lines_.size(), 2u);
  EXPECT_THAT(lines_[0], HasSubstr("\"level\":\"warn\""));
  EXPECT_THAT(lines_[1], HasSubstr("\"level\":\"error\""));
  EXPECT_FALSE(logger.Enabled(LogLevel::kInfo));
}

TEST_F(LogTest, RedactsSecretLikeKeys) {
  Logger logger = MakeLogger(LogLevel::kDebug);
  logger.Info("oops", {{"client_secret", "hunter2"},
                       {"access_token", "eyJ0eXAi"},
                       {"Authorization", "Bearer eyJ0eXAi"},
                       {"user_id", "visible"}});
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_THAT(lines_[0], Not(HasSubstr("hunter2")));
  EXPECT_THAT(lines_[0], Not(HasSubstr("eyJ0eXAi")));
  EXPECT_THAT(lines_[0], HasSubstr("\"client_secret\":\"[redacted]\""));
  EXPECT_THAT(lines_[0], HasSubstr("\"user_id\":\"visible\""));
}

TEST_F(LogTest, EscapesUntrustedText) {
  Logger logger = MakeLogger(LogLevel::kDebug);
  logger.Info("line\nbreak \"quoted\" \\", {{"id", std::string("a\x01\x7f\xff z\xc3\xa9", 8)}});
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_THAT(lines_[0], HasSubstr("\"msg\":\"line\\nbreak \\\"quoted\\\" \\\\\""));
  EXPECT_THAT(lines_[0], HasSubstr("\"id\":\"a\\u0001\\u007f\\ufffd z\xc3\xa9\""));
  EXPECT_EQ(lines_[0].find('\n'), lines_[0].size() - 1);  // one line
}

TEST(LogHelpersTest, TruncateForLogNeverSplitsUtf8) {
  EXPECT_EQ(TruncateForLog("short", 10), "short");
  EXPECT_EQ(TruncateForLog("abcdef", 3), "abc...");
  EXPECT_EQ(TruncateForLog("ab\xc3\xa9xyz", 3), "ab...");  // é would be cut in half
  EXPECT_TRUE(ParseLogLevel("Warning").ok());
  EXPECT_FALSE(ParseLogLevel("loud").ok());
}

}  // namespace
}  // namespace rollcall::service
