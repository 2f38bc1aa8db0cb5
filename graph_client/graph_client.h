#pragma once
// Typed calls to Microsoft Graph. Builds URLs with every ID percent-encoded as exactly one path
// segment, follows @odata.nextLink pages, maps JSON bodies to rollcall.v1 messages and Graph
// error bodies to canonical status codes (keeping Graph's code and request-id). Retries,
// authentication and metrics are the Graph stub's (graph_stub_factory.h), below the client.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "graph_client/graph_call_observer.h"
#include "graph_client/http_transport.h"
#include "graph_client/retry_policy.h"
#include "graph_client/token_credential.h"
#include "rollcall/v1/attendance.pb.h"

namespace rollcall::graph {

// What attendance reports belong to.
enum class ReportSource {
  // /users/{user_id}/onlineMeetings/{meeting_id}
  kOnlineMeeting,
  // /solutions/virtualEvents/webinars/{event_id}/sessions/{session_id}
  kWebinar,
  // /solutions/virtualEvents/townhalls/{event_id}/sessions/{session_id}
  kTownHall,
  // /me/onlineMeetings/{meeting_id}: the signed-in user's meeting (delegated mode only: a
  // GraphClient whose credential holds a user's token); user_id is not used.
  kMe,
};

// A meeting, or a webinar or town hall session: whose reports to list. For kWebinar and
// kTownHall, user_id holds the event's ID and meeting_id the session's.
struct MeetingRef {
  std::string user_id;
  std::string meeting_id;
  ReportSource source = ReportSource::kOnlineMeeting;
};

// One report of a MeetingRef; user_id and meeting_id as there.
struct ReportRef {
  std::string user_id;
  std::string meeting_id;
  std::string report_id;
  ReportSource source = ReportSource::kOnlineMeeting;
};

struct GraphClientOptions {
  // Graph's root including the version ("/v1.0" or "/beta"), no trailing slash.
  std::string base_url = "https://graph.microsoft.com/v1.0";
  // Bound on the sum of the bodies of one report's pages (the report's and every
  // attendanceRecords page's): a report beyond it fails FAILED_PRECONDITION
  // (REPORT_TOO_LARGE) instead of growing without end. Each single body is bounded by the
  // transport's own cap.
  std::size_t max_report_bytes = std::size_t{256} << 20;
  // Bounds on what one load builds while it reads Graph's bodies (json_mapping.h's
  // LoadBudget): the records of one report across its pages, counted as they are parsed, and
  // the memory of one load (a page's parsed document plus the message built so far, which
  // the server builds on an arena). Past either: FAILED_PRECONDITION (REPORT_TOO_LARGE), the
  // parse stopped there.
  int64_t max_report_records = 100'000;
  std::size_t max_report_memory = std::size_t{256} << 20;
  // How 429, 503, 504 and connections that failed before any response byte are retried: a
  // Retry-After from Graph sets the wait, otherwise exponential backoff with jitter. No wait or
  // attempt ever runs past the caller's deadline. See retry_policy.h.
  RetryOptions retry;
  // Told of every HTTP exchange with Graph (endpoint, status, latency, request IDs); may be
  // null. See graph_call_observer.h.
  std::shared_ptr<GraphCallObserver> observer;
};

// What a GraphClient has done since it was made; read by the service's metrics.
struct GraphClientStats {
  uint64_t http_requests = 0;      // HTTP exchanges attempted with Graph, retries included
  uint64_t retries = 0;            // attempts after the first
  uint64_t throttled = 0;          // 429 responses
  uint64_t server_errors = 0;      // 5xx responses
  uint64_t transport_errors = 0;   // connect, TLS, reset, timeout
  uint64_t bad_responses = 0;      // bodies that were not what Graph documents
  uint64_t token_refreshes = 0;    // tokens dropped after a 401 (each fetched again)
};

class GraphClient {
 public:
  virtual ~GraphClient() = default;
  // GET {base}/users/{user}/onlineMeetings/{meeting}/attendanceReports/{report}
  //     [?$expand=attendanceRecords]
  // (or under /solutions/virtualEvents/{webinars|townhalls}/{event}/sessions/{session} for a
  // virtual event session), following any attendanceRecords@odata.nextLink until the records
  // are complete, in Graph's order; the bodies of all the pages together are bounded by
  // options.max_report_bytes, their records by max_report_records and what reading them holds by
  // max_report_memory (beyond any: FAILED_PRECONDITION REPORT_TOO_LARGE).
  //
  // Each GET (the report's and every page's) is retried on its own under options.retry, on
  // 429, 503, 504 and transport failures before any response byte; its retries carry the same
  // client-request-id and a "Retry-Attempt: n" header. Every request, wait and token fetch is
  // bounded by `deadline`; when the next attempt cannot fit, the call ends at once with the last
  // error Graph (or the network) gave, not DEADLINE_EXCEEDED. A 401 drops the token, fetches a
  // new one and repeats the request once; once Graph refuses such a new token too, the
  // credential backs off (caching_token_credential.h): 401s fetch no token for a while and
  // fail at once, their message saying until when.
  //
  // Thread-safe. Errors (with ErrorDetails):
  //   INVALID_ARGUMENT (INVALID_ID, metadata "field" naming the request field: an ID is empty;
  //   no Graph call is made), NOT_FOUND (REPORT_NOT_FOUND), INVALID_ARGUMENT (GRAPH_BAD_REQUEST),
  //   PERMISSION_DENIED (GRAPH_FORBIDDEN), RESOURCE_EXHAUSTED (GRAPH_THROTTLED, with RetryInfo
  //   holding Graph's Retry-After when it sent one), UNAVAILABLE (GRAPH_UNAVAILABLE: 5xx,
  //   network, a body cut short), INTERNAL (GRAPH_BAD_RESPONSE: a body that is not the JSON
  //   Graph documents, an HTML page, too large or too deeply nested; never retried),
  //   FAILED_PRECONDITION (GRAPH_UNAUTHORIZED after the second 401 or a 401 during the
  //   back-off, its message saying what to check and when a token is fetched next; or the
  //   credential's errors; REPORT_TOO_LARGE past max_report_bytes, max_report_records or
  //   max_report_memory, never retried), DEADLINE_EXCEEDED (an attempt ran out of time). A
  //   403's message says what to grant for the report's source: for a webinar or town hall,
  //   the artifact permission and the organizer rule Graph documents for
  //   /solutions/virtualEvents (no access policy).
  //
  // Fills *report (cleared first, and cleared again on an error). A report allocated on a
  // protobuf Arena gets its records, intervals and strings from the arena: the server builds
  // each report in an arena it drops once the report is serialized.
  virtual absl::Status GetAttendanceReport(const ReportRef& ref, bool with_records,
                                           absl::Time deadline,
                                           rollcall::v1::MeetingAttendanceReport* report) = 0;

  // The same, returning the report.
  absl::StatusOr<rollcall::v1::MeetingAttendanceReport> GetAttendanceReport(
      const ReportRef& ref, bool with_records, absl::Time deadline) {
    rollcall::v1::MeetingAttendanceReport report;
    absl::Status status = GetAttendanceReport(ref, with_records, deadline, &report);
    if (!status.ok()) return status;
    return report;
  }

  // GET {base}/users/{user}/onlineMeetings/{meeting}/attendanceReports (or the virtual event
  // session's), following @odata.nextLink pages (within the base URL's origin, at most 1,000):
  // the reports as Graph lists them (newest first, at most 50), without records, and with
  // what Graph sends that the proto does not name in additional_properties. Fills out->reports
  // (cleared first; cleared again on an error); touches no other field. Retries, deadline and
  // errors as GetAttendanceReport, but a 404 is NOT_FOUND with reason MEETING_NOT_FOUND, the
  // messages speak of the meeting or session, and max_report_bytes does not apply (each body is
  // bounded by the transport's cap; max_report_memory does, when *out is on an arena).
  virtual absl::Status ListAttendanceReports(const MeetingRef& ref, absl::Time deadline,
                                             rollcall::v1::ListAttendanceReportsResponse* out) = 0;

  // GET {base}/users/{user}/onlineMeetings?$filter=JoinWebUrl eq '{join_web_url}', the URL
  // percent-encoded inside the quotes (its own quotes doubled, as OData escapes them, then
  // every byte but the unreserved ones escaped, so "%3a" in a Teams link goes as "%253a": Graph
  // decodes the query once and compares the link as it stores it): the one meeting Graph
  // returns, following @odata.nextLink pages if Graph sends any. Fills *meeting (cleared
  // first; cleared again on an error). Errors as GetAttendanceReport, but: no meeting in
  // Graph's answer, or a 404, is NOT_FOUND MEETING_NOT_FOUND (the message names the user,
  // never the link: a join link lets whoever holds it into the meeting); a 403 is
  // PERMISSION_DENIED GRAPH_FORBIDDEN whose message names the OnlineMeetings.Read.All
  // application permission this call needs. Graph documents exactly one meeting per join
  // link: an answer with more than one, or one without an id, is INTERNAL GRAPH_BAD_RESPONSE
  // rather than a guess (the caller would read another meeting's attendance with a wrong ID).
  virtual absl::Status FindOnlineMeeting(absl::string_view user_id,
                                         absl::string_view join_web_url, absl::Time deadline,
                                         rollcall::v1::OnlineMeeting* meeting) = 0;

  // Counters since construction. Thread-safe.
  virtual GraphClientStats Stats() const { return {}; }
};

// `clock` times the waits between attempts and is what `deadline`s are compared with: it must
// be the clock the caller's deadlines come from. Never null; outlives the client.
std::unique_ptr<GraphClient> MakeGraphClient(const GraphClientOptions& options,
                                             std::shared_ptr<HttpTransport> transport,
                                             std::shared_ptr<TokenCredential> credential,
                                             const common::Clock* clock = common::SystemClock());

// One path segment: every byte but RFC 3986 unreserved characters (A-Z a-z 0-9 - . _ ~) is
// percent-encoded, and so are the dots of a segment that is exactly "." or "..", so '/', '?',
// '#', '%', ' ' and dot-segments can never change the path.
std::string EncodePathSegment(absl::string_view segment);

}  // namespace rollcall::graph
