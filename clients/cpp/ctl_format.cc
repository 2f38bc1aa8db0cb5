#include "clients/cpp/ctl_format.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace rollcall::ctl {
namespace {

namespace v1 = rollcall::v1;
using google::protobuf::util::TimeUtil;

absl::Time ToTime(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

// Columns as wide as their widest cell, counted in code points (names are often not ASCII).
std::size_t Width(const std::string& text) {
  std::size_t n = 0;
  for (unsigned char c : text) n += (c & 0xC0) != 0x80;
  return n;
}

std::string Table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], Width(row[i]));
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      if (i > 0) line += "  ";
      line += row[i];
      if (i + 1 < row.size()) line.append(widths[i] - Width(row[i]), ' ');
    }
    out += line + "\n";
  }
  return out;
}

std::string Attendee(const v1::AttendanceRecord& record) {
  if (!record.identity().display_name().empty()) return record.identity().display_name();
  if (!record.email_address().empty()) return record.email_address();
  if (!record.identity().id().empty()) return record.identity().id();
  return record.id().empty() ? "(unknown)" : record.id();
}

std::string Count(bool present, int64_t n) { return present ? absl::StrCat(n) : "?"; }

}  // namespace

int ExitCodeFor(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return kOk;
    case grpc::StatusCode::NOT_FOUND:
      return kNotFound;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::OUT_OF_RANGE:
      return kInvalid;
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::UNAUTHENTICATED:
      return kDenied;
    case grpc::StatusCode::FAILED_PRECONDITION:
      return kNotServable;
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return kTryLater;
    default:
      return kFailed;
  }
}

std::string CodeName(grpc::StatusCode code) {
  static const std::map<int, std::string> kNames = {
      {0, "OK"},
      {1, "CANCELLED"},
      {2, "UNKNOWN"},
      {3, "INVALID_ARGUMENT"},
      {4, "DEADLINE_EXCEEDED"},
      {5, "NOT_FOUND"},
      {6, "ALREADY_EXISTS"},
      {7, "PERMISSION_DENIED"},
      {8, "RESOURCE_EXHAUSTED"},
      {9, "FAILED_PRECONDITION"},
      {10, "ABORTED"},
      {11, "OUT_OF_RANGE"},
      {12, "UNIMPLEMENTED"},
      {13, "INTERNAL"},
      {14, "UNAVAILABLE"},
      {15, "DATA_LOSS"},
      {16, "UNAUTHENTICATED"},
  };
  auto it = kNames.find(static_cast<int>(code));
  return it != kNames.end() ? it->second : absl::StrCat("CODE_", static_cast<int>(code));
}

std::string DurationText(int64_t seconds) {
  if (seconds < 0) return "-";
  const int64_t h = seconds / 3600, m = seconds / 60 % 60, s = seconds % 60;
  if (h > 0) return absl::StrFormat("%dh %02dm %02ds", h, m, s);
  if (m > 0) return absl::StrFormat("%dm %02ds", m, s);
  return absl::StrFormat("%ds", s);
}

std::string TimeText(const google::protobuf::Timestamp& time, bool present, absl::TimeZone zone) {
  if (!present) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S %Z", ToTime(time), zone);
}

std::string RecordsTable(const google::protobuf::RepeatedPtrField<v1::AttendanceRecord>& records,
                         absl::TimeZone zone) {
  std::vector<std::vector<std::string>> rows = {
      {"ATTENDEE", "ROLE", "FIRST JOIN", "LAST LEAVE", "TOTAL", "INTERVALS"}};
  for (const v1::AttendanceRecord& record : records) {
    std::optional<google::protobuf::Timestamp> first, last;
    for (const v1::AttendanceInterval& interval : record.attendance_intervals()) {
      if (interval.has_join_date_time() &&
          (!first || interval.join_date_time() < *first)) {
        first = interval.join_date_time();
      }
      if (interval.has_leave_date_time() && (!last || *last < interval.leave_date_time())) {
        last = interval.leave_date_time();
      }
    }
    rows.push_back({Attendee(record), record.role().empty() ? "-" : record.role(),
                    TimeText(first.value_or(google::protobuf::Timestamp()), first.has_value(), zone),
                    TimeText(last.value_or(google::protobuf::Timestamp()), last.has_value(), zone),
                    record.has_total_attendance_in_seconds()
                        ? DurationText(record.total_attendance_in_seconds())
                        : "-",
                    absl::StrCat(record.attendance_intervals_size())});
  }
  return Table(rows);
}

std::string ReportText(const v1::GetAttendanceReportResponse& response, absl::TimeZone zone) {
  const v1::MeetingAttendanceReport& report = response.report();
  std::string out = absl::StrCat(
      "Report        ", report.id(), "\n",
      "Meeting       ",
      TimeText(report.meeting_start_date_time(), report.has_meeting_start_date_time(), zone),
      " to ", TimeText(report.meeting_end_date_time(), report.has_meeting_end_date_time(), zone),
      "\n", "Participants  ",
      Count(report.has_total_participant_count(), report.total_participant_count()), " (",
      report.attendance_records_size(),
      report.attendance_records_size() == 1 ? " record)\n" : " records)\n", "Fetched       ",
      TimeText(response.graph_fetch_time(), response.has_graph_fetch_time(), zone),
      response.from_cache() ? ", served from Rollcall's cache" : ", fetched from Graph now",
      response.stale() ? " (stale: Graph is failing)" : "", "\n");
  if (report.attendance_records_size() > 0) {
    absl::StrAppend(&out, "\n", RecordsTable(report.attendance_records(), zone));
  }
  return out;
}

std::string ReportsTable(const v1::ListAttendanceReportsResponse& response, absl::TimeZone zone) {
  if (response.reports().empty()) return "No attendance reports (yet: they appear after a meeting ends).\n";
  std::vector<std::vector<std::string>> rows = {
      {"REPORT", "MEETING START", "MEETING END", "PARTICIPANTS"}};
  for (const v1::MeetingAttendanceReport& report : response.reports()) {
    rows.push_back(
        {report.id(),
         TimeText(report.meeting_start_date_time(), report.has_meeting_start_date_time(), zone),
         TimeText(report.meeting_end_date_time(), report.has_meeting_end_date_time(), zone),
         Count(report.has_total_participant_count(), report.total_participant_count())});
  }
  return Table(rows);
}

std::string MeetingText(const v1::ResolveOnlineMeetingResponse& response, absl::TimeZone zone) {
  const v1::OnlineMeeting& meeting = response.meeting();
  std::vector<std::vector<std::string>> rows = {
      {"Meeting ID", meeting.id()},
      {"Subject", meeting.has_subject() ? meeting.subject() : "-"},
      {"Start", TimeText(meeting.start_date_time(), meeting.has_start_date_time(), zone)},
      {"End", TimeText(meeting.end_date_time(), meeting.has_end_date_time(), zone)},
      {"Organizer", meeting.has_organizer_id() ? meeting.organizer_id() : "-"},
      {"Join meeting ID", meeting.has_join_meeting_id() ? meeting.join_meeting_id() : "-"},
      {"Chat thread", meeting.has_chat_thread_id() ? meeting.chat_thread_id() : "-"},
  };
  return Table(rows);
}

std::string ErrorText(const grpc::Status& status) {
  std::string out = absl::StrCat("rollcallctl: ", CodeName(status.error_code()), ": ",
                                 status.error_message(), "\n");
  google::rpc::Status details;
  if (status.error_details().empty() || !details.ParseFromString(status.error_details())) {
    return out;
  }
  for (const auto& any : details.details()) {
    google::rpc::ErrorInfo info;
    google::rpc::RetryInfo retry;
    google::rpc::BadRequest bad;
    if (any.UnpackTo(&info)) {
      absl::StrAppend(&out, "  reason: ", info.reason(), " (", info.domain(), ")\n");
      const std::map<std::string, std::string> sorted(info.metadata().begin(),
                                                      info.metadata().end());
      for (const auto& [key, value] : sorted) absl::StrAppend(&out, "  ", key, ": ", value, "\n");
    } else if (any.UnpackTo(&retry)) {
      absl::StrAppend(&out, "  retry after: ", TimeUtil::ToString(retry.retry_delay()), "\n");
    } else if (any.UnpackTo(&bad)) {
      for (const auto& violation : bad.field_violations()) {
        absl::StrAppend(&out, "  field ", violation.field(), ": ", violation.description(), "\n");
      }
    }
  }
  return out;
}

std::string ErrorJson(const grpc::Status& status) {
  namespace pb = google::protobuf;
  pb::Struct out;
  pb::Struct& error = *(*out.mutable_fields())["error"].mutable_struct_value();
  (*error.mutable_fields())["code"].set_string_value(CodeName(status.error_code()));
  (*error.mutable_fields())["message"].set_string_value(status.error_message());
  pb::Value& details = (*error.mutable_fields())["details"];
  details.mutable_list_value();
  // The details in their proto3 JSON form (with "@type"), read back as a Struct.
  google::rpc::Status rpc_status;
  std::string json;
  pb::Struct parsed;
  if (!status.error_details().empty() && rpc_status.ParseFromString(status.error_details()) &&
      pb::util::MessageToJsonString(rpc_status, &json).ok() &&
      pb::util::JsonStringToMessage(json, &parsed).ok() && parsed.fields().count("details")) {
    details = parsed.fields().at("details");
  }
  std::string text;
  (void)pb::util::MessageToJsonString(out, &text);
  return text + "\n";
}

}  // namespace rollcall::ctl
