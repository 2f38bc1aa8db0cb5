#pragma once
// Graph JSON -> rollcall.v1 messages (the report mapping), pure functions over the JSON reader
// (json_reader.h). Tolerant of what Graph really sends: nulls (left unset), unknown properties
// (kept in additional_properties on reports, records and identities, OData annotations left
// out on the first two; ignored elsewhere), date-times with 0 to 9 fractional
// digits and a Z or +hh:mm offset (date_time.h). Strict about what would make a wrong answer:
// a wrong JSON type for a known property, a malformed date-time or a body that is not an object
// is an error, never a partial message. Thread-safe.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "rollcall/v1/attendance.pb.h"

namespace rollcall::graph {

// What one load (a report and its records pages, a list, a lookup) may build from Graph's
// bodies, shared by its pages and counted while they are parsed, so a hostile or broken body
// stops before it costs more. Past a bound a parser fails RESOURCE_EXHAUSTED, leaves what it
// was given as it was, and sets `exceeded`.
struct LoadBudget {
  // Attendance records across the pages (elements of attendanceRecords, or of a records
  // page's value), counted as each page is parsed.
  int64_t max_records = std::numeric_limits<int64_t>::max();
  // Bytes of memory: the page being parsed (its copy and 32 bytes for each JSON value, as it
  // is parsed) plus the message being built (its arena's size, looked at as each member and
  // element is added; a message not on an arena is not counted).
  std::size_t max_memory = std::numeric_limits<std::size_t>::max();

  int64_t records = 0;  // counted so far
  enum class Exceeded { kNone, kRecords, kMemory };
  Exceeded exceeded = Exceeded::kNone;
};

// A meetingAttendanceReport body (with or without expanded attendanceRecords). Sets
// *records_next_link (when not null) to "attendanceRecords@odata.nextLink" or "".
// Errors: INVALID_ARGUMENT naming the JSON path at fault.
absl::StatusOr<rollcall::v1::MeetingAttendanceReport> ParseAttendanceReport(
    absl::string_view json, std::string* records_next_link = nullptr);
// The same into *report (cleared first, and left empty on an error). A report allocated on a
// protobuf Arena gets all its records, intervals and strings from that arena: one cheap
// allocation each, and one free for the lot.
// Within *budget when not null.
absl::Status ParseAttendanceReport(absl::string_view json,
                                   rollcall::v1::MeetingAttendanceReport* report,
                                   std::string* records_next_link = nullptr,
                                   LoadBudget* budget = nullptr);

// Pages of collections ({"value": [...], "@odata.nextLink": ...}): each appends the page's
// elements, in order, to what it is given (on its arena when it has one), and sets *next_link
// (when not null) to the page's @odata.nextLink ("" when absent). A bad page leaves what it was
// given as it was. Errors: INVALID_ARGUMENT naming the JSON path ("value[2].role: ..."),
// RESOURCE_EXHAUSTED past *budget (when not null).

// A page of attendanceRecord: appended to report's attendance_records.
absl::Status ParseAttendanceRecordsPage(absl::string_view json,
                                        rollcall::v1::MeetingAttendanceReport* report,
                                        std::string* next_link,
                                        LoadBudget* budget = nullptr);

// A page of meetingAttendanceReport (a list of reports: Graph sends attendanceRecords empty in
// it; whatever it sends is mapped).
absl::Status ParseAttendanceReportsPage(
    absl::string_view json,
    google::protobuf::RepeatedPtrField<rollcall::v1::MeetingAttendanceReport>* reports,
    std::string* next_link, LoadBudget* budget = nullptr);

// A page of onlineMeeting, mapped to the basic fields of rollcall.v1.OnlineMeeting:
// chatInfo.threadId, joinMeetingIdSettings.joinMeetingId and
// participants.organizer.identity.user.id are flattened into their fields (a null on the way
// leaves the field unset); every other property is ignored. An id of null is an error.
absl::Status ParseOnlineMeetingsPage(
    absl::string_view json,
    google::protobuf::RepeatedPtrField<rollcall::v1::OnlineMeeting>* meetings,
    std::string* next_link, LoadBudget* budget = nullptr);

}  // namespace rollcall::graph
