#pragma once
// Graph JSON -> rollcall.v1 messages (the report mapping), pure functions over the JSON reader
// (json_reader.h). Tolerant of what Graph really sends: nulls (left unset), unknown properties
// (ignored; on identities kept in additional_properties), date-times with 0 to 9 fractional
// digits and a Z or +hh:mm offset (date_time.h). Strict about what would make a wrong answer:
// a wrong JSON type for a known property, a malformed date-time or a body that is not an object
// is an error, never a partial message. Thread-safe.

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "rollcall/v1/attendance.pb.h"

namespace rollcall::graph {

// A meetingAttendanceReport body (with or without expanded attendanceRecords). Sets
// *records_next_link (when not null) to "attendanceRecords@odata.nextLink" or "".
// Errors: INVALID_ARGUMENT naming the JSON path at fault.
absl::StatusOr<rollcall::v1::MeetingAttendanceReport> ParseAttendanceReport(
    absl::string_view json, std::string* records_next_link = nullptr);
// The same into *report (cleared first, and left empty on an error). A report allocated on a
// protobuf Arena gets all its records, intervals and strings from that arena: one cheap
// allocation each, and one free for the lot.
absl::Status ParseAttendanceReport(absl::string_view json,
                                   rollcall::v1::MeetingAttendanceReport* report,
                                   std::string* records_next_link = nullptr);

// A collection of attendanceRecord ({"value": [...], "@odata.nextLink": ...}); appends the
// records to `report` and sets *next_link ("" when absent). A bad page leaves `report` as it
// was.
absl::Status ParseAttendanceRecordsPage(absl::string_view json,
                                        rollcall::v1::MeetingAttendanceReport* report,
                                        std::string* next_link);

}  // namespace rollcall::graph
