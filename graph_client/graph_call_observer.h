#pragma once
// What the Graph stub's metering layer reports for each HTTP exchange with Graph or the token
// endpoint, so that the service can keep latency histograms and log one line per call without
// graph_client/ knowing either.

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace rollcall::graph {

struct GraphCallRecord {
  // A fixed, low-cardinality name of what was called ("attendance_report",
  // "attendance_records_page", "token", ...), never a URL with IDs in it.
  absl::string_view endpoint;
  // The HTTP status; 0 when no response arrived (connect, TLS, timeout, body cut short).
  long http_status = 0;
  absl::Duration latency;
  // Graph's request-id response header, and the client-request-id Rollcall sent; may be empty.
  absl::string_view request_id;
  absl::string_view client_request_id;
  // 0 for the first try, n for the n-th retry of the same request.
  int attempt = 0;
};

class GraphCallObserver {
 public:
  virtual ~GraphCallObserver() = default;
  // Called once per exchange, on the calling thread, after it ends. Must be thread-safe, cheap
  // and non-blocking. The views are valid only during the call.
  virtual void OnGraphCall(const GraphCallRecord& record) = 0;
};

}  // namespace rollcall::graph
