#include "graph_client/json_mapping.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "common/utf8.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"
#include "rapidjson/reader.h"

namespace rollcall::graph {
namespace {

namespace rj = rapidjson;
namespace pb = google::protobuf;

// Deeper documents are rejected while parsing, before they cost memory. Graph's attendance
// bodies nest five levels; open-typed identities may add a few. The bound also keeps a reply
// within protobuf's own nesting limit (100): each JSON level inside an identity becomes two
// levels of google.protobuf.Struct/Value, so 32 JSON levels stay near 60 protobuf levels.
constexpr int kMaxJsonDepth = 32;

// Iterative parsing keeps hostile nesting off the call stack. In-situ parsing leaves strings in
// the (copied) input instead of allocating each one. UTF-8 is checked once over the whole input
// beforehand (utf8::IsValid, with an ASCII fast path) rather than by RapidJSON character by
// character. RapidJSON's SIMD string scanning (RAPIDJSON_SSE2) stays off: in 1.1 its in-situ
// variant lets raw control characters through inside strings, which JSON forbids.
constexpr unsigned kParseFlags =
    rj::kParseIterativeFlag | rj::kParseInsituFlag | rj::kParseNumbersAsStringsFlag;

// google.protobuf.Timestamp's range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z.
constexpr int64_t kMinTimestampSeconds = -62135596800;
constexpr int64_t kMaxTimestampSeconds = 253402300799;

// ---------------------------------------------------------------------------------------------
// Parsing with a depth limit.

// Forwards SAX events to `Target` (a rapidjson::Document) and fails the parse as soon as arrays
// and objects nest deeper than kMaxJsonDepth.
template <typename Target>
class DepthLimitedHandler {
 public:
  explicit DepthLimitedHandler(Target& target) : target_(target) {}

  bool Null() { return target_.Null(); }
  bool Bool(bool b) { return target_.Bool(b); }
  bool Int(int i) { return target_.Int(i); }
  bool Uint(unsigned u) { return target_.Uint(u); }
  bool Int64(int64_t i) { return target_.Int64(i); }
  bool Uint64(uint64_t u) { return target_.Uint64(u); }
  bool Double(double d) { return target_.Double(d); }
  // Numbers arrive as text (kParseNumbersAsStringsFlag) and are converted here, exactly:
  // RapidJSON 1.1's own conversion misreads zero with a large exponent ("0e104") and rounds
  // some large values. Integers stay integers while they fit 64 bits.
  bool RawNumber(const char* s, rj::SizeType n, bool /*copy*/) {
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
  bool String(const char* s, rj::SizeType n, bool copy) { return target_.String(s, n, copy); }
  bool Key(const char* s, rj::SizeType n, bool copy) { return target_.Key(s, n, copy); }
  bool StartObject() { return Enter() && target_.StartObject(); }
  bool EndObject(rj::SizeType members) { --depth_; return target_.EndObject(members); }
  bool StartArray() { return Enter() && target_.StartArray(); }
  bool EndArray(rj::SizeType elements) { --depth_; return target_.EndArray(elements); }

  bool too_deep() const { return too_deep_; }

 private:
  bool Enter() {
    if (++depth_ > kMaxJsonDepth) too_deep_ = true;
    return !too_deep_;
  }

  Target& target_;
  int depth_ = 0;
  bool too_deep_ = false;
};

// A parsed document and the buffer its strings live in (in-situ parsing); neither moves.
struct ParsedJson {
  ParsedJson() = default;
  ParsedJson(const ParsedJson&) = delete;
  ParsedJson& operator=(const ParsedJson&) = delete;

  std::string buffer;
  rj::Document doc;
};

// Parses `json` into *out. INVALID_ARGUMENT when it is not one well-formed UTF-8 JSON value or
// nests deeper than kMaxJsonDepth.
absl::Status ParseJson(absl::string_view json, ParsedJson* out) {
  if (const void* nul = std::memchr(json.data(), '\0', json.size())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "malformed JSON at offset ", static_cast<const char*>(nul) - json.data(), ": a NUL byte"));
  }
  if (!common::utf8::IsValid(json)) {
    return absl::InvalidArgumentError("malformed JSON: not valid UTF-8");
  }
  out->buffer.assign(json.data(), json.size());
  rj::InsituStringStream input(out->buffer.data());
  rj::Reader reader;
  rj::ParseResult result;
  bool too_deep = false;
  auto generate = [&](rj::Document& target) {
    DepthLimitedHandler<rj::Document> handler(target);
    result = reader.Parse<kParseFlags>(input, handler);
    too_deep = handler.too_deep();
    return !result.IsError();
  };
  out->doc.Populate(generate);
  if (too_deep) {
    return absl::InvalidArgumentError(
        absl::StrCat("JSON nested deeper than ", kMaxJsonDepth, " levels"));
  }
  if (result.IsError()) {
    return absl::InvalidArgumentError(absl::StrCat("malformed JSON at offset ", result.Offset(),
                                                   ": ", rj::GetParseError_En(result.Code())));
  }
  return absl::OkStatus();
}

absl::string_view AsView(const rj::Value& string_value) {
  return absl::string_view(string_value.GetString(), string_value.GetStringLength());
}

// The first member of `object` whose name equals `name` (ASCII case-insensitively when
// `ignore_case`), or null.
const rj::Value* FindMember(const rj::Value& object, absl::string_view name,
                            bool ignore_case = false) {
  if (!object.IsObject()) return nullptr;
  for (const auto& member : object.GetObject()) {
    const absl::string_view key = AsView(member.name);
    if (ignore_case ? absl::EqualsIgnoreCase(key, name) : key == name) return &member.value;
  }
  return nullptr;
}

// The string value of `object[name]`, or "" when absent or not a string.
std::string StringMember(const rj::Value& object, absl::string_view name,
                         bool ignore_case = false) {
  const rj::Value* value = FindMember(object, name, ignore_case);
  return value != nullptr && value->IsString() ? std::string(AsView(*value)) : std::string();
}

// ---------------------------------------------------------------------------------------------
// JSON paths in error messages ("attendanceRecords[0].totalAttendanceInSeconds"), built only
// when an error needs one.

struct JsonPath {
  const JsonPath* parent = nullptr;
  absl::string_view member;  // used when index < 0
  int64_t index = -1;

  JsonPath Member(absl::string_view name) const { return JsonPath{this, name, -1}; }
  JsonPath Element(int64_t i) const { return JsonPath{this, {}, i}; }

  std::string ToString() const {
    if (parent == nullptr) return std::string(member);
    std::string prefix = parent->ToString();
    if (index >= 0) return absl::StrCat(prefix, "[", index, "]");
    return prefix.empty() ? std::string(member) : absl::StrCat(prefix, ".", member);
  }
};

absl::Status PathError(const JsonPath& path, absl::string_view problem) {
  const std::string where = path.ToString();
  return absl::InvalidArgumentError(
      absl::StrCat(where.empty() ? "body" : where, ": ", problem));
}

// A value quoted for an error message: escaped and at most 64 bytes.
std::string Quoted(absl::string_view text) {
  constexpr std::size_t kMax = 64;
  const bool cut = text.size() > kMax;
  return absl::StrCat("\"", absl::CHexEscape(text.substr(0, kMax)), cut ? "...\"" : "\"");
}

// ---------------------------------------------------------------------------------------------
// Scalars.

absl::StatusOr<int32_t> ReadInt32(const rj::Value& value, const JsonPath& path) {
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

bool ReadDigits(absl::string_view text, std::size_t pos, std::size_t count, int* out) {
  if (pos + count > text.size()) return false;
  int n = 0;
  for (std::size_t i = pos; i < pos + count; ++i) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(text[i]))) return false;
    n = n * 10 + (text[i] - '0');
  }
  *out = n;
  return true;
}

bool ToTimestamp(absl::Time t, pb::Timestamp* out) {
  const int64_t seconds = absl::ToUnixSeconds(t);  // rounds toward the infinite past
  if (seconds < kMinTimestampSeconds || seconds > kMaxTimestampSeconds) return false;
  out->set_seconds(seconds);
  out->set_nanos(
      static_cast<int32_t>(absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(seconds))));
  return true;
}

// Converts any JSON value to google.protobuf.Value (numbers become doubles, as in proto3 JSON).
// Recursion is bounded by kMaxJsonDepth.
void ToProtoValue(const rj::Value& json, pb::Value* out) {
  switch (json.GetType()) {
    case rj::kNullType:
      out->set_null_value(pb::NULL_VALUE);
      break;
    case rj::kFalseType:
    case rj::kTrueType:
      out->set_bool_value(json.GetBool());
      break;
    case rj::kNumberType:
      out->set_number_value(json.GetDouble());
      break;
    case rj::kStringType:
      out->set_string_value(std::string(AsView(json)));
      break;
    case rj::kArrayType: {
      pb::ListValue* list = out->mutable_list_value();
      for (const auto& element : json.GetArray()) ToProtoValue(element, list->add_values());
      break;
    }
    case rj::kObjectType: {
      auto* fields = out->mutable_struct_value()->mutable_fields();
      for (const auto& member : json.GetObject()) {
        ToProtoValue(member.value, &(*fields)[std::string(AsView(member.name))]);
      }
      break;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// JSON -> rollcall.v1 messages, driven by the messages' descriptors: a Graph property maps to
// the field whose json_name it is (`emailAddress` -> email_address), so every field of
// attendance.proto is covered and a new field is mapped as soon as it is added. Two fields of
// Identity are special: odata_type holds Graph's "@odata.type" annotation, and
// additional_properties collects every property Identity does not name (Graph declares
// identities open types).

const pb::FieldDescriptor* IdentityODataTypeField() {
  static const pb::FieldDescriptor* const field =
      rollcall::v1::Identity::descriptor()->FindFieldByName("odata_type");
  return field;
}

const pb::FieldDescriptor* IdentityAdditionalPropertiesField() {
  static const pb::FieldDescriptor* const field =
      rollcall::v1::Identity::descriptor()->FindFieldByName("additional_properties");
  return field;
}

// The Graph property a field holds; "" for additional_properties, which no property names.
absl::string_view GraphPropertyName(const pb::FieldDescriptor* field) {
  if (field == IdentityODataTypeField()) return "@odata.type";
  if (field == IdentityAdditionalPropertiesField()) return {};
  return field->json_name();
}

// The fields of one message type by the Graph property each holds; built once per type.
class PropertyTable {
 public:
  explicit PropertyTable(const pb::Descriptor* type) {
    for (int i = 0; i < type->field_count(); ++i) {
      const pb::FieldDescriptor* field = type->field(i);
      const absl::string_view property = GraphPropertyName(field);
      if (!property.empty()) fields_.emplace(std::string(property), field);
    }
  }
  const pb::FieldDescriptor* Find(absl::string_view name) const {
    const auto it = fields_.find(name);
    return it == fields_.end() ? nullptr : it->second;
  }

 private:
  absl::flat_hash_map<std::string, const pb::FieldDescriptor*> fields_;
};

const pb::FieldDescriptor* FieldForProperty(const pb::Descriptor* type, absl::string_view name) {
  // Every message type the mapping can reach, so the tables are complete before any lookup and
  // never change afterwards (no lock needed).
  static const auto* const tables = [] {
    auto* t = new absl::flat_hash_map<const pb::Descriptor*, PropertyTable>();
    std::vector<const pb::Descriptor*> pending = {rollcall::v1::MeetingAttendanceReport::descriptor()};
    while (!pending.empty()) {
      const pb::Descriptor* d = pending.back();
      pending.pop_back();
      if (!t->try_emplace(d, d).second) continue;
      for (int i = 0; i < d->field_count(); ++i) {
        if (const pb::Descriptor* m = d->field(i)->message_type()) pending.push_back(m);
      }
    }
    return t;
  }();
  const auto it = tables->find(type);
  return it == tables->end() ? PropertyTable(type).Find(name) : it->second.Find(name);
}

// Descriptors looked up once: each descriptor() call goes through std::call_once.
const pb::Descriptor* TimestampType() {
  static const pb::Descriptor* const type = pb::Timestamp::descriptor();
  return type;
}

const pb::Descriptor* IdentityType() {
  static const pb::Descriptor* const type = rollcall::v1::Identity::descriptor();
  return type;
}

const pb::Descriptor* RecordType() {
  static const pb::Descriptor* const type = rollcall::v1::AttendanceRecord::descriptor();
  return type;
}

const pb::Descriptor* IntervalType() {
  static const pb::Descriptor* const type = rollcall::v1::AttendanceInterval::descriptor();
  return type;
}

const pb::Descriptor* ReportType() {
  static const pb::Descriptor* const type = rollcall::v1::MeetingAttendanceReport::descriptor();
  return type;
}

bool IsTimestamp(const pb::FieldDescriptor* field) {
  return field->message_type() == TimestampType();
}

absl::Status MapObject(const rj::Value& json, pb::Message* message, const JsonPath& path);

// Sets singular `field` of `message` from non-null `json`.
absl::Status MapSingularField(const rj::Value& json, const pb::FieldDescriptor* field,
                              pb::Message* message, const pb::Reflection* reflection,
                              const JsonPath& path) {
  switch (field->cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_STRING:
      if (!json.IsString()) return PathError(path, "expected a string");
      reflection->SetString(message, field, std::string(AsView(json)));
      return absl::OkStatus();
    case pb::FieldDescriptor::CPPTYPE_INT32: {
      absl::StatusOr<int32_t> n = ReadInt32(json, path);
      if (!n.ok()) return n.status();
      reflection->SetInt32(message, field, *n);
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_MESSAGE: {
      if (IsTimestamp(field)) {
        if (!json.IsString()) return PathError(path, "expected a date-time string");
        absl::StatusOr<absl::Time> t = ParseDateTimeOffset(AsView(json));
        if (!t.ok()) return PathError(path, t.status().message());
        auto* timestamp = pb::DynamicCastToGenerated<pb::Timestamp>(
            reflection->MutableMessage(message, field));
        if (!ToTimestamp(*t, timestamp)) {
          return PathError(path, absl::StrCat(Quoted(AsView(json)),
                                              " is outside the years 0001 to 9999"));
        }
        return absl::OkStatus();
      }
      return MapObject(json, reflection->MutableMessage(message, field), path);
    }
    default:
      return absl::InternalError(absl::StrCat("the Graph mapping does not support the type of ",
                                              field->full_name()));
  }
}

// Sets `field` of `message` from `json`. Null leaves an optional field or message unset and a
// repeated field empty; a field without presence (the report's id) must not be null.
absl::Status MapField(const rj::Value& json, const pb::FieldDescriptor* field,
                      pb::Message* message, const pb::Reflection* reflection,
                      const JsonPath& path) {
  reflection->ClearField(message, field);
  if (json.IsNull()) {
    if (!field->is_repeated() && !field->has_presence()) {
      return PathError(path, "must not be null");
    }
    return absl::OkStatus();
  }
  if (!field->is_repeated()) return MapSingularField(json, field, message, reflection, path);

  if (!json.IsArray()) return PathError(path, "expected an array");
  if (field->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE || IsTimestamp(field)) {
    return absl::InternalError(absl::StrCat("the Graph mapping does not support the type of ",
                                            field->full_name()));
  }
  int64_t index = 0;
  for (const auto& element : json.GetArray()) {
    absl::Status status =
        MapObject(element, reflection->AddMessage(message, field), path.Element(index++));
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

// The generic (descriptor-driven) mapping of one member of an object onto `message`: the field
// whose Graph property `name` is, else (for open-typed identities) additional_properties, else
// nothing. The typed fast paths below fall back to it for any property they do not name, so a
// field added to attendance.proto is mapped even before a fast path learns about it.
absl::Status MapMemberGeneric(absl::string_view name, const rj::Value& value,
                              pb::Message* message, const JsonPath& path) {
  const pb::Descriptor* type = message->GetDescriptor();
  const pb::Reflection* reflection = message->GetReflection();
  if (const pb::FieldDescriptor* field = FieldForProperty(type, name)) {
    return MapField(value, field, message, reflection, path.Member(name));
  }
  if (type == IdentityType()) {
    auto* extra = pb::DynamicCastToGenerated<pb::Struct>(
        reflection->MutableMessage(message, IdentityAdditionalPropertiesField()));
    ToProtoValue(value, &(*extra->mutable_fields())[std::string(name)]);
  }
  // Any other unknown property is ignored.
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// Fast paths for the message types of every record (the report, AttendanceRecord, Identity,
// AttendanceInterval, Timestamp): generated accessors instead of reflection, with the same
// semantics as MapField (null clears; the last of duplicate properties wins; wrong JSON types
// are INVALID_ARGUMENT naming the JSON path). Properties they do not name go to
// MapMemberGeneric.

bool NameIs(absl::string_view name, const char* literal, std::size_t literal_size) {
  return name.size() == literal_size && std::memcmp(name.data(), literal, literal_size) == 0;
}
#define ROLLCALL_NAME_IS(name, literal) NameIs(name, literal, sizeof(literal) - 1)

// Optional (or plain) string field: null clears (or is an error for a field without presence).
template <typename Clear, typename Set>
absl::Status FastString(const rj::Value& value, const JsonPath& path, absl::string_view name,
                        Clear clear, Set set) {
  if (value.IsString()) {
    set(value.GetString(), static_cast<std::size_t>(value.GetStringLength()));
    return absl::OkStatus();
  }
  clear();
  if (value.IsNull()) return absl::OkStatus();
  return PathError(path.Member(name), "expected a string");
}

template <typename Clear, typename Set>
absl::Status FastInt32(const rj::Value& value, const JsonPath& path, absl::string_view name,
                       Clear clear, Set set) {
  if (value.IsInt()) {
    set(value.GetInt());
    return absl::OkStatus();
  }
  clear();
  if (value.IsNull()) return absl::OkStatus();
  absl::StatusOr<int32_t> n = ReadInt32(value, path.Member(name));
  if (!n.ok()) return n.status();
  set(*n);
  return absl::OkStatus();
}

// Timestamp field: `has`/`clear`/`mutable_` are the field's generated accessors.
template <typename Clear, typename Mutable>
absl::Status FastTimestamp(const rj::Value& value, const JsonPath& path, absl::string_view name,
                           Clear clear, Mutable mutable_field) {
  if (value.IsNull()) {
    clear();
    return absl::OkStatus();
  }
  const JsonPath here = path.Member(name);
  if (!value.IsString()) {
    clear();
    return PathError(here, "expected a date-time string");
  }
  absl::StatusOr<absl::Time> t = ParseDateTimeOffset(AsView(value));
  if (!t.ok()) {
    clear();
    return PathError(here, t.status().message());
  }
  pb::Timestamp* timestamp = mutable_field();
  if (!ToTimestamp(*t, timestamp)) {
    return PathError(here, absl::StrCat(Quoted(AsView(value)), " is outside the years 0001 to 9999"));
  }
  return absl::OkStatus();
}

// What a fast path says of one member: its outcome when it knows the member, nullopt when the
// descriptor-driven path should map it.
using Known = std::optional<absl::Status>;

// The loop of every object mapping: `json` must be an object; each member goes to `fast`,
// and those it does not know to MapMemberGeneric. Stops at the first error.
template <typename Fast>
absl::Status MapMembers(const rj::Value& json, pb::Message* message, const JsonPath& path,
                        Fast fast) {
  if (!json.IsObject()) return PathError(path, "expected an object");
  for (const auto& member : json.GetObject()) {
    const absl::string_view name = AsView(member.name);
    Known known = fast(name, member.value);
    const absl::Status status =
        known.has_value() ? *std::move(known) : MapMemberGeneric(name, member.value, message, path);
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status MapIdentity(const rj::Value& json, rollcall::v1::Identity* identity,
                         const JsonPath& path) {
  return MapMembers(json, identity, path, [&](absl::string_view name, const rj::Value& v) -> Known {
    absl::Status status;
    if (ROLLCALL_NAME_IS(name, "id")) {
      status = FastString(v, path, name, [&] { identity->clear_id(); },
                          [&](const char* s, std::size_t n) { identity->set_id(s, n); });
    } else if (ROLLCALL_NAME_IS(name, "displayName")) {
      status = FastString(v, path, name, [&] { identity->clear_display_name(); },
                          [&](const char* s, std::size_t n) { identity->set_display_name(s, n); });
    } else if (ROLLCALL_NAME_IS(name, "tenantId")) {
      status = FastString(v, path, name, [&] { identity->clear_tenant_id(); },
                          [&](const char* s, std::size_t n) { identity->set_tenant_id(s, n); });
    } else if (ROLLCALL_NAME_IS(name, "azureCommunicationServicesResourceId")) {
      status = FastString(
          v, path, name, [&] { identity->clear_azure_communication_services_resource_id(); },
          [&](const char* s, std::size_t n) {
            identity->set_azure_communication_services_resource_id(s, n);
          });
    } else if (ROLLCALL_NAME_IS(name, "@odata.type")) {
      status = FastString(v, path, name, [&] { identity->clear_odata_type(); },
                          [&](const char* s, std::size_t n) { identity->set_odata_type(s, n); });
    } else {
      return std::nullopt;
    }
    return status;
  });
}

absl::Status MapInterval(const rj::Value& json, rollcall::v1::AttendanceInterval* interval,
                         const JsonPath& path) {
  return MapMembers(json, interval, path, [&](absl::string_view name, const rj::Value& v) -> Known {
    absl::Status status;
    if (ROLLCALL_NAME_IS(name, "joinDateTime")) {
      status = FastTimestamp(v, path, name, [&] { interval->clear_join_date_time(); },
                             [&] { return interval->mutable_join_date_time(); });
    } else if (ROLLCALL_NAME_IS(name, "leaveDateTime")) {
      status = FastTimestamp(v, path, name, [&] { interval->clear_leave_date_time(); },
                             [&] { return interval->mutable_leave_date_time(); });
    } else if (ROLLCALL_NAME_IS(name, "durationInSeconds")) {
      status = FastInt32(v, path, name, [&] { interval->clear_duration_in_seconds(); },
                         [&](int32_t n) { interval->set_duration_in_seconds(n); });
    } else {
      return std::nullopt;
    }
    return status;
  });
}

absl::Status MapRecord(const rj::Value& json, rollcall::v1::AttendanceRecord* record,
                       const JsonPath& path) {
  return MapMembers(json, record, path, [&](absl::string_view name, const rj::Value& v) -> Known {
    absl::Status status;
    if (ROLLCALL_NAME_IS(name, "id")) {
      status = FastString(v, path, name, [&] { record->clear_id(); },
                          [&](const char* s, std::size_t n) { record->set_id(s, n); });
    } else if (ROLLCALL_NAME_IS(name, "emailAddress")) {
      status = FastString(v, path, name, [&] { record->clear_email_address(); },
                          [&](const char* s, std::size_t n) { record->set_email_address(s, n); });
    } else if (ROLLCALL_NAME_IS(name, "totalAttendanceInSeconds")) {
      status = FastInt32(v, path, name, [&] { record->clear_total_attendance_in_seconds(); },
                         [&](int32_t n) { record->set_total_attendance_in_seconds(n); });
    } else if (ROLLCALL_NAME_IS(name, "role")) {
      status = FastString(v, path, name, [&] { record->clear_role(); },
                          [&](const char* s, std::size_t n) { record->set_role(s, n); });
    } else if (ROLLCALL_NAME_IS(name, "identity")) {
      if (record->has_identity()) record->clear_identity();
      if (!v.IsNull()) status = MapIdentity(v, record->mutable_identity(), path.Member(name));
    } else if (ROLLCALL_NAME_IS(name, "attendanceIntervals")) {
      auto* intervals = record->mutable_attendance_intervals();
      if (!intervals->empty()) intervals->Clear();
      if (!v.IsNull()) {
        const JsonPath here = path.Member(name);
        if (!v.IsArray()) {
          status = PathError(here, "expected an array");
        } else {
          intervals->Reserve(static_cast<int>(v.Size()));
          int64_t index = 0;
          for (const auto& element : v.GetArray()) {
            status = MapInterval(element, intervals->Add(), here.Element(index++));
            if (!status.ok()) break;
          }
        }
      }
    } else if (ROLLCALL_NAME_IS(name, "registrationId")) {
      status = FastString(v, path, name, [&] { record->clear_registration_id(); },
                          [&](const char* s, std::size_t n) { record->set_registration_id(s, n); });
    } else if (ROLLCALL_NAME_IS(name, "registrantId")) {
      status = FastString(v, path, name, [&] { record->clear_registrant_id(); },
                          [&](const char* s, std::size_t n) { record->set_registrant_id(s, n); });
    } else {
      return std::nullopt;
    }
    return status;
  });
}

// Maps JSON array `json` (or null: left empty) onto a report's attendance_records, appending
// after clearing them (as MapField does).
absl::Status MapRecords(const rj::Value& json, rollcall::v1::MeetingAttendanceReport* report,
                        const JsonPath& here) {
  auto* records = report->mutable_attendance_records();
  if (!records->empty()) records->Clear();
  if (json.IsNull()) return absl::OkStatus();
  if (!json.IsArray()) return PathError(here, "expected an array");
  records->Reserve(static_cast<int>(json.Size()));
  int64_t index = 0;
  for (const auto& element : json.GetArray()) {
    absl::Status status = MapRecord(element, records->Add(), here.Element(index++));
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status MapReport(const rj::Value& json, rollcall::v1::MeetingAttendanceReport* report,
                       const JsonPath& path) {
  return MapMembers(json, report, path, [&](absl::string_view name, const rj::Value& v) -> Known {
    absl::Status status;
    if (ROLLCALL_NAME_IS(name, "id")) {
      // Not optional: null is an error.
      if (v.IsString()) {
        report->set_id(v.GetString(), v.GetStringLength());
      } else {
        report->clear_id();
        status = PathError(path.Member(name), v.IsNull() ? "must not be null" : "expected a string");
      }
    } else if (ROLLCALL_NAME_IS(name, "totalParticipantCount")) {
      status = FastInt32(v, path, name, [&] { report->clear_total_participant_count(); },
                         [&](int32_t n) { report->set_total_participant_count(n); });
    } else if (ROLLCALL_NAME_IS(name, "meetingStartDateTime")) {
      status = FastTimestamp(v, path, name, [&] { report->clear_meeting_start_date_time(); },
                             [&] { return report->mutable_meeting_start_date_time(); });
    } else if (ROLLCALL_NAME_IS(name, "meetingEndDateTime")) {
      status = FastTimestamp(v, path, name, [&] { report->clear_meeting_end_date_time(); },
                             [&] { return report->mutable_meeting_end_date_time(); });
    } else if (ROLLCALL_NAME_IS(name, "attendanceRecords")) {
      status = MapRecords(v, report, path.Member(name));
    } else {
      return std::nullopt;
    }
    return status;
  });
}

#undef ROLLCALL_NAME_IS

// Maps the members of JSON object `json` onto `message`; see the block comment above. The
// record types go through their fast paths.
absl::Status MapObject(const rj::Value& json, pb::Message* message, const JsonPath& path) {
  const pb::Descriptor* type = message->GetDescriptor();
  if (type == RecordType()) {
    return MapRecord(json, static_cast<rollcall::v1::AttendanceRecord*>(message), path);
  }
  if (type == IdentityType()) {
    return MapIdentity(json, static_cast<rollcall::v1::Identity*>(message), path);
  }
  if (type == IntervalType()) {
    return MapInterval(json, static_cast<rollcall::v1::AttendanceInterval*>(message), path);
  }
  if (type == ReportType()) {
    return MapReport(json, static_cast<rollcall::v1::MeetingAttendanceReport*>(message), path);
  }
  return MapMembers(json, message, path,
                    [](absl::string_view, const rj::Value&) -> Known { return std::nullopt; });
}

// Sets *out from the optional string member `name` of `object` ("" when absent or null).
absl::Status ReadNextLink(const rj::Value& object, absl::string_view name, std::string* out) {
  const rj::Value* link = FindMember(object, name);
  if (link == nullptr || link->IsNull()) return absl::OkStatus();
  if (!link->IsString()) return PathError(JsonPath{nullptr, name}, "expected a string");
  if (out != nullptr) *out = std::string(AsView(*link));
  return absl::OkStatus();
}

// Seconds from a number or a numeric string (the identity platform has sent both).
absl::StatusOr<absl::Duration> ReadSeconds(const rj::Value& value, absl::string_view name) {
  constexpr double kMaxSeconds = 366.0 * 24 * 3600;
  double seconds = 0;
  if (value.IsNumber()) {
    seconds = value.GetDouble();
  } else if (!value.IsString() || !absl::SimpleAtod(AsView(value), &seconds)) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": expected a number of seconds"));
  }
  if (!std::isfinite(seconds) || seconds <= 0 || seconds > kMaxSeconds) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": out of range"));
  }
  return absl::Seconds(seconds);
}

bool IsLeapYear(int year) { return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0); }

int DaysInMonth(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && IsLeapYear(year) ? 29 : kDays[month - 1];
}

// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (the civil-from-days
// algorithm run backwards: eras of 400 years, years starting in March).
int64_t DaysFromCivil(int64_t year, int month, int day) {
  year -= month <= 2 ? 1 : 0;
  const int64_t era = (year >= 0 ? year : year - 399) / 400;
  const int64_t year_of_era = year - era * 400;                                   // [0, 399]
  const int64_t day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;  // [0, 365]
  const int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + day_of_era - 719468;
}

}  // namespace

absl::StatusOr<absl::Time> ParseDateTimeOffset(absl::string_view text_view) {
  const absl::string_view text = text_view;
  // YYYY-MM-DDThh:mm:ss[.f{1,9}](Z|+hh:mm|-hh:mm)
  const auto invalid = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid date-time ", Quoted(text), ": ", why));
  };
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!ReadDigits(text, 0, 4, &year) || text.size() < 19 || text[4] != '-' ||
      !ReadDigits(text, 5, 2, &month) || text[7] != '-' || !ReadDigits(text, 8, 2, &day) ||
      (text[10] != 'T' && text[10] != 't') || !ReadDigits(text, 11, 2, &hour) ||
      text[13] != ':' || !ReadDigits(text, 14, 2, &minute) || text[16] != ':' ||
      !ReadDigits(text, 17, 2, &second)) {
    return invalid("expected YYYY-MM-DDThh:mm:ss");
  }
  if (month < 1 || month > 12 || day < 1 || day > DaysInMonth(year, month) || hour > 23 ||
      minute > 59 || second > 59) {
    return invalid("no such date or time of day");
  }

  std::size_t pos = 19;
  int64_t nanos = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    int digits = 0;
    while (pos < text.size() && absl::ascii_isdigit(static_cast<unsigned char>(text[pos]))) {
      if (++digits > 9) return invalid("more than 9 fractional digits");
      nanos = nanos * 10 + (text[pos] - '0');
      ++pos;
    }
    if (digits == 0) return invalid("no digits after '.'");
    for (int i = digits; i < 9; ++i) nanos *= 10;
  }

  absl::Duration offset;
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    int offset_hours = 0, offset_minutes = 0;
    if (!ReadDigits(text, pos + 1, 2, &offset_hours) || pos + 3 >= text.size() ||
        text[pos + 3] != ':' || !ReadDigits(text, pos + 4, 2, &offset_minutes) ||
        offset_hours > 23 || offset_minutes > 59) {
      return invalid("expected a +hh:mm or -hh:mm offset");
    }
    offset = absl::Hours(offset_hours) + absl::Minutes(offset_minutes);
    if (text[pos] == '-') offset = -offset;
    pos += 6;
  } else {
    return invalid("expected Z or a +hh:mm offset");
  }
  if (pos != text.size()) return invalid("unexpected characters after the offset");

  const int64_t unix_seconds =
      DaysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
  return absl::FromUnixSeconds(unix_seconds) - offset + absl::Nanoseconds(nanos);
}

absl::Status ParseAttendanceReport(absl::string_view json,
                                   rollcall::v1::MeetingAttendanceReport* report,
                                   std::string* records_next_link) {
  report->Clear();
  if (records_next_link != nullptr) records_next_link->clear();
  ParsedJson parsed;
  absl::Status status = ParseJson(json, &parsed);
  const rj::Document& doc = parsed.doc;
  if (status.ok()) status = MapReport(doc, report, JsonPath{});
  if (status.ok()) {
    status = ReadNextLink(doc, "attendanceRecords@odata.nextLink", records_next_link);
  }
  if (!status.ok()) report->Clear();
  return status;
}

absl::StatusOr<rollcall::v1::MeetingAttendanceReport> ParseAttendanceReport(
    absl::string_view json, std::string* records_next_link) {
  rollcall::v1::MeetingAttendanceReport report;
  absl::Status status = ParseAttendanceReport(json, &report, records_next_link);
  if (!status.ok()) return status;
  return report;
}

absl::Status ParseAttendanceRecordsPage(absl::string_view json,
                                        rollcall::v1::MeetingAttendanceReport* report,
                                        std::string* next_link) {
  if (next_link != nullptr) next_link->clear();
  ParsedJson parsed;
  absl::Status status = ParseJson(json, &parsed);
  const rj::Document& doc = parsed.doc;
  if (!status.ok()) return status;
  if (!doc.IsObject()) return PathError(JsonPath{}, "expected an object");
  const rj::Value* value = FindMember(doc, "value");
  if (value == nullptr) return PathError(JsonPath{nullptr, "value"}, "missing");

  // Map into a scratch report so that a bad page leaves `report` as it was; on the report's
  // arena when it has one, so that moving the records over swaps pointers, not contents.
  google::protobuf::Arena* const arena = report->GetArena();
  rollcall::v1::MeetingAttendanceReport* const page =
      google::protobuf::Arena::CreateMessage<rollcall::v1::MeetingAttendanceReport>(arena);
  const std::unique_ptr<rollcall::v1::MeetingAttendanceReport> owned(
      arena == nullptr ? page : nullptr);  // on the heap without an arena: ours to delete
  status = MapRecords(*value, page, JsonPath{nullptr, "value"});
  if (!status.ok()) return status;
  std::string link;
  status = ReadNextLink(doc, "@odata.nextLink", &link);
  if (!status.ok()) return status;

  for (auto& record : *page->mutable_attendance_records()) {
    report->add_attendance_records()->Swap(&record);
  }
  if (next_link != nullptr) *next_link = std::move(link);
  return absl::OkStatus();
}

bool ParseGraphErrorBody(absl::string_view json, GraphErrorBody* out) {
  ParsedJson parsed;
  if (!ParseJson(json, &parsed).ok()) return false;
  const rj::Document& doc = parsed.doc;
  const rj::Value* error = FindMember(doc, "error", /*ignore_case=*/true);
  if (error == nullptr || !error->IsObject()) return false;
  GraphErrorBody body;
  body.code = StringMember(*error, "code", true);
  body.message = StringMember(*error, "message", true);
  // errors.md's JSON says innerError, its table innererror; the SDK model says Date, the
  // service sends date: match all of them case-insensitively.
  if (const rj::Value* inner = FindMember(*error, "innererror", true)) {
    body.request_id = StringMember(*inner, "request-id", true);
    body.client_request_id = StringMember(*inner, "client-request-id", true);
    body.date = StringMember(*inner, "date", true);
  }
  *out = std::move(body);
  return true;
}

absl::StatusOr<TokenResponse> ParseTokenResponse(absl::string_view json) {
  ParsedJson parsed;
  absl::Status status = ParseJson(json, &parsed);
  const rj::Document& doc = parsed.doc;
  if (!status.ok()) return status;
  if (!doc.IsObject()) return absl::InvalidArgumentError("token response: expected an object");

  TokenResponse token;
  // Messages name fields only: the body holds the access token.
  const rj::Value* access_token = FindMember(doc, "access_token");
  if (access_token == nullptr || !access_token->IsString() ||
      access_token->GetStringLength() == 0) {
    return absl::InvalidArgumentError("access_token: missing or not a non-empty string");
  }
  token.access_token = std::string(AsView(*access_token));

  const rj::Value* token_type = FindMember(doc, "token_type");
  if (token_type != nullptr && !token_type->IsNull()) {
    if (!token_type->IsString() || !absl::EqualsIgnoreCase(AsView(*token_type), "Bearer")) {
      return absl::InvalidArgumentError("token_type: expected \"Bearer\"");
    }
  }
  token.token_type = "Bearer";

  token.expires_in = absl::Seconds(600);  // MSAL's default when expires_in is absent
  if (const rj::Value* expires_in = FindMember(doc, "expires_in");
      expires_in != nullptr && !expires_in->IsNull()) {
    absl::StatusOr<absl::Duration> seconds = ReadSeconds(*expires_in, "expires_in");
    if (!seconds.ok()) return seconds.status();
    token.expires_in = *seconds;
  }
  if (const rj::Value* refresh_in = FindMember(doc, "refresh_in");
      refresh_in != nullptr && !refresh_in->IsNull()) {
    absl::StatusOr<absl::Duration> seconds = ReadSeconds(*refresh_in, "refresh_in");
    if (!seconds.ok()) return seconds.status();
    token.refresh_in = *seconds;
  }
  return token;
}

bool ParseTokenErrorBody(absl::string_view json, TokenErrorBody* out) {
  ParsedJson parsed;
  if (!ParseJson(json, &parsed).ok() || !parsed.doc.IsObject()) return false;
  const rj::Document& doc = parsed.doc;
  const rj::Value* error = FindMember(doc, "error");
  if (error == nullptr || !error->IsString()) return false;

  TokenErrorBody body;
  body.error = std::string(AsView(*error));
  body.error_description = StringMember(doc, "error_description");
  body.trace_id = StringMember(doc, "trace_id");
  body.correlation_id = StringMember(doc, "correlation_id");

  const rj::Value* codes = FindMember(doc, "error_codes");
  if (codes != nullptr && codes->IsArray() && !codes->Empty() && (*codes)[0].IsUint64()) {
    body.aadsts_code = absl::StrCat("AADSTS", (*codes)[0].GetUint64());
  } else if (absl::StartsWith(body.error_description, "AADSTS")) {
    std::size_t end = 6;
    while (end < body.error_description.size() &&
           absl::ascii_isdigit(static_cast<unsigned char>(body.error_description[end]))) {
      ++end;
    }
    if (end > 6) body.aadsts_code = body.error_description.substr(0, end);
  }
  *out = std::move(body);
  return true;
}

}  // namespace rollcall::graph
