#pragma once
// Parsing of the HTTP Retry-After header (RFC 9110 section 10.2.3). Private to graph_client/.

#include <optional>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

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

}  // namespace rollcall::graph
