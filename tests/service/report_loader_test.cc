// ReportLoader and what it owns: the TTL policy, serialization into an entry, and the Graph
// call (the first tests moved from report_cache_test.cc with the code they test).

#include "service/report_loader.h"

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/error_details.h"
#include "gtest/gtest.h"
#include "google/protobuf/arena.h"
#include "service/cached_report.h"
#include "tests/testing/fake_graph_client.h"
#include "tests/testing/fake_clock.h"

namespace rollcall::service {
namespace {

ReportKey Key(const std::string& report) {
  return ReportKey("user", "meeting", report, rollcall::v1::REPORT_VIEW_FULL);
}

TEST(ReportTtlTest, RecentOrUnfinishedReportsGetTheShortTtl) {
  const TtlPolicy policy{absl::Hours(1), absl::Seconds(60), absl::Hours(1)};
  const absl::Time now = absl::FromUnixSeconds(1700000000);
  rollcall::v1::MeetingAttendanceReport report;
  EXPECT_EQ(ReportTtl(report, now, policy), absl::Seconds(60));  // no end time (running)

  report.mutable_meeting_end_date_time()->set_seconds(absl::ToUnixSeconds(now - absl::Minutes(5)));
  EXPECT_EQ(ReportTtl(report, now, policy), absl::Seconds(60));  // just ended

  report.mutable_meeting_end_date_time()->set_seconds(absl::ToUnixSeconds(now + absl::Minutes(5)));
  EXPECT_EQ(ReportTtl(report, now, policy), absl::Seconds(60));  // ends in the future

  report.mutable_meeting_end_date_time()->set_seconds(absl::ToUnixSeconds(now - absl::Hours(1)));
  EXPECT_EQ(ReportTtl(report, now, policy), absl::Hours(1));  // exactly old enough

  report.mutable_meeting_end_date_time()->set_seconds(
      absl::ToUnixSeconds(now - absl::Hours(24 * 400)));
  EXPECT_EQ(ReportTtl(report, now, policy), absl::Hours(1));
}

TEST(SerializeReportTest, BytesAreAResponseWithoutFromCache) {
  const absl::Time fetched = absl::FromUnixSeconds(1700000000) + absl::Milliseconds(250);
  rollcall::v1::MeetingAttendanceReport report = test::SampleReport();
  const CachedReport entry = SerializeReport(Key("r").encoded(), &report, fetched, absl::Seconds(1));
  rollcall::v1::GetAttendanceReportResponse response;
  ASSERT_TRUE(
      response.ParseFromArray(entry.bytes().begin(), static_cast<int>(entry.bytes().size())));
  EXPECT_EQ(response.report().SerializeAsString(), test::SampleReport().SerializeAsString());
  EXPECT_EQ(response.graph_fetch_time().seconds(), 1700000000);
  EXPECT_EQ(response.graph_fetch_time().nanos(), 250000000);
  EXPECT_FALSE(response.from_cache());
  EXPECT_EQ(entry.key(), Key("r").encoded());
  EXPECT_EQ(entry.expires_at(), fetched + absl::Seconds(1));
  EXPECT_FALSE(entry.negative());
  EXPECT_TRUE(entry.error().ok());
}

TEST(SerializeReportTest, AReportOnAnArenaGivesTheSameBytes) {
  const absl::Time fetched = absl::FromUnixSeconds(1700000000);
  rollcall::v1::MeetingAttendanceReport on_heap = test::SampleReport();
  const CachedReport expected = SerializeReport("k", &on_heap, fetched, absl::Seconds(1));
  google::protobuf::Arena arena;
  auto* on_arena =
      google::protobuf::Arena::CreateMessage<rollcall::v1::MeetingAttendanceReport>(&arena);
  *on_arena = test::SampleReport();
  const CachedReport entry = SerializeReport("k", on_arena, fetched, absl::Seconds(1));
  EXPECT_EQ(absl::string_view(reinterpret_cast<const char*>(entry.bytes().begin()),
                              entry.bytes().size()),
            absl::string_view(reinterpret_cast<const char*>(expected.bytes().begin()),
                              expected.bytes().size()));
  EXPECT_EQ(on_arena->ByteSizeLong(), 0u);  // moved out
}

// --- The Graph call ---------------------------------------------------------------------

class ReportLoaderTest : public ::testing::Test {
 protected:
  ReportLoaderTest() : loader_(graph_, policy_, &clock_, &logger_) {}

  const TtlPolicy policy_{absl::Hours(1), absl::Seconds(60), absl::Hours(1)};
  rollcall::testing::FakeClock clock_;
  std::shared_ptr<test::FakeGraphClient> graph_ = std::make_shared<test::FakeGraphClient>();
  Logger logger_{LogLevel::kError, &clock_, [](absl::string_view) {}};
  ReportLoader loader_;
  const graph::ReportRef ref_{"user", "meeting", "report"};
};

TEST_F(ReportLoaderTest, ALoadedReportIsSerializedIntoAnEntryForItsKeyWithItsTtl) {
  const absl::Time deadline = clock_.Now() + absl::Seconds(10);
  absl::StatusOr<CachedReport> entry = loader_.Load(Key("r").encoded(), ref_, true, deadline);
  ASSERT_TRUE(entry.ok()) << entry.status();
  EXPECT_EQ(entry->key(), Key("r").encoded());
  // SampleReport's meeting ended years before the fake clock's now: the long TTL.
  EXPECT_EQ(entry->expires_at(), clock_.Now() + absl::Hours(1));
  rollcall::v1::GetAttendanceReportResponse response;
  ASSERT_TRUE(response.ParseFromArray(entry->bytes().begin(),
                                      static_cast<int>(entry->bytes().size())));
  EXPECT_EQ(response.report().SerializeAsString(), test::SampleReport().SerializeAsString());
  EXPECT_EQ(response.graph_fetch_time().seconds(), absl::ToUnixSeconds(clock_.Now()));

  const std::vector<test::FakeGraphClient::Call> calls = graph_->calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].ref.report_id, "report");
  EXPECT_TRUE(calls[0].with_records);
  EXPECT_EQ(calls[0].deadline, deadline);
  EXPECT_EQ(loader_.GetStats().graph_fetches, 1u);
  EXPECT_EQ(loader_.GetStats().graph_errors, 0u);
}

TEST_F(ReportLoaderTest, GraphErrorsAreReturnedAndCountedByABoundedReason) {
  common::ErrorDetails details;
  details.reason = std::string(common::reason::kGraphThrottled);
  graph_->SetError(common::MakeError(absl::StatusCode::kResourceExhausted, "slow down", details));
  const absl::Time deadline = clock_.Now() + absl::Seconds(10);
  EXPECT_EQ(loader_.Load("k", ref_, false, deadline).status().code(),
            absl::StatusCode::kResourceExhausted);
  details.reason = "SOMETHING_NEW";
  graph_->SetError(common::MakeError(absl::StatusCode::kInternal, "odd", details));
  EXPECT_FALSE(loader_.Load("k", ref_, false, deadline).ok());
  graph_->SetError(absl::UnavailableError("no details"));
  EXPECT_FALSE(loader_.Load("k", ref_, false, deadline).ok());
  const ReportLoader::Stats stats = loader_.GetStats();
  EXPECT_EQ(stats.graph_fetches, 3u);
  EXPECT_EQ(stats.graph_errors, 3u);
  EXPECT_EQ(stats.graph_errors_by_reason,
            (std::vector<std::pair<std::string, uint64_t>>{
                {"GRAPH_THROTTLED", 1}, {"OTHER", 1}, {"UNSPECIFIED", 1}}));
  EXPECT_EQ(GraphErrorLabel("REPORT_NOT_FOUND"), "REPORT_NOT_FOUND");
}

TEST_F(ReportLoaderTest, APassedDeadlineOrAnAbandonedLoadNeverCallsGraph) {
  EXPECT_EQ(loader_.Load("k", ref_, true, clock_.Now()).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  loader_.Abandon();
  const absl::Status abandoned =
      loader_.Load("k", ref_, true, clock_.Now() + absl::Seconds(10)).status();
  EXPECT_EQ(abandoned.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(common::GetErrorDetails(abandoned).reason, common::reason::kShuttingDown);
  EXPECT_EQ(graph_->call_count(), 0);
  EXPECT_EQ(loader_.GetStats().graph_fetches, 0u);
}

}  // namespace
}  // namespace rollcall::service
