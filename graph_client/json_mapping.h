#pragma once
// Graph JSON -> rollcall.v1 messages, a pure function over RapidJSON. Tolerant of what Graph
// really sends: nulls (left unset), unknown properties (ignored; on identities kept in
// additional_properties), date-times with 0 to 7 fractional digits and a Z or +hh:mm offset.
// Strict about what would make a wrong answer: a wrong JSON type for a known property, a
// malformed date-time or a body that is not an object is an error, never a partial message.

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
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
// records to `report` and sets *next_link ("" when absent).
absl::Status ParseAttendanceRecordsPage(absl::string_view json,
                                        rollcall::v1::MeetingAttendanceReport* report,
                                        std::string* next_link);

// An Edm.DateTimeOffset such as "2021-03-16T18:59:52.2782182Z".
absl::StatusOr<absl::Time> ParseDateTimeOffset(absl::string_view text);

// Graph's error body {"error": {"code", "message", "innerError"|"innererror": {...}}}.
struct GraphErrorBody {
  std::string code;
  std::string message;
  std::string request_id;
  std::string client_request_id;
  std::string date;  // innerError.date or .Date, as sent
};
// False when `json` is not a Graph error body.
bool ParseGraphErrorBody(absl::string_view json, GraphErrorBody* out);

// The identity platform's token responses.
struct TokenResponse {
  std::string access_token;
  std::string token_type;
  absl::Duration expires_in;  // string or number in the body; 600 s when absent (as MSAL)
  // When the identity platform suggests refreshing (MSAL's `refresh_in`), if it sent one.
  std::optional<absl::Duration> refresh_in;
};
absl::StatusOr<TokenResponse> ParseTokenResponse(absl::string_view json);

struct TokenErrorBody {
  std::string error;              // e.g. invalid_client
  std::string error_description;  // starts with "AADSTSnnnn: ..."
  std::string aadsts_code;        // "AADSTS7000215", from error_codes[0] or the description
  std::string trace_id;
  std::string correlation_id;
};
bool ParseTokenErrorBody(absl::string_view json, TokenErrorBody* out);

}  // namespace rollcall::graph
