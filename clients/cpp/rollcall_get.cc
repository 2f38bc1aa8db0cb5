// rollcall_get: asks a Rollcall server for one attendance report and prints it, first as a short
// table of attendees, then as JSON whose property names are Graph's own. On an error it prints
// the gRPC code, the message and the google.rpc details (ErrorInfo, RetryInfo, BadRequest) and
// exits 1.
//
//   rollcall_get --target 127.0.0.1:50051 --user U --meeting M --report R
//                [--view full|basic] [--deadline 10s] [--json-only]

#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <iostream>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "rollcall/v1/attendance.grpc.pb.h"

namespace {

using rollcall::v1::GetAttendanceReportRequest;
using rollcall::v1::GetAttendanceReportResponse;

constexpr char kUsage[] =
    "usage: rollcall_get --target HOST:PORT --user USER_ID --meeting MEETING_ID "
    "--report REPORT_ID [--view full|basic] [--deadline 10s] [--json-only]\n";

std::string TimeText(const google::protobuf::Timestamp& ts, bool present) {
  return present ? google::protobuf::util::TimeUtil::ToString(ts) : "-";
}

void PrintTable(const GetAttendanceReportResponse& response) {
  const auto& report = response.report();
  std::printf("report %s: %s participants, meeting %s .. %s\n", report.id().c_str(),
              report.has_total_participant_count()
                  ? std::to_string(report.total_participant_count()).c_str()
                  : "?",
              TimeText(report.meeting_start_date_time(), report.has_meeting_start_date_time()).c_str(),
              TimeText(report.meeting_end_date_time(), report.has_meeting_end_date_time()).c_str());
  std::printf("fetched from Graph at %s; served from cache: %s\n",
              TimeText(response.graph_fetch_time(), response.has_graph_fetch_time()).c_str(),
              response.from_cache() ? "yes" : "no");
  for (const auto& record : report.attendance_records()) {
    std::printf("  %-24s %-32s %-10s %6ss in %d interval(s)\n",
                record.identity().display_name().c_str(), record.email_address().c_str(),
                record.role().c_str(),
                record.has_total_attendance_in_seconds()
                    ? std::to_string(record.total_attendance_in_seconds()).c_str()
                    : "?",
                record.attendance_intervals_size());
    for (const auto& interval : record.attendance_intervals()) {
      std::printf("      %s .. %s (%ds)\n",
                  TimeText(interval.join_date_time(), interval.has_join_date_time()).c_str(),
                  TimeText(interval.leave_date_time(), interval.has_leave_date_time()).c_str(),
                  interval.duration_in_seconds());
    }
  }
}

void PrintError(const grpc::Status& status) {
  std::fprintf(stderr, "error: %d %s\n", static_cast<int>(status.error_code()),
               status.error_message().c_str());
  google::rpc::Status details;
  if (status.error_details().empty() || !details.ParseFromString(status.error_details())) return;
  for (const auto& any : details.details()) {
    google::rpc::ErrorInfo info;
    google::rpc::RetryInfo retry;
    google::rpc::BadRequest bad;
    if (any.UnpackTo(&info)) {
      std::fprintf(stderr, "  reason: %s (%s)\n", info.reason().c_str(), info.domain().c_str());
      std::map<std::string, std::string> sorted(info.metadata().begin(), info.metadata().end());
      for (const auto& [k, v] : sorted) std::fprintf(stderr, "  %s: %s\n", k.c_str(), v.c_str());
    } else if (any.UnpackTo(&retry)) {
      std::fprintf(stderr, "  retry after: %s\n",
                   google::protobuf::util::TimeUtil::ToString(retry.retry_delay()).c_str());
    } else if (any.UnpackTo(&bad)) {
      for (const auto& v : bad.field_violations()) {
        std::fprintf(stderr, "  field %s: %s\n", v.field().c_str(), v.description().c_str());
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> flags = {{"view", "full"}, {"deadline", "30s"}};
  bool json_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (arg == "--json-only") {
      json_only = true;
      continue;
    }
    if (arg.rfind("--", 0) != 0 || i + 1 >= argc) {
      std::fputs(kUsage, stderr);
      return 2;
    }
    flags[arg.substr(2)] = argv[++i];
  }
  for (const char* required : {"target", "user", "meeting", "report"}) {
    if (flags.count(required) == 0) {
      std::fprintf(stderr, "missing --%s\n%s", required, kUsage);
      return 2;
    }
  }
  absl::Duration deadline;
  if (!absl::ParseDuration(flags["deadline"], &deadline)) {
    std::fprintf(stderr, "bad --deadline %s\n", flags["deadline"].c_str());
    return 2;
  }

  GetAttendanceReportRequest request;
  request.set_user_id(flags["user"]);
  request.set_meeting_id(flags["meeting"]);
  request.set_report_id(flags["report"]);
  request.set_view(flags["view"] == "basic" ? rollcall::v1::REPORT_VIEW_BASIC
                                            : rollcall::v1::REPORT_VIEW_FULL);

  auto channel = grpc::CreateChannel(flags["target"], grpc::InsecureChannelCredentials());
  auto stub = rollcall::v1::AttendanceReportService::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  GetAttendanceReportResponse response;
  grpc::Status status = stub->GetAttendanceReport(&context, request, &response);
  if (!status.ok()) {
    PrintError(status);
    return 1;
  }
  if (!json_only) PrintTable(response);
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  (void)google::protobuf::util::MessageToJsonString(response, &json, options);
  std::cout << json;
  return 0;
}
