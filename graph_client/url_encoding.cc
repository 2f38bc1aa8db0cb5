#include "graph_client/url_encoding.h"

#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"

namespace rollcall::graph {
namespace {

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '.' || c == '_' || c == '~';
}

}  // namespace

std::string PercentEncode(absl::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (IsUnreserved(c)) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

std::string JoinWebUrlLiteral(absl::string_view join_web_url) {
  // Graph decodes the query once and compares what is inside the quotes with the meeting's
  // joinWebUrl as stored ("19%3ameeting_..."): the link's own escapes must survive that decoding,
  // so every byte but the unreserved ones is escaped once more ('%' too). Quotes are doubled
  // first, as OData string literals escape them, so a quote in a link cannot end the literal.
  return PercentEncode(absl::StrReplaceAll(join_web_url, {{"'", "''"}}));
}

absl::string_view StripTrailingSlashes(absl::string_view url) {
  while (absl::ConsumeSuffix(&url, "/")) {
  }
  return url;
}

absl::string_view UrlOrigin(absl::string_view url) {
  const std::size_t scheme_end = url.find("://");
  if (scheme_end == absl::string_view::npos || scheme_end == 0) return {};
  const std::size_t authority_begin = scheme_end + 3;
  std::size_t authority_end = url.find_first_of("/?#", authority_begin);
  if (authority_end == absl::string_view::npos) authority_end = url.size();
  if (authority_end == authority_begin) return {};
  return url.substr(0, authority_end);
}

bool IsUrlUnderOrigin(absl::string_view url, absl::string_view origin) {
  if (origin.empty() || url.size() <= origin.size()) return false;
  for (const char ch : url) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c == 0x7F) return false;
  }
  return absl::EqualsIgnoreCase(url.substr(0, origin.size()), origin) &&
         url[origin.size()] == '/';
}

}  // namespace rollcall::graph
