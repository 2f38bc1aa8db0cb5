#pragma once
// Rollcall's error vocabulary, shared by graph_client/ and service/. Errors are absl::Status
// values. What a caller needs to act on an error travels with the status as payloads holding
// serialized google.rpc.ErrorInfo and google.rpc.RetryInfo, keyed by their type URLs, so the
// gRPC edge turns them into google.rpc.Status details as they are, with no second vocabulary.
// Every reason is defined here, once.

#include <map>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/rpc/status.pb.h"

namespace rollcall::common {

inline constexpr absl::string_view kErrorDomain = "rollcall.v1";
inline constexpr absl::string_view kErrorInfoTypeUrl = "type.googleapis.com/google.rpc.ErrorInfo";
inline constexpr absl::string_view kRetryInfoTypeUrl = "type.googleapis.com/google.rpc.RetryInfo";
inline constexpr absl::string_view kBadRequestTypeUrl =
    "type.googleapis.com/google.rpc.BadRequest";

// Reasons (google.rpc.ErrorInfo.reason) that Rollcall uses.
namespace reason {
// Graph's and the credential's answers (graph_client/).
inline constexpr absl::string_view kReportNotFound = "REPORT_NOT_FOUND";
// NOT_FOUND for a list of reports or a join link: no such user, meeting or session.
inline constexpr absl::string_view kMeetingNotFound = "MEETING_NOT_FOUND";
// FAILED_PRECONDITION: the report's pages together are larger than max_report_bytes.
inline constexpr absl::string_view kReportTooLarge = "REPORT_TOO_LARGE";
inline constexpr absl::string_view kInvalidId = "INVALID_ID";
inline constexpr absl::string_view kGraphBadRequest = "GRAPH_BAD_REQUEST";
inline constexpr absl::string_view kGraphUnauthorized = "GRAPH_UNAUTHORIZED";
inline constexpr absl::string_view kGraphForbidden = "GRAPH_FORBIDDEN";
inline constexpr absl::string_view kGraphThrottled = "GRAPH_THROTTLED";
inline constexpr absl::string_view kGraphUnavailable = "GRAPH_UNAVAILABLE";
inline constexpr absl::string_view kGraphError = "GRAPH_ERROR";
inline constexpr absl::string_view kGraphBadResponse = "GRAPH_BAD_RESPONSE";
inline constexpr absl::string_view kCredentialsRejected = "CREDENTIALS_REJECTED";
inline constexpr absl::string_view kCredentialsMissing = "CREDENTIALS_MISSING";
inline constexpr absl::string_view kTokenEndpointError = "TOKEN_ENDPOINT_ERROR";
// Delegated mode: the caller's user token was refused by Entra ID (another audience, tenant, a
// bad signature) or has expired; the user or an admin has not consented; delegated mode is off.
inline constexpr absl::string_view kUserTokenRejected = "USER_TOKEN_REJECTED";
inline constexpr absl::string_view kUserTokenExpired = "USER_TOKEN_EXPIRED";
inline constexpr absl::string_view kConsentRequired = "CONSENT_REQUIRED";
inline constexpr absl::string_view kDelegatedModeOff = "DELEGATED_MODE_OFF";
// The request or this server (service/), never Graph.
// INVALID_ARGUMENT: the request bytes are not a GetAttendanceReportRequest at all.
inline constexpr absl::string_view kMalformedRequest = "MALFORMED_REQUEST";
// RESOURCE_EXHAUSTED, with RetryInfo: every upstream thread is busy and upstream_queue misses
// already wait for one. Retry after the delay, with backoff.
inline constexpr absl::string_view kUpstreamOverloaded = "UPSTREAM_OVERLOADED";
// RESOURCE_EXHAUSTED, with RetryInfo: whole replies that clients have not read yet already hold
// max_reply_memory; this one would add to them. Retry after the delay (or page the records).
inline constexpr absl::string_view kRepliesBacklogged = "REPLIES_BACKLOGGED";
// INVALID_ARGUMENT: a page_token this deployment did not mint for this request (altered, made
// up, or minted for another report or with another signing key).
inline constexpr absl::string_view kInvalidPageToken = "INVALID_PAGE_TOKEN";
// INVALID_ARGUMENT: ListAttendanceRecords' page_size is negative or above 1,000.
inline constexpr absl::string_view kInvalidPageSize = "INVALID_PAGE_SIZE";
// UNAVAILABLE: the server is shutting down; another replica will answer.
inline constexpr absl::string_view kShuttingDown = "SHUTTING_DOWN";
// PERMISSION_DENIED: the caller policy (caller_policy_file) does not let this caller read this
// user's meetings (or webinar and town hall sessions), or does not name the caller at all;
// metadata "caller" (its identity) and "user_id". Decided before any cache or Graph access.
inline constexpr absl::string_view kCallerNotAllowed = "CALLER_NOT_ALLOWED";
}  // namespace reason

// Metadata keys (google.rpc.ErrorInfo.metadata) that Rollcall fills where it knows them.
namespace meta {
inline constexpr absl::string_view kGraphCode = "graph_code";            // error.code
inline constexpr absl::string_view kGraphRequestId = "graph_request_id";  // innerError.request-id
inline constexpr absl::string_view kGraphClientRequestId = "graph_client_request_id";
inline constexpr absl::string_view kGraphDate = "graph_date";
inline constexpr absl::string_view kHttpStatus = "http_status";
inline constexpr absl::string_view kAadstsCode = "aadsts_code";  // e.g. AADSTS7000215
inline constexpr absl::string_view kOauthError = "oauth_error";  // e.g. invalid_client
inline constexpr absl::string_view kField = "field";             // request field at fault
}  // namespace meta

struct ErrorDetails {
  std::string reason;
  std::map<std::string, std::string> metadata;
  // Present when the upstream said how long to wait (Retry-After).
  std::optional<absl::Duration> retry_after;
};

// A status with code and message, carrying `details` as ErrorInfo (domain kErrorDomain) and,
// when retry_after is set, RetryInfo payloads.
absl::Status MakeError(absl::StatusCode code, absl::string_view message,
                       const ErrorDetails& details);

// The details a status carries; reason empty when it carries none.
ErrorDetails GetErrorDetails(const absl::Status& status);

// The google.rpc.Status of `status`: same code and message; details hold one
// google.protobuf.Any per payload keyed by a "type.googleapis.com/" URL (ErrorInfo, RetryInfo;
// the payload bytes as they are), plus a google.rpc.BadRequest with one field violation (field
// from ErrorInfo metadata "field", description = the message) when the reason is INVALID_ID.
// OK gives code 0 and nothing else.
google::rpc::Status ToRpcStatus(const absl::Status& status);

// The absl::Status that ToRpcStatus came from: code, message and every detail but the derived
// BadRequest back as payloads. A code outside gRPC's 0..16 becomes UNKNOWN; OK drops the rest.
absl::Status FromRpcStatus(const google::rpc::Status& proto);

}  // namespace rollcall::common
