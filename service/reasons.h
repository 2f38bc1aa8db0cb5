#pragma once
// Reasons (google.rpc.ErrorInfo.reason, domain "rollcall.v1") that only the service gives:
// they describe the request or this server, never Graph. Graph's and the credential's reasons
// are graph_client/error_details.h's `graph::reason`; each reason is defined in one place.

#include "absl/strings/string_view.h"

namespace rollcall::service::reason {

// INVALID_ARGUMENT: the request bytes are not a GetAttendanceReportRequest at all.
inline constexpr absl::string_view kMalformedRequest = "MALFORMED_REQUEST";
// RESOURCE_EXHAUSTED, with RetryInfo: every upstream thread is busy and upstream_queue misses
// already wait for one. Retry after the delay, with backoff.
inline constexpr absl::string_view kUpstreamOverloaded = "UPSTREAM_OVERLOADED";
// UNAVAILABLE: the server is shutting down; another replica will answer.
inline constexpr absl::string_view kShuttingDown = "SHUTTING_DOWN";

}  // namespace rollcall::service::reason
