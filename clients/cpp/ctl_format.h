#pragma once
// What rollcallctl prints: readable tables of attendance (times in the reader's time zone) and
// errors a person can act on, plus the exit code of each gRPC outcome. Pure functions over the
// generated messages, so that tests/clients can check them without a server.

#include <string>

#include "absl/time/time.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "grpcpp/support/status.h"
#include "rollcall/v1/attendance.pb.h"

namespace rollcall::ctl {

// Exit codes, one per kind of outcome a script may branch on (rollcallctl --help lists them).
enum ExitCode : int {
  kOk = 0,
  kFailed = 1,            // any other error (INTERNAL, UNKNOWN, CANCELLED, ...)
  kUsage = 2,             // a bad command line; nothing was sent
  kNotFound = 3,          // NOT_FOUND: no such user, meeting or report (or not yet)
  kInvalid = 4,           // INVALID_ARGUMENT: an ID or page token the server refused
  kDenied = 5,            // PERMISSION_DENIED, UNAUTHENTICATED
  kNotServable = 6,       // FAILED_PRECONDITION: the service's credentials, a report too large
  kTryLater = 7,          // UNAVAILABLE, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED: retry later
};
int ExitCodeFor(grpc::StatusCode code);

// "1h 02m 05s", "19m 12s", "45s"; "-" for a negative count.
std::string DurationText(int64_t seconds);

// A timestamp in `zone` ("2021-10-05 06:38:23 CEST"), or "-" when `present` is false.
std::string TimeText(const google::protobuf::Timestamp& time, bool present, absl::TimeZone zone);

// One line per record: attendee (display name, else email, else ID), role, first join, last
// leave, total time and the number of intervals, in aligned columns under a header line.
std::string RecordsTable(
    const google::protobuf::RepeatedPtrField<rollcall::v1::AttendanceRecord>& records,
    absl::TimeZone zone);

// The report's summary lines (ID, meeting times, participants, fetch time, cache) and its
// records' table (when it has records).
std::string ReportText(const rollcall::v1::GetAttendanceReportResponse& response,
                       absl::TimeZone zone);

// One line per report of a meeting: ID, meeting start and end, participants.
std::string ReportsTable(const rollcall::v1::ListAttendanceReportsResponse& response,
                         absl::TimeZone zone);

// The meeting a join link names: its ID (what the other verbs take) and basic fields.
std::string MeetingText(const rollcall::v1::ResolveOnlineMeetingResponse& response,
                        absl::TimeZone zone);

// "rollcallctl: NOT_FOUND: <message>" and, from the status details, the reason and its
// metadata, a retry delay and bad fields, one per line.
std::string ErrorText(const grpc::Status& status);

// The error as one JSON object for --json: {"error": {"code": "NOT_FOUND", "message": ...,
// "details": [...]}} with the google.rpc details in their proto3 JSON form.
std::string ErrorJson(const grpc::Status& status);

// The gRPC code's canonical name ("NOT_FOUND").
std::string CodeName(grpc::StatusCode code);

}  // namespace rollcall::ctl
