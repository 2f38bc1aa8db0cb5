#pragma once
// Rollcall's one logger: JSON lines on stderr, one object per event:
//   {"ts":"2024-05-01T12:00:00.123456Z","level":"info","msg":"...","fields":{"k":"v",...}}
//
// Secrets never reach the logger: no caller may pass a client secret, a token or an
// Authorization header as a field or inside a message. As defence in depth the logger also
// replaces the value of any field whose key names a secret (secret, token, authorization,
// password, assertion, credential; case-insensitive) with "[redacted]".
//
// Every string is escaped as JSON; bytes that are not valid UTF-8 become U+FFFD, so a line is
// always valid JSON whatever an untrusted ID contains.

#include <cstddef>
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

// One key/value pair. Values are strings; callers format numbers with absl::StrCat.
using LogField = std::pair<absl::string_view, absl::string_view>;

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
