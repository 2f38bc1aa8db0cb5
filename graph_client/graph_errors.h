#pragma once
// What Graph's answers mean as Rollcall errors: Graph's error body, the canonical status of a
// non-200 response, and the status of a failed exchange. Used by GraphClient (and by any other
// typed call over the GraphStub) after the stub stack returns, and by RestStub for transport
// failures. Pure functions, thread-safe. See README.md's table for the codes and reasons.

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/error_details.h"
#include "graph_client/graph_stub.h"
#include "graph_client/http_transport.h"

namespace rollcall::graph {

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

// ErrorInfo details about `response` with `reason`: http_status, and from Graph's error body
// when it sent one (else from its headers) graph_code, graph_request_id, graph_date; and
// graph_client_request_id (Graph's echo, else `client_request_id` as sent).
common::ErrorDetails GraphDetails(const HttpResponse& response,
                                  absl::string_view client_request_id, absl::string_view reason,
                                  const GraphErrorBody& body = {});

// What one kind of Graph call reads, in the words its 403 and 404 use: each typed call passes
// its own, because what was not found and which permission is missing differ from call to call.
// Views of text that outlives the GraphHttpError call (literals, or a caller's local).
struct GraphCallWording {
  // What a 403 refused, after "Graph denied access to ": "the attendance report".
  absl::string_view subject;
  // A 404's reason (common::reason) and what Graph did not find, after "Graph found ":
  // "no such user, meeting or attendance report".
  absl::string_view not_found_reason;
  absl::string_view not_found;
  // What a 403 asks the operator to check: the permission, policy or role to grant.
  absl::string_view forbidden_hint;
};

// A 403 on an online meeting's attendance reports: the artifact permission, the access policy
// and the organizer role.
inline constexpr absl::string_view kMeetingArtifactsForbiddenHint =
    "Rollcall's app needs the OnlineMeetingArtifact.Read.All application permission with admin "
    "consent, and a Teams application access policy (New-CsApplicationAccessPolicy, "
    "Grant-CsApplicationAccessPolicy) that covers the user; the user must be the meeting's "
    "organizer (or a co-organizer). Policy changes can take 30 minutes to apply.";

// GET .../onlineMeetings/{meeting}/attendanceReports/{report}: the words GraphHttpError uses
// when the caller names none.
inline constexpr GraphCallWording kAttendanceReportWording = {
    "the attendance report", common::reason::kReportNotFound,
    "no such user, meeting or attendance report", kMeetingArtifactsForbiddenHint};

// A non-200 answer from Graph as a canonical status with ErrorDetails; RetryInfo holds
// `retry_after` (Graph's own delay, uncapped) when set:
//   400 INVALID_ARGUMENT GRAPH_BAD_REQUEST,
//   401 FAILED_PRECONDITION GRAPH_UNAUTHORIZED (with what to check: audience, tenant,
//       permission; with `token_backoff`, GraphContext's, also that Graph refused a freshly
//       fetched token too and that no token is fetched before token_backoff->until),
//   403 PERMISSION_DENIED GRAPH_FORBIDDEN (with `wording`'s hint of what to fix),
//   404 NOT_FOUND with `wording`'s reason (REPORT_NOT_FOUND for a report),
//   429 RESOURCE_EXHAUSTED GRAPH_THROTTLED, 5xx UNAVAILABLE GRAPH_UNAVAILABLE,
//   anything else UNKNOWN GRAPH_ERROR.
absl::Status GraphHttpError(const HttpResponse& response, absl::string_view client_request_id,
                            std::optional<absl::Duration> retry_after,
                            const GraphCallWording& wording = kAttendanceReportWording,
                            const std::optional<TokenBackoff>& token_backoff = std::nullopt);

// A failed HttpTransport::Send as a Rollcall error: a body over the size cap is INTERNAL
// GRAPH_BAD_RESPONSE; a body cut short is UNAVAILABLE GRAPH_UNAVAILABLE; the deadline passing
// stays DEADLINE_EXCEEDED; anything else is UNAVAILABLE GRAPH_UNAVAILABLE ("could not reach
// Graph"). The TransportFailure mark (http_transport.h) is kept, so a retry layer can still
// tell a failure before any response byte; ForCaller removes it.
absl::Status GraphTransportError(const absl::Status& transport_status);

// `status` without graph_client's private marks, as it leaves graph_client/.
absl::Status ForCaller(absl::Status status);

// Whether a 200's Content-Type is JSON (application/json or +json); a missing one is given
// the benefit of the doubt.
bool IsJsonContentType(const HttpResponse& response);

}  // namespace rollcall::graph
