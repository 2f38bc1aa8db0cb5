// ReportKey and CachedReport: the report cache's keys and entries (moved from
// report_cache_test.cc with the code they test).

#include "service/cached_report.h"

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/error_details.h"
#include "gtest/gtest.h"
#include "service/validation.h"

namespace rollcall::service {
namespace {

using rollcall::v1::REPORT_VIEW_BASIC;
using rollcall::v1::REPORT_VIEW_FULL;
using rollcall::v1::REPORT_VIEW_UNSPECIFIED;

ReportKey Key(const std::string& report, rollcall::v1::ReportView view = REPORT_VIEW_FULL) {
  return ReportKey("user", "meeting", report, view);
}

TEST(ReportKeyTest, EncodingIsUnambiguous) {
  EXPECT_NE(ReportKey("ab", "c", "d", REPORT_VIEW_FULL).encoded(),
            ReportKey("a", "bc", "d", REPORT_VIEW_FULL).encoded());
  EXPECT_NE(ReportKey("1:a", "b", "c", REPORT_VIEW_FULL).encoded(),
            ReportKey("1", "a1:b", "c", REPORT_VIEW_FULL).encoded());
  // IDs holding what looks like a length byte.
  EXPECT_NE(ReportKey(std::string("\x01" "a", 2), "b", "c", REPORT_VIEW_FULL).encoded(),
            ReportKey("\x01", std::string("a\x01" "b", 3), "c", REPORT_VIEW_FULL).encoded());
  EXPECT_NE(ReportKey("u", "m", "r", REPORT_VIEW_FULL).encoded(),
            ReportKey("u", "m", "r", REPORT_VIEW_BASIC).encoded());
  // The proto defines UNSPECIFIED as FULL: they share an entry.
  EXPECT_EQ(ReportKey("u", "m", "r", REPORT_VIEW_FULL).encoded(),
            ReportKey("u", "m", "r", REPORT_VIEW_UNSPECIFIED).encoded());
  // The same IDs name different things in each kind.
  EXPECT_NE(ReportKey("u", "m", "r", REPORT_VIEW_FULL).encoded(),
            ReportKey(KeyKind::kWebinarReport, "u", "m", "r", REPORT_VIEW_FULL).encoded());
  EXPECT_NE(ReportKey(KeyKind::kWebinarReport, "u", "m", "r", REPORT_VIEW_FULL).encoded(),
            ReportKey(KeyKind::kTownHallReport, "u", "m", "r", REPORT_VIEW_FULL).encoded());
  EXPECT_NE(ReportKey(KeyKind::kMeetingReports, "u", "m", "", REPORT_VIEW_BASIC).encoded(),
            ReportKey(KeyKind::kJoinLink, "u", "m", "", REPORT_VIEW_BASIC).encoded());
  EXPECT_TRUE(ReportKey("u", "m", "r", REPORT_VIEW_UNSPECIFIED).with_records());
  EXPECT_FALSE(ReportKey("u", "m", "r", REPORT_VIEW_BASIC).with_records());
}

TEST(ReportKeyTest, EachIdIsLengthPrefixedAndLongKeysAreWhole) {
  using std::string_literals::operator""s;
  EXPECT_EQ(ReportKey("ab", "c", "0123456789", REPORT_VIEW_FULL).encoded(),
            "o\x02" "ab\x01" "c\x0a" "0123456789F"s);
  EXPECT_EQ(ReportKey("u", "", "r", REPORT_VIEW_BASIC).encoded(), "o\x01u\x00\x01rB"s);
  EXPECT_EQ(ReportKey(KeyKind::kWebinarReport, "e", "s", "r", REPORT_VIEW_BASIC).encoded(),
            "w\x01" "e\x01" "s\x01rB"s);
  // Longer than the inline buffer: the same encoding, from the heap.
  const std::string id(1024, 'x');
  const ReportKey key(id, id, id, REPORT_VIEW_FULL);
  // 1024 as a varint: 0x80 | (1024 & 0x7f), then 1024 >> 7.
  const std::string length("\x80\x08", 2);
  EXPECT_EQ(key.encoded(), absl::StrCat("o", length, id, length, id, length, id, "F"));
  // Moved, inline or not, it still reads the same.
  ReportKey moved = ReportKey("ab", "c", "d", REPORT_VIEW_FULL);
  ReportKey long_moved = ReportKey(id, id, id, REPORT_VIEW_BASIC);
  const ReportKey short_target(std::move(moved));
  const ReportKey long_target(std::move(long_moved));
  EXPECT_EQ(short_target.encoded(), "o\x02" "ab\x01" "c\x01" "dF");
  EXPECT_EQ(long_target.encoded().size(), 1 + 3 * (2 + 1024) + 1);
}

// --- Entries ----------------------------------------------------------------------------

TEST(CachedReportTest, KeyAndValueOfAnySizeShareOneEntry) {
  const absl::Time now = absl::FromUnixSeconds(1700000000);
  for (const std::size_t size : {0, 1, 7, 23, 24, 4096}) {
    std::string value(size, '\0');
    for (std::size_t i = 0; i < size; ++i) value[i] = static_cast<char>(i * 7 + 3);
    const std::string key = absl::StrCat("k", size, std::string(size % 5, ':'));
    const CachedReport entry = CachedReport::Copy(key, value, now, absl::Minutes(1));
    ASSERT_TRUE(entry);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(entry.bytes().begin()),
                          entry.bytes().size()),
              value);
    EXPECT_EQ(entry.key(), key);
    EXPECT_EQ(entry.expires_at(), now + absl::Minutes(1));
    EXPECT_FALSE(entry.negative());
    // A copy is another reference to the same bytes, not another buffer.
    const CachedReport copy = entry;
    EXPECT_EQ(copy, entry);
    EXPECT_EQ(copy.bytes().begin(), entry.bytes().begin());
  }
  EXPECT_FALSE(CachedReport());
  EXPECT_NE(CachedReport::Copy("a", "v", now, absl::Minutes(1)),
            CachedReport::Copy("a", "v", now, absl::Minutes(1)));
}

TEST(CachedReportTest, NegativeEntryGivesBackTheErrorWithEveryPayload) {
  common::ErrorDetails details;
  details.reason = "REPORT_NOT_FOUND";
  details.metadata["graph_request_id"] = "req-9";
  details.metadata["graph_code"] = std::string("itemNotFound\0with nul", 21);
  details.retry_after = absl::Milliseconds(1500);
  const absl::Status error =
      common::MakeError(absl::StatusCode::kNotFound, "no report \xe2\x9c\x93 here", details);
  const absl::Time expires = absl::FromUnixSeconds(1700000030);
  const CachedReport entry = CachedReport::Negative("key", error, expires);
  EXPECT_TRUE(entry.negative());
  EXPECT_EQ(entry.error(), error);
  EXPECT_EQ(common::GetErrorDetails(entry.error()).metadata.at("graph_code"),
            details.metadata["graph_code"]);
  EXPECT_EQ(entry.bytes().size(), 0u);
  EXPECT_EQ(entry.key(), "key");
  EXPECT_EQ(entry.expires_at(), expires);

  const CachedReport bare =
      CachedReport::Negative("k", absl::NotFoundError(""), expires);
  EXPECT_EQ(bare.error(), absl::NotFoundError(""));
}

TEST(CachedReportTest, BeyondItsLimitsNoEntryIsMade) {
  const absl::Time now = absl::FromUnixSeconds(1700000000);
  bool written = false;
  EXPECT_FALSE(CachedReport::Make(
      "k", CachedReport::kMaxValueBytes + 1, [&](uint8_t*) { written = true; }, now,
      absl::Minutes(1)));
  EXPECT_FALSE(written);
  const std::string long_key(CachedReport::kMaxKeyBytes + 1, 'k');
  EXPECT_FALSE(CachedReport::Copy(long_key, "v", now, absl::Minutes(1)));
  EXPECT_TRUE(CachedReport::Copy(long_key.substr(1), "v", now, absl::Minutes(1)));
  EXPECT_FALSE(CachedReport::Negative(
      "k", absl::NotFoundError(std::string(CachedReport::kMaxErrorBytes, 'm')), now));
  // The longest key validation lets through fits.
  const std::string id(kMaxIdBytes, 'i');
  EXPECT_TRUE(CachedReport::Copy(ReportKey(id, id, id, REPORT_VIEW_FULL).encoded(), "v", now,
                                 absl::Minutes(1)));
}

}  // namespace
}  // namespace rollcall::service
