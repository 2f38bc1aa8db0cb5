#pragma once
// Errors in Rollcall are absl::Status values. What a caller needs to act on an error travels
// with the status as payloads holding serialized google.rpc.ErrorInfo and google.rpc.RetryInfo,
// keyed by their type URLs, so the gRPC edge turns them into google.rpc.Status details as they
// are, with no second vocabulary.

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace rollcall::graph {

inline constexpr std::string_view kErrorDomain = "rollcall.v1";
inline constexpr std::string_view kErrorInfoTypeUrl = "type.googleapis.com/google.rpc.ErrorInfo";
inline constexpr std::string_view kRetryInfoTypeUrl = "type.googleapis.com/google.rpc.RetryInfo";

// Reasons (google.rpc.ErrorInfo.reason) that Rollcall uses.
namespace reason {
inline constexpr std::string_view kReportNotFound = "REPORT_NOT_FOUND";
inline constexpr std::string_view kInvalidId = "INVALID_ID";
inline constexpr std::string_view kGraphBadRequest = "GRAPH_BAD_REQUEST";
inline constexpr std::string_view kGraphUnauthorized = "GRAPH_UNAUTHORIZED";
inline constexpr std::string_view kGraphForbidden = "GRAPH_FORBIDDEN";
inline constexpr std::string_view kGraphThrottled = "GRAPH_THROTTLED";
inline constexpr std::string_view kGraphUnavailable = "GRAPH_UNAVAILABLE";
inline constexpr std::string_view kGraphError = "GRAPH_ERROR";
inline constexpr std::string_view kGraphBadResponse = "GRAPH_BAD_RESPONSE";
inline constexpr std::string_view kCredentialsRejected = "CREDENTIALS_REJECTED";
inline constexpr std::string_view kCredentialsMissing = "CREDENTIALS_MISSING";
inline constexpr std::string_view kTokenEndpointError = "TOKEN_ENDPOINT_ERROR";
}  // namespace reason

// Metadata keys (google.rpc.ErrorInfo.metadata) that Rollcall fills where it knows them.
namespace meta {
inline constexpr std::string_view kGraphCode = "graph_code";            // error.code
inline constexpr std::string_view kGraphRequestId = "graph_request_id";  // innerError.request-id
inline constexpr std::string_view kGraphClientRequestId = "graph_client_request_id";
inline constexpr std::string_view kGraphDate = "graph_date";
inline constexpr std::string_view kHttpStatus = "http_status";
inline constexpr std::string_view kAadstsCode = "aadsts_code";  // e.g. AADSTS7000215
inline constexpr std::string_view kOauthError = "oauth_error";  // e.g. invalid_client
inline constexpr std::string_view kField = "field";             // request field at fault
}  // namespace meta

struct ErrorDetails {
  std::string reason;
  std::map<std::string, std::string> metadata;
  // Present when the upstream said how long to wait (Retry-After).
  std::optional<absl::Duration> retry_after;
};

// A status with code and message, carrying `details` as ErrorInfo (domain kErrorDomain) and,
// when retry_after is set, RetryInfo payloads.
absl::Status MakeError(absl::StatusCode code, std::string_view message,
                       const ErrorDetails& details);

// The details a status carries; reason empty when it carries none.
ErrorDetails GetErrorDetails(const absl::Status& status);

}  // namespace rollcall::graph
