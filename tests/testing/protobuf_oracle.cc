#include "tests/testing/protobuf_oracle.h"

#include <set>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/json_util.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace rollcall::testing {
namespace {

using Allocator = rapidjson::Document::AllocatorType;

// Renames "@odata.type" to "odataType" and drops every other "@..." annotation, at any depth
// except inside an identity's additional members (they are data, kept as sent).
void RewriteAnnotations(rapidjson::Value& value, Allocator& a) {
  if (value.IsArray()) {
    for (auto& element : value.GetArray()) RewriteAnnotations(element, a);
    return;
  }
  if (!value.IsObject()) return;
  std::vector<std::string> drop;
  for (auto& member : value.GetObject()) {
    const std::string name = member.name.GetString();
    if (name == "@odata.type") {
      member.name.SetString("odataType", a);
    } else if (absl::StartsWith(name, "@")) {
      drop.push_back(name);
      continue;
    }
    if (name != "identity") RewriteAnnotations(member.value, a);
  }
  for (const std::string& name : drop) value.RemoveMember(name.c_str());
}

// Identity's own fields, by proto3 JSON name (rollcall/v1/attendance.proto).
const std::set<std::string>& IdentityFields() {
  static const auto* const fields = new std::set<std::string>{
      "id", "displayName", "tenantId", "azureCommunicationServicesResourceId"};
  return *fields;
}

void RewriteIdentity(rapidjson::Value& identity, Allocator& a) {
  if (!identity.IsObject()) return;
  rapidjson::Value rewritten(rapidjson::kObjectType);
  rapidjson::Value additional(rapidjson::kObjectType);
  for (auto& member : identity.GetObject()) {
    const std::string name = member.name.GetString();
    if (name == "@odata.type") {
      rewritten.AddMember("odataType", member.value, a);
    } else if (IdentityFields().count(name) > 0) {
      rewritten.AddMember(rapidjson::Value(name.c_str(), a), member.value, a);
    } else {
      additional.AddMember(rapidjson::Value(name.c_str(), a), member.value, a);
    }
  }
  if (additional.MemberCount() > 0) rewritten.AddMember("additionalProperties", additional, a);
  identity = rewritten;
}

// The proto3 JSON names of `type`'s fields.
std::set<std::string> JsonNames(const google::protobuf::Descriptor* type) {
  std::set<std::string> names;
  for (int i = 0; i < type->field_count(); ++i) names.insert(type->field(i)->json_name());
  return names;
}

// A report's or a record's members: OData annotations (any name holding '@', such as
// "@odata.context" or "attendanceRecords@odata.nextLink") dropped, members that no field of
// `type` names moved into "additionalProperties" (Rollcall keeps what Graph adds there).
void RewriteOpenMembers(rapidjson::Value& object, const google::protobuf::Descriptor* type,
                        Allocator& a) {
  if (!object.IsObject()) return;
  const std::set<std::string> known = JsonNames(type);
  rapidjson::Value rewritten(rapidjson::kObjectType);
  rapidjson::Value additional(rapidjson::kObjectType);
  for (auto& member : object.GetObject()) {
    const std::string name = member.name.GetString();
    if (absl::StrContains(name, "@")) continue;
    rapidjson::Value& target =
        known.count(name) > 0 && name != "additionalProperties" ? rewritten : additional;
    target.AddMember(rapidjson::Value(name.c_str(), a), member.value, a);
  }
  if (additional.MemberCount() > 0) rewritten.AddMember("additionalProperties", additional, a);
  object = rewritten;
}

}  // namespace

absl::StatusOr<std::string> OracleJson(const std::string& body) {
  rapidjson::Document doc;
  doc.Parse(body.c_str(), body.size());
  if (doc.HasParseError()) {
    return absl::InvalidArgumentError(
        absl::StrCat("oracle: not JSON: ", rapidjson::GetParseError_En(doc.GetParseError())));
  }
  Allocator& a = doc.GetAllocator();
  if (doc.IsObject() && doc.HasMember("attendanceRecords") && doc["attendanceRecords"].IsArray()) {
    for (auto& record : doc["attendanceRecords"].GetArray()) {
      if (record.IsObject() && record.HasMember("identity")) {
        RewriteIdentity(record["identity"], a);
      }
      RewriteOpenMembers(record, rollcall::v1::AttendanceRecord::descriptor(), a);
    }
  }
  RewriteOpenMembers(doc, rollcall::v1::MeetingAttendanceReport::descriptor(), a);
  RewriteAnnotations(doc, a);
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  doc.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

absl::StatusOr<rollcall::v1::MeetingAttendanceReport> OracleReport(const std::string& body) {
  absl::StatusOr<std::string> json = OracleJson(body);
  if (!json.ok()) return json.status();
  rollcall::v1::MeetingAttendanceReport report;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto status = google::protobuf::util::JsonStringToMessage(*json, &report, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("oracle: protobuf's JSON parser refused ", *json, ": ", status.ToString()));
  }
  return report;
}

}  // namespace rollcall::testing
