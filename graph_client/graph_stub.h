#pragma once
// The Graph stub: one GET to Microsoft Graph as a request in, an HTTP response out. GraphClient
// (and any new typed call) sits above it; below it, each concern is a decorator of its own,
// stacked by MakeGraphStub (graph_stub_factory.h):
//
//   RetryingStub -> AuthenticatingStub -> MeteredStub -> RestStub -> HttpTransport
//
// Contract of every GraphStub:
//   - Get returns the HTTP response for any status Graph answered with (200, 404, 429 ...):
//     mapping statuses and bodies to errors is the caller's job (graph_errors.h).
//   - An error status means no usable response: the network failed (RestStub maps it to
//     GRAPH_UNAVAILABLE, DEADLINE_EXCEEDED or GRAPH_BAD_RESPONSE; see graph_errors.h), or the
//     credential failed (its own errors, as TokenCredential documents).
//   - Nothing runs past request.deadline, an instant of the clock the stack was built with.
//   - Thread-safe: one stub serves concurrent calls; per-call state lives in GraphContext.

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "graph_client/http_transport.h"

namespace rollcall::graph {

struct GraphRequest {
  // An absolute URL under Graph's base URL, IDs already percent-encoded.
  std::string url;
  // A fixed, low-cardinality name of what is called ("attendance_report"), for metrics; it must
  // outlive the call (a string literal).
  absl::string_view endpoint;
  // Sent with every attempt, after what the stack adds (Authorization comes from
  // AuthenticatingStub; Accept, client-request-id and Retry-Attempt from RestStub).
  HttpHeaders headers;
  // Graph's client-request-id, the same on every attempt. Empty: RetryingStub picks a fresh
  // one; a caller that needs it (for error metadata) sets it, e.g. to NewClientRequestId().
  std::string client_request_id;
  // Every attempt, wait and token fetch ends by this instant of the stack's clock.
  absl::Time deadline = absl::InfiniteFuture();
};

// Why a 401 is final beyond Graph's words: Graph refused the token fetched to replace a refused
// one too, and the credential fetches no new token before `until` (TokenCredential::Invalidate,
// kBackingOff). `length` is the back-off window's.
struct TokenBackoff {
  absl::Time until;
  absl::Duration length;
};

// What the layers of one call share on the way down. One per call of the top of the stack;
// never shared between threads.
struct GraphContext {
  // HTTP exchanges the call has made so far: the Retry-Attempt number of the next one.
  int sends = 0;
  // Whether AuthenticatingStub has already fetched a new token after a 401 in this call: it
  // does so once per call, so a second 401 is final however the retries fell.
  bool token_renewed = false;
  // Set by AuthenticatingStub when the answer it returns is a 401 on which the credential backs
  // off: what the caller's GRAPH_UNAUTHORIZED says (GraphHttpError). Cleared at each attempt.
  std::optional<TokenBackoff> token_backoff;
};

class GraphStub {
 public:
  virtual ~GraphStub() = default;
  // See the file comment. `context` is the call's own; the caller starts it at zero.
  virtual absl::StatusOr<HttpResponse> Get(GraphContext& context, const GraphRequest& request) = 0;

  // The same, with a context of its own.
  absl::StatusOr<HttpResponse> Get(const GraphRequest& request) {
    GraphContext context;
    return Get(context, request);
  }
};

// A random (version 4) UUID for Graph's client-request-id header. Thread-safe.
std::string NewClientRequestId();

}  // namespace rollcall::graph
