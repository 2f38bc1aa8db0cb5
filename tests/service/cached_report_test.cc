// ReportKey and CachedReport: the report cache's keys and entries (moved from
// report_cache_test.cc with the code they test).

#include "service/cached_report.h"

#include <memory>
#include <cctype>
#include <set>
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

TEST(ReportKeyTest, AGuidInGraphsSpellingIsKeptAsItsSixteenBytes) {
  using std::string_literals::operator""s;
  const std::string guid = "16664f75-11dc-4870-bec6-38c1aaa81431";
  const std::string bytes =
      "\x16\x66\x4f\x75\x11\xdc\x48\x70\xbe\xc6\x38\xc1\xaa\xa8\x14\x31"s;
  // The prefix 0x3fff (two varint bytes) stands for "a packed GUID": 19 bytes, not 37.
  EXPECT_EQ(ReportKey(guid, "m", guid, REPORT_VIEW_FULL).encoded(),
            "o\xff\x7f"s + bytes + "\x01m\xff\x7f"s + bytes + "F");
  // Any other spelling is kept as it is, so that each key still names one request: upper
  // case, braces, no dashes, a non-hex digit, one character more or less.
  std::string upper = guid;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const std::string& other :
       {upper, "{" + guid + "}", std::string("16664f7511dc4870bec638c1aaa81431"),
        std::string("16664f75-11dc-4870-bec6-38c1aaa8143g"), guid + "0", guid.substr(1),
        std::string("16664f75-11dc-4870-bec6_38c1aaa81431")}) {
    const ReportKey key(other, "m", "r", REPORT_VIEW_FULL);
    EXPECT_EQ(key.encoded(), "o"s + static_cast<char>(other.size()) + other + "\x01m\x01rF")
        << other;
    EXPECT_NE(key.encoded(), ReportKey(guid, "m", "r", REPORT_VIEW_FULL).encoded());
  }
  // The 16 bytes themselves, as an ID, are not the GUID.
  EXPECT_NE(ReportKey(bytes, "m", "r", REPORT_VIEW_FULL).encoded(),
            ReportKey(guid, "m", "r", REPORT_VIEW_FULL).encoded());
  // Every hex digit, at every place, packs and reads back distinctly.
  std::set<std::string> keys;
  const std::string digits = "0123456789abcdef";
  for (std::size_t at = 0; at < guid.size(); ++at) {
    if (guid[at] == '-') continue;
    for (const char digit : digits) {
      std::string id = guid;
      id[at] = digit;
      keys.insert(std::string(ReportKey(id, "m", "r", REPORT_VIEW_FULL).encoded()));
    }
  }
  EXPECT_EQ(keys.size(), 32u * 15u + 1u);  // each change is a new key; no change is one key
  // An ID whose length is the marker's, or above it, keeps its own prefix (written one
  // higher), never the marker's.
  for (const std::size_t length : {0x3ffeu, 0x3fffu, 0x4000u}) {
    const std::string id(length, 'x');
    const ReportKey key(id, "m", "r", REPORT_VIEW_FULL);
    const absl::string_view encoded = key.encoded();
    std::size_t written = length >= 0x3fff ? length + 1 : length;
    std::string varint;
    for (; written >= 0x80; written >>= 7) varint += static_cast<char>(0x80 | (written & 0x7f));
    varint += static_cast<char>(written);
    EXPECT_EQ(encoded.substr(1, varint.size()), varint) << length;
    EXPECT_EQ(encoded.size(), 1 + varint.size() + length + 5) << length;
  }
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
