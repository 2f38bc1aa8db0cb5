#pragma once
// Typed calls to Microsoft Graph. Builds URLs with every ID percent-encoded as exactly one path
// segment, authenticates with a TokenCredential, maps JSON bodies to rollcall.v1 messages and
// Graph error bodies to canonical status codes (keeping Graph's code and request-id).

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "graph_client/http_transport.h"
#include "graph_client/token_credential.h"
#include "rollcall/v1/attendance.pb.h"

namespace rollcall::graph {

struct ReportRef {
  std::string user_id;
  std::string meeting_id;
  std::string report_id;
};

class GraphClient {
 public:
  virtual ~GraphClient() = default;
  // GET {base}/users/{user}/onlineMeetings/{meeting}/attendanceReports/{report}
  //     [?$expand=attendanceRecords]
  // following any attendanceRecords@odata.nextLink until the records are complete.
  // Thread-safe. Errors (with ErrorDetails):
  //   NOT_FOUND (REPORT_NOT_FOUND), INVALID_ARGUMENT (GRAPH_BAD_REQUEST),
  //   PERMISSION_DENIED (GRAPH_FORBIDDEN), RESOURCE_EXHAUSTED (GRAPH_THROTTLED, RetryInfo),
  //   UNAVAILABLE (GRAPH_UNAVAILABLE: 5xx, network), INTERNAL (GRAPH_BAD_RESPONSE: a body that
  //   is not the JSON Graph documents), FAILED_PRECONDITION (GRAPH_UNAUTHORIZED, or the
  //   credential's errors), DEADLINE_EXCEEDED.
  virtual absl::StatusOr<rollcall::v1::MeetingAttendanceReport> GetAttendanceReport(
      const ReportRef& ref, bool with_records, absl::Time deadline) = 0;
};

struct GraphClientOptions {
  // Graph's root including the version, no trailing slash.
  std::string base_url = "https://graph.microsoft.com/v1.0";
};

std::unique_ptr<GraphClient> MakeGraphClient(const GraphClientOptions& options,
                                             std::shared_ptr<HttpTransport> transport,
                                             std::shared_ptr<TokenCredential> credential);

// One path segment: every byte but RFC 3986 unreserved characters (A-Z a-z 0-9 - . _ ~) is
// percent-encoded, and so are the dots of a segment that is exactly "." or "..", so '/', '?',
// '#', '%', ' ' and dot-segments can never change the path.
std::string EncodePathSegment(std::string_view segment);

}  // namespace rollcall::graph
