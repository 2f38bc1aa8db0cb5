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

// A non-200 answer from Graph as a canonical status with ErrorDetails; RetryInfo holds
// `retry_after` (Graph's own delay, uncapped) when set:
//   400 INVALID_ARGUMENT GRAPH_BAD_REQUEST, 401 FAILED_PRECONDITION GRAPH_UNAUTHORIZED,
//   403 PERMISSION_DENIED GRAPH_FORBIDDEN (with what to fix), 404 NOT_FOUND REPORT_NOT_FOUND,
//   429 RESOURCE_EXHAUSTED GRAPH_THROTTLED, 5xx UNAVAILABLE GRAPH_UNAVAILABLE,
//   anything else UNKNOWN GRAPH_ERROR.
absl::Status GraphHttpError(const HttpResponse& response, absl::string_view client_request_id,
                            std::optional<absl::Duration> retry_after);

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
