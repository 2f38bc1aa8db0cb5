#include "graph_client/retry_after.h"

#include <cmath>
#include <cstdint>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"

namespace rollcall::graph {
namespace {

// delta-seconds, optionally with a fraction: 1*DIGIT [ "." 1*DIGIT ].
bool IsDecimalSeconds(absl::string_view text) {
  std::size_t i = 0;
  while (i < text.size() && absl::ascii_isdigit(static_cast<unsigned char>(text[i]))) ++i;
  if (i == 0) return false;
  if (i == text.size()) return true;
  if (text[i] != '.') return false;
  ++i;
  const std::size_t fraction_begin = i;
  while (i < text.size() && absl::ascii_isdigit(static_cast<unsigned char>(text[i]))) ++i;
  return i == text.size() && i > fraction_begin;
}

}  // namespace

std::optional<absl::Time> ParseHttpDate(absl::string_view value) {
  // IMF-fixdate, then the obsolete RFC 850 and asctime forms (RFC 9110 section 5.6.7).
  static constexpr const char* kFormats[] = {
      "%a, %d %b %Y %H:%M:%S GMT",
      "%A, %d-%b-%y %H:%M:%S GMT",
      "%a %b %e %H:%M:%S %Y",
  };
  const std::string text(absl::StripAsciiWhitespace(value));
  for (const char* format : kFormats) {
    absl::Time t;
    std::string error;
    if (absl::ParseTime(format, text, absl::UTCTimeZone(), &t, &error)) return t;
  }
  return std::nullopt;
}

std::optional<absl::Duration> ParseRetryAfter(absl::string_view value, absl::Time now) {
  const absl::string_view text = absl::StripAsciiWhitespace(value);
  if (text.empty()) return std::nullopt;
  absl::Duration delay;
  if (IsDecimalSeconds(text)) {
    double seconds = 0;
    if (!absl::SimpleAtod(text, &seconds) || !std::isfinite(seconds)) return std::nullopt;
    if (seconds >= absl::ToDoubleSeconds(kMaxRetryAfter)) return kMaxRetryAfter;
    // Whole and fractional parts separately, so "2.128" is exactly 2128 ms.
    int64_t whole = 0;
    const std::size_t dot = text.find('.');
    if (!absl::SimpleAtoi(text.substr(0, dot), &whole)) return std::nullopt;
    delay = absl::Seconds(whole);
    if (dot != absl::string_view::npos) {
      std::string nanos(text.substr(dot + 1, 9));
      nanos.resize(9, '0');
      int64_t n = 0;
      if (!absl::SimpleAtoi(nanos, &n)) return std::nullopt;
      delay += absl::Nanoseconds(n);
    }
  } else if (auto date = ParseHttpDate(text)) {
    delay = *date - now;
  } else {
    return std::nullopt;
  }
  if (delay < absl::ZeroDuration()) return absl::ZeroDuration();
  if (delay > kMaxRetryAfter) return kMaxRetryAfter;
  return delay;
}

std::optional<absl::Duration> RetryAfterOf(const HttpResponse& response, absl::Time now) {
  const std::optional<std::string> header = response.Header("retry-after");
  if (!header.has_value()) return std::nullopt;
  if (auto date = response.Header("date")) {
    if (auto t = ParseHttpDate(*date)) now = *t;
  }
  return ParseRetryAfter(*header, now);
}

}  // namespace rollcall::graph
