#pragma once
// The small reader layer over RapidJSON that every Graph and identity-platform body goes
// through: a depth-limited, in-situ parse of untrusted bytes into a document, member lookup, and
// JSON paths for error messages. Private to graph_client/ (and its tests): nothing outside sees
// RapidJSON. Pure functions; a ParsedJson is used by one thread at a time.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "rapidjson/document.h"

namespace rollcall::graph::json {

// Deeper documents are rejected while parsing, before they cost memory. Graph's attendance
// bodies nest five levels; open-typed identities may add a few. The bound also keeps a reply
// within protobuf's own nesting limit (100): each JSON level inside an identity becomes two
// levels of google.protobuf.Struct/Value, so 32 JSON levels stay near 60 protobuf levels.
inline constexpr int kMaxDepth = 32;

// A parsed document and the buffer its strings live in (in-situ parsing); neither moves.
struct ParsedJson {
  ParsedJson() = default;
  ParsedJson(const ParsedJson&) = delete;
  ParsedJson& operator=(const ParsedJson&) = delete;

  std::string buffer;
  rapidjson::Document doc;
};

// What a document costs, as Parse counts it: its copy of the input, plus this much for each
// value and each member name (RapidJSON's 16-byte value, once on its parse stack and once in
// the finished document; strings stay in the copy).
inline constexpr std::size_t kDocumentBytesPerValue = 32;

// Bounds Parse enforces while it reads, before the document grows past them.
struct ParseLimits {
  // The elements of the array under this member of the top-level object are counted as
  // records ("attendanceRecords", "value"); empty: none are.
  absl::string_view records_member;
  int64_t max_records = std::numeric_limits<int64_t>::max();
  // What the document may cost (kDocumentBytesPerValue above).
  std::size_t max_bytes = std::numeric_limits<std::size_t>::max();
};

// What Parse counted (also when it stopped at a limit).
struct ParseCounts {
  int64_t records = 0;
  std::size_t bytes = 0;
};

// Parses `json` into *out. INVALID_ARGUMENT when it is not one well-formed UTF-8 JSON value
// (a NUL byte included) or nests deeper than kMaxDepth. Numbers are converted exactly:
// integers stay integers while they fit 64 bits; a number out of double's range is an error.
absl::Status Parse(absl::string_view json, ParsedJson* out);
// The same within `limits`: RESOURCE_EXHAUSTED ("more than N records", "more than N bytes")
// as soon as a record or a value passes them, the parse stopped there. *counts (when not null)
// gets what was counted.
absl::Status Parse(absl::string_view json, ParsedJson* out, const ParseLimits& limits,
                   ParseCounts* counts);

inline absl::string_view AsView(const rapidjson::Value& string_value) {
  return absl::string_view(string_value.GetString(), string_value.GetStringLength());
}

// The first member of `object` whose name equals `name` (ASCII case-insensitively when
// `ignore_case`), or null (also when `object` is not an object).
const rapidjson::Value* FindMember(const rapidjson::Value& object, absl::string_view name,
                                   bool ignore_case = false);

// The string value of `object[name]`, or "" when absent or not a string.
std::string StringMember(const rapidjson::Value& object, absl::string_view name,
                         bool ignore_case = false);

// A JSON path in error messages ("attendanceRecords[0].totalAttendanceInSeconds"), built only
// when an error needs one. Each level lives on the caller's stack.
struct Path {
  const Path* parent = nullptr;
  absl::string_view member;  // used when index < 0
  int64_t index = -1;

  Path Member(absl::string_view name) const { return Path{this, name, -1}; }
  Path Element(int64_t i) const { return Path{this, {}, i}; }
  std::string ToString() const;
};

// INVALID_ARGUMENT "<path>: <problem>" ("body: ..." for the root).
absl::Status PathError(const Path& path, absl::string_view problem);

// A value quoted for an error message: escaped and at most 64 bytes.
std::string Quoted(absl::string_view text);

// An int32 from a JSON number: an integer, or a double with no fraction, within range.
absl::StatusOr<int32_t> ReadInt32(const rapidjson::Value& value, const Path& path);

}  // namespace rollcall::graph::json
