#pragma once
// Parsing of the HTTP Retry-After header (RFC 9110 section 10.2.3). Private to graph_client/.

#include <optional>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "graph_client/http_transport.h"

namespace rollcall::graph {

// The longest wait a Retry-After value is taken to ask for; longer values are clamped.
inline constexpr absl::Duration kMaxRetryAfter = absl::Hours(24);

// How long `value` asks the client to wait, as of `now`:
//   "10"                              delta-seconds;
//   "2.128"                           fractional seconds (Graph sends these; kept to the ns);
//   "Wed, 21 Oct 2015 07:28:00 GMT"   an HTTP-date (IMF-fixdate, RFC 850 or asctime form);
//                                     a date in the past means zero.
// Surrounding whitespace is ignored. Returns nullopt for anything else (negative, empty,
// garbage). The result is clamped to [0, kMaxRetryAfter].
std::optional<absl::Duration> ParseRetryAfter(absl::string_view value, absl::Time now);

// An HTTP-date in any of the three forms RFC 9110 accepts; nullopt when `value` is not one.
std::optional<absl::Time> ParseHttpDate(absl::string_view value);

// How long `response` asks the client to wait (its Retry-After header), if it does. An
// HTTP-date counts from the response's own Date header when it has one, so the wait does not
// depend on how far our clock is from the server's; otherwise from `now`.
std::optional<absl::Duration> RetryAfterOf(const HttpResponse& response, absl::Time now);

}  // namespace rollcall::graph
