#include "service/log.h"

#include <cmath>

#include <cstdio>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/utf8.h"

namespace rollcall::service {
namespace {

constexpr absl::string_view kRedacted = "[redacted]";

void WriteToStderr(absl::string_view line) {
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace

absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view text) {
  const std::string lower = absl::AsciiStrToLower(text);
  if (lower == "debug") return LogLevel::kDebug;
  if (lower == "info") return LogLevel::kInfo;
  if (lower == "warn" || lower == "warning") return LogLevel::kWarn;
  if (lower == "error") return LogLevel::kError;
  return absl::InvalidArgumentError("must be one of debug, info, warn, error");
}

absl::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

bool IsSecretLogKey(absl::string_view key) {
  const std::string lower = absl::AsciiStrToLower(key);
  for (absl::string_view word :
       {"secret", "token", "authorization", "password", "assertion", "credential"}) {
    if (absl::StrContains(lower, word)) return true;
  }
  return false;
}

std::string TruncateForLog(absl::string_view value, std::size_t max_bytes) {
  if (value.size() <= max_bytes) return std::string(value);
  std::size_t cut = max_bytes;
  // Step back over continuation bytes so the cut never splits a UTF-8 sequence.
  while (cut > 0 && (static_cast<uint8_t>(value[cut]) & 0xC0) == 0x80) --cut;
  return absl::StrCat(value.substr(0, cut), "...");
}

void AppendJsonString(absl::string_view value, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  std::size_t pos = 0;
  while (pos < value.size()) {
    const std::size_t start = pos;
    const int32_t cp = common::utf8::DecodeOne(value, &pos);
    if (cp == common::utf8::kInvalid) {
      out->append("\\ufffd");
      continue;
    }
    switch (cp) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (cp < 0x20 || cp == 0x7f) {
          out->append("\\u00");
          out->push_back(kHex[(cp >> 4) & 0xF]);
          out->push_back(kHex[cp & 0xF]);
        } else {
          out->append(value.data() + start, pos - start);
        }
    }
  }
  out->push_back('"');
}

Logger::Logger(LogLevel threshold, const common::Clock* clock)
    : Logger(threshold, clock, WriteToStderr) {}

Logger::Logger(LogLevel threshold, const common::Clock* clock, Sink sink)
    : threshold_(threshold), clock_(clock), sink_(std::move(sink)) {}

void Logger::Log(LogLevel level, absl::string_view msg, absl::Span<const LogField> fields) {
  if (!Enabled(level)) return;
  std::string line;
  line.reserve(128 + msg.size());
  line.append("{\"ts\":");
  AppendJsonString(
      absl::FormatTime("%Y-%m-%d%ET%H:%M:%E6SZ", clock_->Now(), absl::UTCTimeZone()), &line);
  line.append(",\"level\":");
  AppendJsonString(LogLevelName(level), &line);
  line.append(",\"msg\":");
  AppendJsonString(msg, &line);
  for (const LogField& field : fields) {
    line.push_back(',');
    if (field.key == "ts" || field.key == "level" || field.key == "msg") {
      AppendJsonString(absl::StrCat("field_", field.key), &line);
    } else {
      AppendJsonString(field.key, &line);
    }
    line.push_back(':');
    if (IsSecretLogKey(field.key)) {
      AppendJsonString(kRedacted, &line);
      continue;
    }
    switch (field.kind) {
      case LogField::Kind::kText:
        AppendJsonString(field.text, &line);
        break;
      case LogField::Kind::kInteger:
        absl::StrAppend(&line, field.integer);
        break;
      case LogField::Kind::kNumber:
        // JSON has no NaN or infinity.
        if (std::isfinite(field.number)) {
          absl::StrAppend(&line, absl::SixDigits(field.number));
        } else {
          line.append("null");
        }
        break;
      case LogField::Kind::kBoolean:
        line.append(field.boolean ? "true" : "false");
        break;
    }
  }
  line.append("}\n");
  common::MutexLock lock(&mu_);
  sink_(line);
}

}  // namespace rollcall::service
