#pragma once
// Percent-encoding and URL helpers shared by the Graph client and the token credential.
// Private to graph_client/.

#include <string>

#include "absl/strings/string_view.h"

namespace rollcall::graph {

// Every byte except RFC 3986 unreserved characters (A-Z a-z 0-9 - . _ ~) becomes %XX (upper-case
// hex). The result is safe as one URL path segment and as an
// application/x-www-form-urlencoded name or value.
std::string PercentEncode(absl::string_view text);

// A join link as the literal of Graph's $filter=JoinWebUrl eq '...', to go between the quotes
// in a URL's query: quotes doubled (OData's escape), then PercentEncode, so the link's own
// escapes arrive intact ("19%3ameeting" is sent as "19%253ameeting").
std::string JoinWebUrlLiteral(absl::string_view join_web_url);

// `url` without any trailing '/'.
absl::string_view StripTrailingSlashes(absl::string_view url);

// "scheme://authority" of an absolute URL, or "" when `url` has no "://" or no authority.
// The authority ends at the first '/', '?' or '#'.
absl::string_view UrlOrigin(absl::string_view url);

// True when `url` is `origin` (as UrlOrigin returns it, compared case-insensitively) followed by
// a path that starts with '/', and `url` holds no whitespace or control characters. Userinfo
// ("https://graph.microsoft.com@evil.example/") or a longer host
// ("https://graph.microsoft.com.evil.example/") never match.
bool IsUrlUnderOrigin(absl::string_view url, absl::string_view origin);

}  // namespace rollcall::graph
