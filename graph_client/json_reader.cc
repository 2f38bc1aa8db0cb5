#include "graph_client/json_reader.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/utf8.h"
#include "rapidjson/error/en.h"
#include "rapidjson/reader.h"

namespace rollcall::graph::json {
namespace {

namespace rj = rapidjson;

// Iterative parsing keeps hostile nesting off the call stack. In-situ parsing leaves strings in
// the (copied) input instead of allocating each one. UTF-8 is checked once over the whole input
// beforehand (utf8::IsValid, with an ASCII fast path) rather than by RapidJSON character by
// character. RapidJSON's SIMD string scanning (RAPIDJSON_SSE2) stays off: in 1.1 its in-situ
// variant lets raw control characters through inside strings, which JSON forbids.
constexpr unsigned kParseFlags =
    rj::kParseIterativeFlag | rj::kParseInsituFlag | rj::kParseNumbersAsStringsFlag;

// Forwards SAX events to `Target` (a rapidjson::Document) and fails the parse as soon as arrays
// and objects nest deeper than kMaxDepth, or the document passes `limits`: each value and
// member name is charged kDocumentBytesPerValue, and each element of the records array is
// counted, before the document holds it.
template <typename Target>
class BoundedHandler {
 public:
  BoundedHandler(Target& target, const ParseLimits& limits, std::size_t input_bytes)
      : target_(target), limits_(limits) {
    counts_.bytes = input_bytes;
  }

  bool Null() { return Value() && target_.Null(); }
  bool Bool(bool b) { return Value() && target_.Bool(b); }
  bool Int(int i) { return Value() && target_.Int(i); }
  bool Uint(unsigned u) { return Value() && target_.Uint(u); }
  bool Int64(int64_t i) { return Value() && target_.Int64(i); }
  bool Uint64(uint64_t u) { return Value() && target_.Uint64(u); }
  bool Double(double d) { return Value() && target_.Double(d); }
  // Numbers arrive as text (kParseNumbersAsStringsFlag) and are converted here, exactly:
  // RapidJSON 1.1's own conversion misreads zero with a large exponent ("0e104") and rounds
  // some large values. Integers stay integers while they fit 64 bits.
  bool RawNumber(const char* s, rj::SizeType n, bool /*copy*/) {
    if (!Value()) return false;
    const absl::string_view text(s, n);
    if (text.find_first_of(".eE") == absl::string_view::npos) {
      int64_t i = 0;
      uint64_t u = 0;
      if (text[0] == '-' && absl::SimpleAtoi(text, &i)) {
        return i >= std::numeric_limits<int32_t>::min() ? target_.Int(static_cast<int32_t>(i))
                                                         : target_.Int64(i);
      }
      if (text[0] != '-' && absl::SimpleAtoi(text, &u)) {
        return u <= std::numeric_limits<uint32_t>::max() ? target_.Uint(static_cast<uint32_t>(u))
                                                         : target_.Uint64(u);
      }
    }
    double d = 0;
    if (!absl::SimpleAtod(text, &d) || !std::isfinite(d)) return false;  // e.g. 1e400
    return target_.Double(d);
  }
  bool String(const char* s, rj::SizeType n, bool copy) {
    return Value() && target_.String(s, n, copy);
  }
  bool Key(const char* s, rj::SizeType n, bool copy) {
    if (depth_ == 1) {
      key_is_records_ = !limits_.records_member.empty() &&
                        absl::string_view(s, n) == limits_.records_member;
    }
    return Charge() && target_.Key(s, n, copy);
  }
  bool StartObject() { return Value() && Enter() && target_.StartObject(); }
  bool EndObject(rj::SizeType members) { --depth_; return target_.EndObject(members); }
  bool StartArray() {
    const bool records = depth_ == 1 && key_is_records_;
    if (!Value() || !Enter()) return false;
    if (records) records_depth_ = depth_;
    return target_.StartArray();
  }
  bool EndArray(rj::SizeType elements) {
    if (depth_ == records_depth_) records_depth_ = -1;
    --depth_;
    return target_.EndArray(elements);
  }

  // Why the parse stopped early, or OK.
  absl::Status Stopped() const {
    if (too_deep_) {
      return absl::InvalidArgumentError(
          absl::StrCat("JSON nested deeper than ", kMaxDepth, " levels"));
    }
    if (too_many_records_) {
      return absl::ResourceExhaustedError(
          absl::StrCat("more than ", limits_.max_records, " records"));
    }
    if (too_large_) {
      return absl::ResourceExhaustedError(
          absl::StrCat("more than ", limits_.max_bytes, " bytes to hold it parsed"));
    }
    return absl::OkStatus();
  }
  const ParseCounts& counts() const { return counts_; }

 private:
  // A value starts: an element of the records array is one more record.
  bool Value() {
    if (depth_ == records_depth_ && ++counts_.records > limits_.max_records) {
      too_many_records_ = true;
      return false;
    }
    return Charge();
  }
  bool Charge() {
    counts_.bytes += kDocumentBytesPerValue;
    if (counts_.bytes > limits_.max_bytes) too_large_ = true;
    return !too_large_;
  }
  bool Enter() {
    if (++depth_ > kMaxDepth) too_deep_ = true;
    return !too_deep_;
  }

  Target& target_;
  const ParseLimits& limits_;
  ParseCounts counts_;
  int depth_ = 0;
  int records_depth_ = -1;  // the records array's depth while inside it
  bool key_is_records_ = false;
  bool too_deep_ = false;
  bool too_many_records_ = false;
  bool too_large_ = false;
};

}  // namespace

absl::Status Parse(absl::string_view json, ParsedJson* out) {
  return Parse(json, out, ParseLimits{}, nullptr);
}

absl::Status Parse(absl::string_view json, ParsedJson* out, const ParseLimits& limits,
                   ParseCounts* counts) {
  if (counts != nullptr) *counts = ParseCounts{};
  if (const void* nul = std::memchr(json.data(), '\0', json.size())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "malformed JSON at offset ", static_cast<const char*>(nul) - json.data(), ": a NUL byte"));
  }
  if (!common::utf8::IsValid(json)) {
    return absl::InvalidArgumentError("malformed JSON: not valid UTF-8");
  }
  if (json.size() > limits.max_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("more than ", limits.max_bytes, " bytes to hold it parsed"));
  }
  out->buffer.assign(json.data(), json.size());
  rj::InsituStringStream input(out->buffer.data());
  rj::Reader reader;
  rj::ParseResult result;
  absl::Status stopped;
  auto generate = [&](rj::Document& target) {
    BoundedHandler<rj::Document> handler(target, limits, json.size());
    result = reader.Parse<kParseFlags>(input, handler);
    stopped = handler.Stopped();
    if (counts != nullptr) *counts = handler.counts();
    return !result.IsError();
  };
  out->doc.Populate(generate);
  if (!stopped.ok()) return stopped;
  if (result.IsError()) {
    return absl::InvalidArgumentError(absl::StrCat("malformed JSON at offset ", result.Offset(),
                                                   ": ", rj::GetParseError_En(result.Code())));
  }
  return absl::OkStatus();
}

const rj::Value* FindMember(const rj::Value& object, absl::string_view name, bool ignore_case) {
  if (!object.IsObject()) return nullptr;
  for (const auto& member : object.GetObject()) {
    const absl::string_view key = AsView(member.name);
    if (ignore_case ? absl::EqualsIgnoreCase(key, name) : key == name) return &member.value;
  }
  return nullptr;
}

std::string StringMember(const rj::Value& object, absl::string_view name, bool ignore_case) {
  const rj::Value* value = FindMember(object, name, ignore_case);
  return value != nullptr && value->IsString() ? std::string(AsView(*value)) : std::string();
}

std::string Path::ToString() const {
  if (parent == nullptr) return std::string(member);
  std::string prefix = parent->ToString();
  if (index >= 0) return absl::StrCat(prefix, "[", index, "]");
  return prefix.empty() ? std::string(member) : absl::StrCat(prefix, ".", member);
}

absl::Status PathError(const Path& path, absl::string_view problem) {
  const std::string where = path.ToString();
  return absl::InvalidArgumentError(absl::StrCat(where.empty() ? "body" : where, ": ", problem));
}

std::string Quoted(absl::string_view text) {
  constexpr std::size_t kMax = 64;
  const bool cut = text.size() > kMax;
  return absl::StrCat("\"", absl::CHexEscape(text.substr(0, kMax)), cut ? "...\"" : "\"");
}

absl::StatusOr<int32_t> ReadInt32(const rj::Value& value, const Path& path) {
  if (value.IsInt()) return value.GetInt();
  if (!value.IsNumber()) return PathError(path, "expected a number");
  if (value.IsDouble()) {
    const double d = value.GetDouble();
    if (std::trunc(d) != d) return PathError(path, "expected an integer");
    if (d >= std::numeric_limits<int32_t>::min() && d <= std::numeric_limits<int32_t>::max()) {
      return static_cast<int32_t>(d);
    }
  }
  return PathError(path, "out of range for a 32-bit integer");
}

}  // namespace rollcall::graph::json
