#pragma once
// The W3C trace context a caller sent with its RPC (the `traceparent` header, "Trace Context",
// W3C Recommendation), carried to the Graph requests made on its behalf and into the log lines
// they write. Rollcall makes no spans of its own: like a proxy that does not trace, it passes the
// caller's traceparent on unchanged, so Graph's side of a trace joins the caller's.
//
// The context is the calling thread's: TraceContextScope sets it for a block (a load runs on one
// upstream thread from start to end), and every Graph request that thread makes in the block
// carries it. The usual way tracing libraries propagate context in process.

#include <string>

#include "absl/strings/string_view.h"

namespace rollcall::graph {

// Whether `value` is a traceparent of version 00 as the W3C spec defines it:
// "00-<32 hex trace-id, not all zero>-<16 hex parent-id, not all zero>-<2 hex flags>",
// lower-case hex. Anything else is ignored (never forwarded, never logged).
bool IsValidTraceparent(absl::string_view value);

// The trace-id of a valid traceparent (its 32 hex digits), or "".
absl::string_view TraceIdOf(absl::string_view traceparent);

// This thread's traceparent ("" when none).
absl::string_view CurrentTraceparent();

// Sets this thread's traceparent for the scope's life (an invalid or empty one sets none), and
// restores the previous one after.
class TraceContextScope {
 public:
  explicit TraceContextScope(absl::string_view traceparent);
  ~TraceContextScope();
  TraceContextScope(const TraceContextScope&) = delete;
  TraceContextScope& operator=(const TraceContextScope&) = delete;

 private:
  std::string previous_;
};

}  // namespace rollcall::graph
