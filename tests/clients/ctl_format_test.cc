// What rollcallctl prints: tables in the reader's time zone, durations, errors with their
// details, and an exit code per outcome.

#include "clients/cpp/ctl_format.h"

#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"

namespace rollcall::ctl {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

v1::GetAttendanceReportResponse Response(const std::string& text) {
  v1::GetAttendanceReportResponse response;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &response)) << text;
  return response;
}

// Two records: one with a name and two intervals, one known only by email, one interval open.
constexpr char kTwoRecords[] = R"pb(
  report {
    id: "r1"
    total_participant_count: 2
    meeting_start_date_time { seconds: 1633408703 }
    meeting_end_date_time { seconds: 1633409029 }
    attendance_records {
      id: "a"
      email_address: "frederick.cormier@contoso.com"
      role: "Presenter"
      total_attendance_in_seconds: 3725
      identity { display_name: "Frédérick Cormier" }
      attendance_intervals {
        join_date_time { seconds: 1633408800 }
        leave_date_time { seconds: 1633409100 }
      }
      attendance_intervals {
        join_date_time { seconds: 1633408703 }
        leave_date_time { seconds: 1633412000 }
      }
    }
    attendance_records {
      email_address: "guest@example.com"
      total_attendance_in_seconds: 45
      attendance_intervals { join_date_time { seconds: 1633408900 } }
    }
  }
  graph_fetch_time { seconds: 1633412100 }
  from_cache: true
)pb";

TEST(CtlFormat, DurationsReadAsHoursMinutesSeconds) {
  EXPECT_EQ(DurationText(0), "0s");
  EXPECT_EQ(DurationText(45), "45s");
  EXPECT_EQ(DurationText(19 * 60 + 12), "19m 12s");
  EXPECT_EQ(DurationText(3725), "1h 02m 05s");
  EXPECT_EQ(DurationText(-1), "-");
}

TEST(CtlFormat, TheReportTableShowsFirstJoinLastLeaveAndTotalInTheReadersZone) {
  const v1::GetAttendanceReportResponse response = Response(kTwoRecords);
  absl::TimeZone berlin;
  ASSERT_TRUE(absl::LoadTimeZone("Europe/Berlin", &berlin));
  const std::string text = ReportText(response, berlin);
  // 1633408703 is 2021-10-05 04:38:23 UTC, 06:38:23 in Berlin (CEST).
  EXPECT_THAT(text, HasSubstr("Meeting       2021-10-05 06:38:23 CEST to 2021-10-05 06:43:49 CEST"));
  EXPECT_THAT(text, HasSubstr("Participants  2 (2 records)"));
  EXPECT_THAT(text, HasSubstr("served from Rollcall's cache"));
  // First join is the earlier interval's, last leave the later one's, whatever their order.
  EXPECT_THAT(text, HasSubstr("Frédérick Cormier  Presenter  2021-10-05 06:38:23 CEST  "
                              "2021-10-05 07:33:20 CEST  1h 02m 05s  2"));
  // Without a display name the email stands in; an interval still open has no leave time.
  EXPECT_THAT(text, HasSubstr("guest@example.com  -          2021-10-05 06:41:40 CEST  -"));

  const std::string utc = ReportText(response, absl::UTCTimeZone());
  EXPECT_THAT(utc, HasSubstr("2021-10-05 04:38:23 UTC"));
  EXPECT_THAT(utc, Not(HasSubstr("CEST")));
}

TEST(CtlFormat, ColumnsAlignByCharactersNotBytes) {
  const std::string table =
      RecordsTable(Response(kTwoRecords).report().attendance_records(), absl::UTCTimeZone());
  // "Frédérick Cormier" is 17 characters (18 bytes), "guest@example.com" 17: the role column
  // starts at the same character on both lines.
  std::vector<std::string> lines = absl::StrSplit(table, '\n');
  ASSERT_GE(lines.size(), 3u);
  EXPECT_EQ(lines[1].find("Presenter"), std::string("Frédérick Cormier  ").size());
  EXPECT_EQ(lines[2].find("-  "), std::string("guest@example.com  ").size());
  EXPECT_THAT(lines[0], HasSubstr("ATTENDEE"));
}

TEST(CtlFormat, ReportsAndMeetings) {
  v1::ListAttendanceReportsResponse reports;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      R"pb(reports { id: "r2" total_participant_count: 7 meeting_start_date_time { seconds: 0 } }
           reports { id: "r1" })pb",
      &reports));
  const std::string table = ReportsTable(reports, absl::UTCTimeZone());
  EXPECT_THAT(table, HasSubstr("r2      1970-01-01 00:00:00 UTC  -            7"));
  EXPECT_THAT(table, HasSubstr("r1      -"));
  EXPECT_THAT(ReportsTable({}, absl::UTCTimeZone()), HasSubstr("No attendance reports"));

  v1::ResolveOnlineMeetingResponse meeting;
  meeting.mutable_meeting()->set_id("MSpk");
  meeting.mutable_meeting()->set_subject("Weekly sync");
  const std::string text = MeetingText(meeting, absl::UTCTimeZone());
  EXPECT_THAT(text, HasSubstr("Meeting ID       MSpk"));
  EXPECT_THAT(text, HasSubstr("Subject          Weekly sync"));
  EXPECT_THAT(text, HasSubstr("Organizer        -"));
}

grpc::Status ErrorWithDetails() {
  google::rpc::Status details;
  details.set_code(5);
  google::rpc::ErrorInfo info;
  info.set_reason("REPORT_NOT_FOUND");
  info.set_domain("rollcall.v1");
  (*info.mutable_metadata())["graph_request_id"] = "req-1";
  details.add_details()->PackFrom(info);
  google::rpc::RetryInfo retry;
  retry.mutable_retry_delay()->set_seconds(2);
  details.add_details()->PackFrom(retry);
  return grpc::Status(grpc::StatusCode::NOT_FOUND, "no \"report\" r9", details.SerializeAsString());
}

TEST(CtlFormat, ErrorsShowTheirReasonMetadataAndRetryDelay) {
  const std::string text = ErrorText(ErrorWithDetails());
  EXPECT_THAT(text, HasSubstr("rollcallctl: NOT_FOUND: no \"report\" r9\n"));
  EXPECT_THAT(text, HasSubstr("  reason: REPORT_NOT_FOUND (rollcall.v1)\n"));
  EXPECT_THAT(text, HasSubstr("  graph_request_id: req-1\n"));
  EXPECT_THAT(text, HasSubstr("  retry after: 2s\n"));
  EXPECT_EQ(ErrorText(grpc::Status(grpc::StatusCode::UNAVAILABLE, "down")),
            "rollcallctl: UNAVAILABLE: down\n");
}

TEST(CtlFormat, ErrorJsonParsesAndKeepsTheDetailsTyped) {
  const std::string json = ErrorJson(ErrorWithDetails());
  google::protobuf::Struct parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &parsed).ok()) << json;
  const auto& error = parsed.fields().at("error").struct_value().fields();
  EXPECT_EQ(error.at("code").string_value(), "NOT_FOUND");
  EXPECT_EQ(error.at("message").string_value(), "no \"report\" r9");
  const auto& details = error.at("details").list_value().values();
  ASSERT_EQ(details.size(), 2);
  const auto& info = details[0].struct_value().fields();
  EXPECT_EQ(info.at("@type").string_value(), "type.googleapis.com/google.rpc.ErrorInfo");
  EXPECT_EQ(info.at("reason").string_value(), "REPORT_NOT_FOUND");
  EXPECT_EQ(details[1].struct_value().fields().at("retryDelay").string_value(), "2s");

  // Without details: an empty list, still one object.
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(
                  ErrorJson(grpc::Status(grpc::StatusCode::INTERNAL, "x")), &parsed)
                  .ok());
  EXPECT_EQ(parsed.fields().at("error").struct_value().fields().at("details").list_value().values_size(), 0);
}

TEST(CtlFormat, EachOutcomeHasItsExitCode) {
  EXPECT_EQ(ExitCodeFor(grpc::StatusCode::OK), 0);
  EXPECT_EQ(ExitCodeFor(grpc::StatusCode::NOT_FOUND), 3);
  EXPECT_EQ(ExitCodeFor(grpc::StatusCode::INVALID_ARGUMENT), 4);
  EXPECT_EQ(ExitCodeFor(grpc::StatusCode::PERMISSION_DENIED), 5);
  EXPECT_EQ(ExitCodeFor(grpc::StatusCode::UNAUTHENTICATED), 5);
  EXPECT_EQ(ExitCodeFor(grpc::StatusCode::FAILED_PRECONDITION), 6);
  EXPECT_EQ(ExitCodeFor(grpc::StatusCode::UNAVAILABLE), 7);
  EXPECT_EQ(ExitCodeFor(grpc::StatusCode::RESOURCE_EXHAUSTED), 7);
  EXPECT_EQ(ExitCodeFor(grpc::StatusCode::DEADLINE_EXCEEDED), 7);
  EXPECT_EQ(ExitCodeFor(grpc::StatusCode::INTERNAL), 1);
  EXPECT_EQ(CodeName(grpc::StatusCode::RESOURCE_EXHAUSTED), "RESOURCE_EXHAUSTED");
}

}  // namespace
}  // namespace rollcall::ctl
