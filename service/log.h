#pragma once
// Rollcall's one logger: JSON lines on stderr, one flat object per event, each field at the top
// level with its own JSON type:
//   {"ts":"2024-05-01T12:00:00.123456Z","level":"info","msg":"graph call","endpoint":"report",
//    "http_status":200,"latency_ms":12.5,...}
// A field named ts, level or msg is written with a "field_" prefix, never over those three.
//
// Secrets never reach the logger: no caller may pass a client secret, a token or an
// Authorization header as a field or inside a message. As defence in depth the logger also
// replaces the value of any field whose key names a secret (secret, token, authorization,
// password, assertion, credential; case-insensitive) with "[redacted]".
//
// Every string is escaped as JSON; bytes that are not valid UTF-8 become U+FFFD, so a line is
// always valid JSON whatever an untrusted ID contains.

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <functional>
#include <string>
#include "absl/strings/string_view.h"
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "common/mutex.h"
#include "absl/types/span.h"
#include "common/clock.h"

namespace rollcall::service {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// "debug", "info", "warn" (or "warning"), "error"; case-insensitive. INVALID_ARGUMENT otherwise.
absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view text);
absl::string_view LogLevelName(LogLevel level);

// One key and its value: text, a whole number, a number with a fraction, or a boolean, written
// as the JSON type it is. Views: the text must outlive the Log call.
struct LogField {
  enum class Kind { kText, kInteger, kNumber, kBoolean };

  LogField(absl::string_view k, absl::string_view v) : key(k), text(v) {}
  LogField(absl::string_view k, const char* v) : key(k), text(v) {}
  LogField(absl::string_view k, const std::string& v) : key(k), text(v) {}
  template <typename Integer,
            typename = std::enable_if_t<std::is_integral_v<Integer> &&
                                        !std::is_same_v<Integer, bool>>>
  LogField(absl::string_view k, Integer v)
      : key(k), kind(Kind::kInteger), integer(static_cast<int64_t>(v)) {}
  LogField(absl::string_view k, double v) : key(k), kind(Kind::kNumber), number(v) {}
  LogField(absl::string_view k, bool v) : key(k), kind(Kind::kBoolean), boolean(v) {}

  absl::string_view key;
  Kind kind = Kind::kText;
  absl::string_view text;
  int64_t integer = 0;
  double number = 0;
  bool boolean = false;
};

class Logger {
 public:
  // Receives each finished line, newline included. Called with the logger's mutex held, so
  // lines never interleave; it must not call back into the logger.
  using Sink = std::function<void(absl::string_view line)>;

  // Writes to stderr. `clock` stamps each line; it must outlive the logger.
  Logger(LogLevel threshold, const common::Clock* clock);
  // Writes to `sink` (tests capture lines this way).
  Logger(LogLevel threshold, const common::Clock* clock, Sink sink);

  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  // True when an event at `level` would be written; lets callers skip building fields.
  bool Enabled(LogLevel level) const { return level >= threshold_; }

  // Thread-safe. Writes one line when `level` is at or above the threshold.
  void Log(LogLevel level, absl::string_view msg, absl::Span<const LogField> fields = {});

  void Debug(absl::string_view msg, absl::Span<const LogField> fields = {}) {
    Log(LogLevel::kDebug, msg, fields);
  }
  void Info(absl::string_view msg, absl::Span<const LogField> fields = {}) {
    Log(LogLevel::kInfo, msg, fields);
  }
  void Warn(absl::string_view msg, absl::Span<const LogField> fields = {}) {
    Log(LogLevel::kWarn, msg, fields);
  }
  void Error(absl::string_view msg, absl::Span<const LogField> fields = {}) {
    Log(LogLevel::kError, msg, fields);
  }

 private:
  const LogLevel threshold_;
  const common::Clock* const clock_;
  common::Mutex mu_;
  const Sink sink_ ABSL_GUARDED_BY(mu_);
};

// True when a field named `key` must never carry its value into a log line.
bool IsSecretLogKey(absl::string_view key);

// `value` cut to at most `max_bytes` bytes (never inside a UTF-8 sequence), with "..." appended
// when it was cut. For logging untrusted IDs.
std::string TruncateForLog(absl::string_view value, std::size_t max_bytes = 128);

// Appends `value` to `out` as a JSON string literal (quotes included).
void AppendJsonString(absl::string_view value, std::string* out);

}  // namespace rollcall::service
