#include "tests/graph_client/json_proto_comparator.h"

#include <set>
#include <string>

#include "absl/time/time.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "gtest/gtest.h"

namespace rollcall::testing {
namespace {

namespace pb = google::protobuf;
namespace rj = rapidjson;

std::string JsonString(const rj::Value& v) {
  return std::string(v.GetString(), v.GetStringLength());
}

std::string Join(const std::string& path, const std::string& member) {
  return path.empty() ? member : path + "." + member;
}

class Comparator {
 public:
  int failures() const { return failures_; }

  void CompareObject(const rj::Value& json, const pb::Message& message, const std::string& path) {
    if (!json.IsObject()) return Fail(path, "the JSON is not an object");
    const pb::Descriptor* type = message.GetDescriptor();
    const pb::Reflection* reflection = message.GetReflection();
    const pb::FieldDescriptor* open = OpenTypeField(type);

    std::set<const pb::FieldDescriptor*> seen;
    std::set<std::string> extra_keys;
    for (const auto& member : json.GetObject()) {
      const std::string name = JsonString(member.name);
      const std::string where = Join(path, name);
      if (name == "@odata.context") continue;
      // Reports and records leave OData annotations out; an identity keeps them (its
      // @odata.type in odata_type).
      if (IsAnnotation(name) && type->FindFieldByName("odata_type") == nullptr) continue;
      if (const pb::FieldDescriptor* field = FieldForMember(type, name)) {
        seen.insert(field);
        CompareField(member.value, message, field, where);
        continue;
      }
      if (open == nullptr) {
        Fail(where, "Graph sent this property but no field of " + type->full_name() +
                        " holds it");
        continue;
      }
      extra_keys.insert(name);
      const auto& extra =
          static_cast<const pb::Struct&>(reflection->GetMessage(message, open)).fields();
      const auto it = extra.find(name);
      if (it == extra.end()) {
        Fail(where, "a property no field names, missing from additional_properties");
      } else {
        CompareValue(member.value, it->second, where);
      }
    }

    // Nothing the JSON lacks may be set.
    std::vector<const pb::FieldDescriptor*> set_fields;
    reflection->ListFields(message, &set_fields);
    for (const pb::FieldDescriptor* field : set_fields) {
      if (field == open) {
        const auto& extra =
            static_cast<const pb::Struct&>(reflection->GetMessage(message, open)).fields();
        for (const auto& [key, value] : extra) {
          if (extra_keys.count(key) == 0) {
            Fail(Join(path, key), "in additional_properties but not in the JSON");
          }
        }
        if (extra.empty()) Fail(Join(path, field->name()), "set but empty");
      } else if (seen.count(field) == 0) {
        Fail(Join(path, field->json_name()), "set in the message but absent from the JSON");
      }
    }
  }

 private:
  void Fail(const std::string& path, const std::string& what) {
    ++failures_;
    ADD_FAILURE() << (path.empty() ? "(root)" : path) << ": " << what;
  }

  // "@odata.context", "attendanceRecords@odata.nextLink": only annotation names hold an '@'.
  static bool IsAnnotation(const std::string& name) {
    return name.find('@') != std::string::npos;
  }

  // additional_properties (a Struct) marks a message that keeps what it does not name.
  static const pb::FieldDescriptor* OpenTypeField(const pb::Descriptor* type) {
    const pb::FieldDescriptor* field = type->FindFieldByName("additional_properties");
    if (field != nullptr && field->message_type() == pb::Struct::descriptor()) return field;
    return nullptr;
  }

  static const pb::FieldDescriptor* FieldForMember(const pb::Descriptor* type,
                                                   const std::string& name) {
    if (name == "@odata.type") return type->FindFieldByName("odata_type");
    for (int i = 0; i < type->field_count(); ++i) {
      const pb::FieldDescriptor* field = type->field(i);
      if (field->name() == "odata_type" || field == OpenTypeField(type)) continue;
      if (field->json_name() == name) return field;
    }
    return nullptr;
  }

  void CompareField(const rj::Value& json, const pb::Message& message,
                    const pb::FieldDescriptor* field, const std::string& path) {
    const pb::Reflection* reflection = message.GetReflection();
    if (json.IsNull()) {
      if (field->is_repeated()) {
        if (reflection->FieldSize(message, field) != 0) {
          Fail(path, "null, but the list is not empty");
        }
      } else if (!field->has_presence()) {
        Fail(path, "null, but the field cannot say null");
      } else if (reflection->HasField(message, field)) {
        Fail(path, "null, but the field is set");
      }
      return;
    }
    if (field->is_repeated()) {
      if (!json.IsArray()) return Fail(path, "the JSON is not an array");
      const int size = reflection->FieldSize(message, field);
      if (size != static_cast<int>(json.Size())) {
        return Fail(path, "has " + std::to_string(json.Size()) + " elements, the field " +
                              std::to_string(size));
      }
      if (field->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE) {
        return Fail(path, "repeated scalars are not supported by this comparator");
      }
      for (int i = 0; i < size; ++i) {
        CompareObject(json[static_cast<rj::SizeType>(i)],
                      reflection->GetRepeatedMessage(message, field, i),
                      path + "[" + std::to_string(i) + "]");
      }
      return;
    }
    if (field->has_presence() && !reflection->HasField(message, field)) {
      return Fail(path, "the JSON has a value, the field is unset");
    }
    switch (field->cpp_type()) {
      case pb::FieldDescriptor::CPPTYPE_STRING:
        if (!json.IsString()) return Fail(path, "the JSON is not a string");
        if (reflection->GetString(message, field) != JsonString(json)) {
          Fail(path, "\"" + JsonString(json) + "\" != \"" + reflection->GetString(message, field) +
                         "\"");
        }
        return;
      case pb::FieldDescriptor::CPPTYPE_INT32:
        if (!json.IsInt()) return Fail(path, "the JSON is not a 32-bit integer");
        if (reflection->GetInt32(message, field) != json.GetInt()) {
          Fail(path, std::to_string(json.GetInt()) +
                         " != " + std::to_string(reflection->GetInt32(message, field)));
        }
        return;
      case pb::FieldDescriptor::CPPTYPE_MESSAGE:
        if (field->message_type() == pb::Timestamp::descriptor()) {
          return CompareTimestamp(json, reflection->GetMessage(message, field), path);
        }
        return CompareObject(json, reflection->GetMessage(message, field), path);
      default:
        return Fail(path, "a field type this comparator does not know");
    }
  }

  void CompareTimestamp(const rj::Value& json, const pb::Message& timestamp,
                        const std::string& path) {
    if (!json.IsString()) return Fail(path, "the JSON is not a date-time string");
    absl::Time expected;
    std::string error;
    if (!absl::ParseTime(absl::RFC3339_full, JsonString(json), &expected, &error)) {
      return Fail(path, "the test's own RFC 3339 parser rejects \"" + JsonString(json) +
                            "\": " + error);
    }
    const auto& ts = static_cast<const pb::Timestamp&>(timestamp);
    const absl::Time actual = absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
    if (actual != expected) {
      Fail(path, "\"" + JsonString(json) + "\" != " + absl::FormatTime(absl::RFC3339_full, actual,
                                                                      absl::UTCTimeZone()));
    }
  }

  void CompareValue(const rj::Value& json, const pb::Value& value, const std::string& path) {
    switch (json.GetType()) {
      case rj::kNullType:
        if (value.kind_case() != pb::Value::kNullValue) Fail(path, "null became non-null");
        return;
      case rj::kFalseType:
      case rj::kTrueType:
        if (value.kind_case() != pb::Value::kBoolValue || value.bool_value() != json.GetBool()) {
          Fail(path, "boolean differs");
        }
        return;
      case rj::kNumberType:
        if (value.kind_case() != pb::Value::kNumberValue ||
            value.number_value() != json.GetDouble()) {
          Fail(path, "number differs");
        }
        return;
      case rj::kStringType:
        if (value.kind_case() != pb::Value::kStringValue ||
            value.string_value() != JsonString(json)) {
          Fail(path, "string differs");
        }
        return;
      case rj::kArrayType: {
        if (value.kind_case() != pb::Value::kListValue ||
            value.list_value().values_size() != static_cast<int>(json.Size())) {
          return Fail(path, "array differs");
        }
        for (rj::SizeType i = 0; i < json.Size(); ++i) {
          CompareValue(json[i], value.list_value().values(static_cast<int>(i)),
                       path + "[" + std::to_string(i) + "]");
        }
        return;
      }
      case rj::kObjectType: {
        if (value.kind_case() != pb::Value::kStructValue ||
            value.struct_value().fields_size() != static_cast<int>(json.MemberCount())) {
          return Fail(path, "object differs");
        }
        for (const auto& member : json.GetObject()) {
          const auto& fields = value.struct_value().fields();
          const auto it = fields.find(JsonString(member.name));
          if (it == fields.end()) {
            Fail(Join(path, JsonString(member.name)), "missing");
          } else {
            CompareValue(member.value, it->second, Join(path, JsonString(member.name)));
          }
        }
        return;
      }
    }
  }

  int failures_ = 0;
};

}  // namespace

int CompareJsonToProto(const rj::Value& json, const pb::Message& message,
                       const std::string& path) {
  Comparator comparator;
  comparator.CompareObject(json, message, path);
  return comparator.failures();
}

}  // namespace rollcall::testing
