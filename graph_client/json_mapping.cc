// The report mapping: Graph's meetingAttendanceReport and attendanceRecord bodies to
// rollcall.v1 messages. One hand-written mapping per message type of attendance.proto, each
// with generated accessors (no reflection): tests/graph_client/json_mapping_test.cc's
// FullReport test fails when a field of the proto is left unmapped.

#include "graph_client/json_mapping.h"

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "graph_client/date_time.h"
#include "graph_client/json_reader.h"
#include "rapidjson/document.h"

namespace rollcall::graph {
namespace {

namespace rj = rapidjson;
namespace pb = google::protobuf;
namespace v1 = rollcall::v1;

using json::AsView;
using json::Path;
using json::PathError;

// --- The load's memory budget while a message is mapped ---------------------------------------
// Each entry point given a LoadBudget and a message on an arena sets this thread's budget
// (BudgetScope) for the time it maps, so that every loop of the mappers below can stop once the
// arena has grown past it, without the budget threading through every signature.
struct MappingBudget {
  LoadBudget* load;
  const pb::Arena* arena;
  uint64_t max_arena_bytes;  // the load's memory less the parsed page's
};
thread_local MappingBudget* t_budget = nullptr;

class BudgetScope {
 public:
  explicit BudgetScope(MappingBudget* budget) : previous_(t_budget) {
    if (budget->load != nullptr && budget->arena != nullptr) t_budget = budget;
  }
  ~BudgetScope() { t_budget = previous_; }
  BudgetScope(const BudgetScope&) = delete;
  BudgetScope& operator=(const BudgetScope&) = delete;

 private:
  MappingBudget* const previous_;
};

uint64_t ArenaBytes(const pb::Arena* arena) {
  return arena == nullptr ? 0 : arena->SpaceAllocated();
}

absl::Status MemoryExceeded(LoadBudget* budget) {
  budget->exceeded = LoadBudget::Exceeded::kMemory;
  return absl::ResourceExhaustedError(
      absl::StrCat("holding it would take more than ", budget->max_memory, " bytes of memory"));
}

// Whether the message being mapped on this thread has outgrown its budget (then noted in it).
bool OverBudget() {
  MappingBudget* budget = t_budget;
  if (budget == nullptr) return false;
  if (budget->load->exceeded != LoadBudget::Exceeded::kMemory &&
      budget->arena->SpaceAllocated() > budget->max_arena_bytes) {
    budget->load->exceeded = LoadBudget::Exceeded::kMemory;
  }
  return budget->load->exceeded == LoadBudget::Exceeded::kMemory;
}

absl::Status OverBudgetError() { return MemoryExceeded(t_budget->load); }

// Parses `json` into *parsed within what is left of *budget (when not null) while `arena` (the
// message's; may be null) holds what it holds, counting the elements of `records_member` as
// records. Sets *mapping to the budget the message's mapping then has.
absl::Status ParseWithin(absl::string_view json, absl::string_view records_member,
                         const pb::Arena* arena, LoadBudget* budget, json::ParsedJson* parsed,
                         MappingBudget* mapping) {
  *mapping = MappingBudget{budget, arena, 0};
  if (budget == nullptr) return json::Parse(json, parsed);
  json::ParseLimits limits;
  limits.records_member = records_member;
  limits.max_records = budget->max_records - budget->records;
  const uint64_t held = ArenaBytes(arena);
  limits.max_bytes = held < budget->max_memory ? budget->max_memory - held : 0;
  json::ParseCounts counts;
  absl::Status status = json::Parse(json, parsed, limits, &counts);
  budget->records += counts.records;
  if (status.code() == absl::StatusCode::kResourceExhausted) {
    if (counts.records > limits.max_records) {
      budget->exceeded = LoadBudget::Exceeded::kRecords;
      return absl::ResourceExhaustedError(
          absl::StrCat("it holds more than ", budget->max_records, " attendance records"));
    }
    return MemoryExceeded(budget);
  }
  mapping->max_arena_bytes = budget->max_memory - counts.bytes;
  return status;
}

// Converts any JSON value to google.protobuf.Value (numbers become doubles, as in proto3 JSON).
// Recursion is bounded by json::kMaxDepth.
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
      out->set_string_value(std::string(json::AsView(json)));
      break;
    case rj::kArrayType: {
      pb::ListValue* list = out->mutable_list_value();
      for (const auto& element : json.GetArray()) {
        if (OverBudget()) break;  // MapMembers reports it
        ToProtoValue(element, list->add_values());
      }
      break;
    }
    case rj::kObjectType: {
      auto* fields = out->mutable_struct_value()->mutable_fields();
      for (const auto& member : json.GetObject()) {
        if (OverBudget()) break;  // MapMembers reports it
        ToProtoValue(member.value, &(*fields)[std::string(json::AsView(member.name))]);
      }
      break;
    }
  }
}


// ---------------------------------------------------------------------------------------------
// Field mappers, one per kind of field. Each has the semantics every property of every message
// shares: null leaves an optional field or message unset and a list empty; the last of
// duplicate properties wins; a wrong JSON type is INVALID_ARGUMENT naming the JSON path.

bool NameIs(absl::string_view name, const char* literal, std::size_t literal_size) {
  return name.size() == literal_size && std::memcmp(name.data(), literal, literal_size) == 0;
}
#define ROLLCALL_NAME_IS(name, literal) NameIs(name, literal, sizeof(literal) - 1)

// An optional string field; `set` takes (const char*, size_t).
template <typename Clear, typename Set>
absl::Status MapString(const rj::Value& value, const Path& path, absl::string_view name,
                       Clear clear, Set set) {
  if (value.IsString()) {
    set(value.GetString(), static_cast<std::size_t>(value.GetStringLength()));
    return absl::OkStatus();
  }
  clear();
  if (value.IsNull()) return absl::OkStatus();
  return PathError(path.Member(name), "expected a string");
}

// A string field without presence (an entity's id, which Graph never sends as null): null is
// an error, not an empty string.
template <typename Clear, typename Set>
absl::Status MapRequiredString(const rj::Value& value, const Path& path, absl::string_view name,
                               Clear clear, Set set) {
  if (value.IsString()) {
    set(value.GetString(), static_cast<std::size_t>(value.GetStringLength()));
    return absl::OkStatus();
  }
  clear();
  return PathError(path.Member(name), value.IsNull() ? "must not be null" : "expected a string");
}

// An optional int32 field.
template <typename Clear, typename Set>
absl::Status MapInt32(const rj::Value& value, const Path& path, absl::string_view name,
                      Clear clear, Set set) {
  if (value.IsInt()) {
    set(value.GetInt());
    return absl::OkStatus();
  }
  clear();
  if (value.IsNull()) return absl::OkStatus();
  absl::StatusOr<int32_t> n = json::ReadInt32(value, path.Member(name));
  if (!n.ok()) return n.status();
  set(*n);
  return absl::OkStatus();
}

// A Timestamp field from a date-time string; `mutable_field` returns the field's message.
template <typename Clear, typename Mutable>
absl::Status MapTimestamp(const rj::Value& value, const Path& path, absl::string_view name,
                          Clear clear, Mutable mutable_field) {
  if (value.IsNull()) {
    clear();
    return absl::OkStatus();
  }
  const Path here = path.Member(name);
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
    return PathError(here, absl::StrCat(json::Quoted(AsView(value)),
                                        " is outside the years 0001 to 9999"));
  }
  return absl::OkStatus();
}

// A singular message field: cleared, then (unless null) mapped by `map` into `mutable_field()`.
template <typename Has, typename Clear, typename Mutable, typename Map>
absl::Status MapMessage(const rj::Value& value, const Path& path, absl::string_view name,
                        Has has, Clear clear, Mutable mutable_field, Map map) {
  if (has()) clear();
  if (value.IsNull()) return absl::OkStatus();
  return map(value, mutable_field(), path.Member(name));
}

// A repeated message field: emptied, then (unless null) each element of the array mapped by
// `map` into a new element.
template <typename Message, typename Map>
absl::Status MapList(const rj::Value& value, const Path& path, absl::string_view name,
                     pb::RepeatedPtrField<Message>* list, Map map) {
  if (!list->empty()) list->Clear();
  if (value.IsNull()) return absl::OkStatus();
  const Path here = path.Member(name);
  if (!value.IsArray()) return PathError(here, "expected an array");
  list->Reserve(static_cast<int>(value.Size()));
  int64_t index = 0;
  for (const auto& element : value.GetArray()) {
    absl::Status status = map(element, list->Add(), here.Element(index++));
    if (!status.ok()) return status;
    if (OverBudget()) return OverBudgetError();
  }
  return absl::OkStatus();
}

// What a message's mapping says of one member: its outcome when it names the member, nullopt
// when it does not.
using Known = std::optional<absl::Status>;

// The loop of every object mapping: `json` must be an object; each member goes to `known`,
// and those it does not name to `unknown`. Stops at the first error.
template <typename KnownFn, typename UnknownFn>
absl::Status MapMembers(const rj::Value& json, const Path& path, KnownFn known,
                        UnknownFn unknown) {
  if (!json.IsObject()) return PathError(path, "expected an object");
  for (const auto& member : json.GetObject()) {
    const absl::string_view name = AsView(member.name);
    Known result = known(name, member.value);
    if (!result.has_value()) {
      unknown(name, member.value);
    } else if (!result->ok()) {
      return *std::move(result);
    }
    if (OverBudget()) return OverBudgetError();
  }
  return absl::OkStatus();
}

// Properties a message without additional_properties does not name are ignored (Graph adds
// properties over time).
void Ignore(absl::string_view, const rj::Value&) {}

// Keeps `value` under `name` in `extra`, as Graph sent it; the last of duplicate names wins
// (whole, not merged with the first).
void Keep(pb::Struct* extra, absl::string_view name, const rj::Value& value) {
  pb::Value& slot = (*extra->mutable_fields())[std::string(name)];
  slot.Clear();
  ToProtoValue(value, &slot);
}

// An OData annotation ("@odata.context", "attendanceRecords@odata.nextLink", "@odata.etag"):
// metadata about the payload, not a property of the resource. Annotation names, and only they,
// hold an '@' (OData JSON format, "Instance Annotations").
bool IsAnnotation(absl::string_view name) { return name.find('@') != absl::string_view::npos; }

// Keeps every property `mutable_extra()`'s message does not name, except annotations: what Graph
// adds to a report or record before attendance.proto names it reaches callers as sent.
template <typename MutableExtra>
auto KeepProperties(MutableExtra mutable_extra) {
  return [mutable_extra](absl::string_view name, const rj::Value& value) {
    if (!IsAnnotation(name)) Keep(mutable_extra(), name, value);
  };
}

// ---------------------------------------------------------------------------------------------
// One mapping per message type.

absl::Status MapIdentity(const rj::Value& json, v1::Identity* identity, const Path& path) {
  const auto known = [&](absl::string_view name, const rj::Value& v) -> Known {
    if (ROLLCALL_NAME_IS(name, "id")) {
      return MapString(v, path, name, [&] { identity->clear_id(); },
                       [&](const char* s, std::size_t n) { identity->set_id(s, n); });
    }
    if (ROLLCALL_NAME_IS(name, "displayName")) {
      return MapString(v, path, name, [&] { identity->clear_display_name(); },
                       [&](const char* s, std::size_t n) { identity->set_display_name(s, n); });
    }
    if (ROLLCALL_NAME_IS(name, "tenantId")) {
      return MapString(v, path, name, [&] { identity->clear_tenant_id(); },
                       [&](const char* s, std::size_t n) { identity->set_tenant_id(s, n); });
    }
    if (ROLLCALL_NAME_IS(name, "azureCommunicationServicesResourceId")) {
      return MapString(
          v, path, name, [&] { identity->clear_azure_communication_services_resource_id(); },
          [&](const char* s, std::size_t n) {
            identity->set_azure_communication_services_resource_id(s, n);
          });
    }
    if (ROLLCALL_NAME_IS(name, "@odata.type")) {
      return MapString(v, path, name, [&] { identity->clear_odata_type(); },
                       [&](const char* s, std::size_t n) { identity->set_odata_type(s, n); });
    }
    return std::nullopt;
  };
  // Graph declares identities open types: every other property is kept as it came, annotations
  // too (only @odata.type has a field of its own).
  const auto keep = [&](absl::string_view name, const rj::Value& v) {
    Keep(identity->mutable_additional_properties(), name, v);
  };
  return MapMembers(json, path, known, keep);
}

absl::Status MapInterval(const rj::Value& json, v1::AttendanceInterval* interval,
                         const Path& path) {
  return MapMembers(json, path, [&](absl::string_view name, const rj::Value& v) -> Known {
    if (ROLLCALL_NAME_IS(name, "joinDateTime")) {
      return MapTimestamp(v, path, name, [&] { interval->clear_join_date_time(); },
                          [&] { return interval->mutable_join_date_time(); });
    }
    if (ROLLCALL_NAME_IS(name, "leaveDateTime")) {
      return MapTimestamp(v, path, name, [&] { interval->clear_leave_date_time(); },
                          [&] { return interval->mutable_leave_date_time(); });
    }
    if (ROLLCALL_NAME_IS(name, "durationInSeconds")) {
      return MapInt32(v, path, name, [&] { interval->clear_duration_in_seconds(); },
                      [&](int32_t n) { interval->set_duration_in_seconds(n); });
    }
    return std::nullopt;
  }, Ignore);
}

absl::Status MapRegistrationInformation(const rj::Value& json,
                                        v1::VirtualEventExternalRegistrationInformation* info,
                                        const Path& path) {
  return MapMembers(json, path, [&](absl::string_view name, const rj::Value& v) -> Known {
    if (ROLLCALL_NAME_IS(name, "referrer")) {
      return MapString(v, path, name, [&] { info->clear_referrer(); },
                       [&](const char* s, std::size_t n) { info->set_referrer(s, n); });
    }
    if (ROLLCALL_NAME_IS(name, "registrationId")) {
      return MapString(v, path, name, [&] { info->clear_registration_id(); },
                       [&](const char* s, std::size_t n) { info->set_registration_id(s, n); });
    }
    return std::nullopt;
  }, Ignore);
}

absl::Status MapEngagement(const rj::Value& json, v1::MeetingEngagement* engagement,
                           const Path& path) {
  return MapMembers(json, path, [&](absl::string_view name, const rj::Value& v) -> Known {
    if (ROLLCALL_NAME_IS(name, "dateTime")) {
      return MapTimestamp(v, path, name, [&] { engagement->clear_date_time(); },
                          [&] { return engagement->mutable_date_time(); });
    }
    if (ROLLCALL_NAME_IS(name, "engagementType")) {
      return MapString(v, path, name, [&] { engagement->clear_engagement_type(); },
                       [&](const char* s, std::size_t n) { engagement->set_engagement_type(s, n); });
    }
    if (ROLLCALL_NAME_IS(name, "engagementSubType")) {
      return MapString(
          v, path, name, [&] { engagement->clear_engagement_sub_type(); },
          [&](const char* s, std::size_t n) { engagement->set_engagement_sub_type(s, n); });
    }
    return std::nullopt;
  }, Ignore);
}

absl::Status MapEventInformation(const rj::Value& json, v1::VirtualEventExternalInformation* info,
                                 const Path& path) {
  return MapMembers(json, path, [&](absl::string_view name, const rj::Value& v) -> Known {
    if (ROLLCALL_NAME_IS(name, "applicationId")) {
      return MapString(v, path, name, [&] { info->clear_application_id(); },
                       [&](const char* s, std::size_t n) { info->set_application_id(s, n); });
    }
    if (ROLLCALL_NAME_IS(name, "externalEventId")) {
      return MapString(v, path, name, [&] { info->clear_external_event_id(); },
                       [&](const char* s, std::size_t n) { info->set_external_event_id(s, n); });
    }
    return std::nullopt;
  }, Ignore);
}

absl::Status MapRecord(const rj::Value& json, v1::AttendanceRecord* record, const Path& path) {
  return MapMembers(json, path, [&](absl::string_view name, const rj::Value& v) -> Known {
    if (ROLLCALL_NAME_IS(name, "id")) {
      return MapString(v, path, name, [&] { record->clear_id(); },
                       [&](const char* s, std::size_t n) { record->set_id(s, n); });
    }
    if (ROLLCALL_NAME_IS(name, "emailAddress")) {
      return MapString(v, path, name, [&] { record->clear_email_address(); },
                       [&](const char* s, std::size_t n) { record->set_email_address(s, n); });
    }
    if (ROLLCALL_NAME_IS(name, "totalAttendanceInSeconds")) {
      return MapInt32(v, path, name, [&] { record->clear_total_attendance_in_seconds(); },
                      [&](int32_t n) { record->set_total_attendance_in_seconds(n); });
    }
    if (ROLLCALL_NAME_IS(name, "role")) {
      return MapString(v, path, name, [&] { record->clear_role(); },
                       [&](const char* s, std::size_t n) { record->set_role(s, n); });
    }
    if (ROLLCALL_NAME_IS(name, "identity")) {
      return MapMessage(
          v, path, name, [&] { return record->has_identity(); },
          [&] { record->clear_identity(); }, [&] { return record->mutable_identity(); },
          MapIdentity);
    }
    if (ROLLCALL_NAME_IS(name, "attendanceIntervals")) {
      return MapList(v, path, name, record->mutable_attendance_intervals(), MapInterval);
    }
    if (ROLLCALL_NAME_IS(name, "registrationId")) {
      return MapString(v, path, name, [&] { record->clear_registration_id(); },
                       [&](const char* s, std::size_t n) { record->set_registration_id(s, n); });
    }
    if (ROLLCALL_NAME_IS(name, "externalRegistrationInformation")) {
      return MapMessage(
          v, path, name, [&] { return record->has_external_registration_information(); },
          [&] { record->clear_external_registration_information(); },
          [&] { return record->mutable_external_registration_information(); },
          MapRegistrationInformation);
    }
    if (ROLLCALL_NAME_IS(name, "registrantId")) {
      return MapString(v, path, name, [&] { record->clear_registrant_id(); },
                       [&](const char* s, std::size_t n) { record->set_registrant_id(s, n); });
    }
    if (ROLLCALL_NAME_IS(name, "engagements")) {
      return MapList(v, path, name, record->mutable_engagements(), MapEngagement);
    }
    return std::nullopt;
  }, KeepProperties([record] { return record->mutable_additional_properties(); }));
}

absl::Status MapReport(const rj::Value& json, v1::MeetingAttendanceReport* report,
                       const Path& path) {
  return MapMembers(json, path, [&](absl::string_view name, const rj::Value& v) -> Known {
    if (ROLLCALL_NAME_IS(name, "id")) {
      return MapRequiredString(v, path, name, [&] { report->clear_id(); },
                               [&](const char* s, std::size_t n) { report->set_id(s, n); });
    }
    if (ROLLCALL_NAME_IS(name, "totalParticipantCount")) {
      return MapInt32(v, path, name, [&] { report->clear_total_participant_count(); },
                      [&](int32_t n) { report->set_total_participant_count(n); });
    }
    if (ROLLCALL_NAME_IS(name, "meetingStartDateTime")) {
      return MapTimestamp(v, path, name, [&] { report->clear_meeting_start_date_time(); },
                          [&] { return report->mutable_meeting_start_date_time(); });
    }
    if (ROLLCALL_NAME_IS(name, "meetingEndDateTime")) {
      return MapTimestamp(v, path, name, [&] { report->clear_meeting_end_date_time(); },
                          [&] { return report->mutable_meeting_end_date_time(); });
    }
    if (ROLLCALL_NAME_IS(name, "attendanceRecords")) {
      return MapList(v, path, name, report->mutable_attendance_records(), MapRecord);
    }
    if (ROLLCALL_NAME_IS(name, "externalEventInformation")) {
      return MapList(v, path, name, report->mutable_external_event_information(),
                     MapEventInformation);
    }
    return std::nullopt;
  }, KeepProperties([report] { return report->mutable_additional_properties(); }));
}

// An object property whose members map to fields of the enclosing message (chatInfo.threadId
// to chat_thread_id): null clears them all; `known_at(path_of_object, name, value)` maps one
// member, and members it does not name are ignored.
template <typename Clear, typename KnownAt>
absl::Status MapFlattened(const rj::Value& value, const Path& path, absl::string_view name,
                          Clear clear, KnownAt known_at) {
  clear();
  if (value.IsNull()) return absl::OkStatus();
  const Path here = path.Member(name);
  return MapMembers(
      value, here,
      [&](absl::string_view member, const rj::Value& v) { return known_at(here, member, v); },
      Ignore);
}

// onlineMeeting: the few properties rollcall.v1.OnlineMeeting names, some of them nested.
absl::Status MapOnlineMeeting(const rj::Value& json, v1::OnlineMeeting* meeting,
                              const Path& path) {
  const auto organizer_id = [&](const Path& at, absl::string_view name, const rj::Value& v) {
    return MapString(v, at, name, [&] { meeting->clear_organizer_id(); },
                     [&](const char* s, std::size_t n) { meeting->set_organizer_id(s, n); });
  };
  const auto clear_organizer = [&] { meeting->clear_organizer_id(); };
  // participants.organizer.identity.user.id, one level at a time.
  const auto user = [&](const Path& at, absl::string_view name, const rj::Value& v) -> Known {
    if (ROLLCALL_NAME_IS(name, "id")) return organizer_id(at, name, v);
    return std::nullopt;
  };
  const auto identity = [&](const Path& at, absl::string_view name, const rj::Value& v) -> Known {
    if (ROLLCALL_NAME_IS(name, "user")) return MapFlattened(v, at, name, clear_organizer, user);
    return std::nullopt;
  };
  const auto organizer = [&](const Path& at, absl::string_view name, const rj::Value& v) -> Known {
    if (ROLLCALL_NAME_IS(name, "identity")) {
      return MapFlattened(v, at, name, clear_organizer, identity);
    }
    return std::nullopt;
  };
  const auto participants = [&](const Path& at, absl::string_view name,
                                const rj::Value& v) -> Known {
    if (ROLLCALL_NAME_IS(name, "organizer")) {
      return MapFlattened(v, at, name, clear_organizer, organizer);
    }
    return std::nullopt;
  };

  return MapMembers(json, path, [&](absl::string_view name, const rj::Value& v) -> Known {
    if (ROLLCALL_NAME_IS(name, "id")) {
      return MapRequiredString(v, path, name, [&] { meeting->clear_id(); },
                               [&](const char* s, std::size_t n) { meeting->set_id(s, n); });
    }
    if (ROLLCALL_NAME_IS(name, "subject")) {
      return MapString(v, path, name, [&] { meeting->clear_subject(); },
                       [&](const char* s, std::size_t n) { meeting->set_subject(s, n); });
    }
    if (ROLLCALL_NAME_IS(name, "joinWebUrl")) {
      return MapString(v, path, name, [&] { meeting->clear_join_web_url(); },
                       [&](const char* s, std::size_t n) { meeting->set_join_web_url(s, n); });
    }
    if (ROLLCALL_NAME_IS(name, "creationDateTime")) {
      return MapTimestamp(v, path, name, [&] { meeting->clear_creation_date_time(); },
                          [&] { return meeting->mutable_creation_date_time(); });
    }
    if (ROLLCALL_NAME_IS(name, "startDateTime")) {
      return MapTimestamp(v, path, name, [&] { meeting->clear_start_date_time(); },
                          [&] { return meeting->mutable_start_date_time(); });
    }
    if (ROLLCALL_NAME_IS(name, "endDateTime")) {
      return MapTimestamp(v, path, name, [&] { meeting->clear_end_date_time(); },
                          [&] { return meeting->mutable_end_date_time(); });
    }
    if (ROLLCALL_NAME_IS(name, "videoTeleconferenceId")) {
      return MapString(
          v, path, name, [&] { meeting->clear_video_teleconference_id(); },
          [&](const char* s, std::size_t n) { meeting->set_video_teleconference_id(s, n); });
    }
    if (ROLLCALL_NAME_IS(name, "chatInfo")) {
      return MapFlattened(
          v, path, name, [&] { meeting->clear_chat_thread_id(); },
          [&](const Path& at, absl::string_view member, const rj::Value& value) -> Known {
            if (!ROLLCALL_NAME_IS(member, "threadId")) return std::nullopt;
            return MapString(
                value, at, member, [&] { meeting->clear_chat_thread_id(); },
                [&](const char* s, std::size_t n) { meeting->set_chat_thread_id(s, n); });
          });
    }
    if (ROLLCALL_NAME_IS(name, "joinMeetingIdSettings")) {
      return MapFlattened(
          v, path, name, [&] { meeting->clear_join_meeting_id(); },
          [&](const Path& at, absl::string_view member, const rj::Value& value) -> Known {
            if (!ROLLCALL_NAME_IS(member, "joinMeetingId")) return std::nullopt;
            return MapString(
                value, at, member, [&] { meeting->clear_join_meeting_id(); },
                [&](const char* s, std::size_t n) { meeting->set_join_meeting_id(s, n); });
          });
    }
    if (ROLLCALL_NAME_IS(name, "participants")) {
      return MapFlattened(v, path, name, clear_organizer, participants);
    }
    return std::nullopt;
  }, Ignore);
}

#undef ROLLCALL_NAME_IS

// Sets *out from the optional string member `name` of `object` ("" when absent or null).
absl::Status ReadNextLink(const rj::Value& object, absl::string_view name, std::string* out) {
  const rj::Value* link = json::FindMember(object, name);
  if (link == nullptr || link->IsNull()) return absl::OkStatus();
  if (!link->IsString()) return PathError(Path{nullptr, name}, "expected a string");
  if (out != nullptr) *out = std::string(AsView(*link));
  return absl::OkStatus();
}

// One page of a collection ({"value": [...], "@odata.nextLink": ...}): maps each element of
// value with `map`, appending to *out (on out's arena when it has one), and sets *next_link (""
// when absent). A bad page leaves *out as it was.
template <typename Message, typename Map>
absl::Status ParseCollectionPage(absl::string_view json, pb::RepeatedPtrField<Message>* out,
                                 Map map, std::string* next_link, LoadBudget* budget,
                                 absl::string_view records_member) {
  if (next_link != nullptr) next_link->clear();
  json::ParsedJson parsed;
  MappingBudget mapping;
  absl::Status status =
      ParseWithin(json, records_member, out->GetArena(), budget, &parsed, &mapping);
  const rj::Document& doc = parsed.doc;
  if (!status.ok()) return status;
  if (!doc.IsObject()) return PathError(Path{}, "expected an object");
  const rj::Value* value = json::FindMember(doc, "value");
  if (value == nullptr) return PathError(Path{nullptr, "value"}, "missing");
  std::string link;
  status = ReadNextLink(doc, "@odata.nextLink", &link);
  if (!status.ok()) return status;
  if (value->IsNull()) return absl::OkStatus();  // no elements, as a null list everywhere
  const Path root;
  const Path here = root.Member("value");
  if (!value->IsArray()) return PathError(here, "expected an array");

  // Mapped straight into *out, and cut back to its old size when an element fails: no scratch
  // copy, and on an arena nothing is moved.
  const BudgetScope scope(&mapping);
  const int before = out->size();
  out->Reserve(before + static_cast<int>(value->Size()));
  int64_t index = 0;
  for (const auto& element : value->GetArray()) {
    status = map(element, out->Add(), here.Element(index++));
    if (status.ok() && OverBudget()) status = OverBudgetError();
    if (!status.ok()) {
      out->DeleteSubrange(before, out->size() - before);
      return status;
    }
  }
  if (next_link != nullptr) *next_link = std::move(link);
  return absl::OkStatus();
}

}  // namespace

absl::Status ParseAttendanceReport(absl::string_view json,
                                   rollcall::v1::MeetingAttendanceReport* report,
                                   std::string* records_next_link, LoadBudget* budget) {
  report->Clear();
  if (records_next_link != nullptr) records_next_link->clear();
  json::ParsedJson parsed;
  MappingBudget mapping;
  absl::Status status =
      ParseWithin(json, "attendanceRecords", report->GetArena(), budget, &parsed, &mapping);
  const rj::Document& doc = parsed.doc;
  if (status.ok()) {
    const BudgetScope scope(&mapping);
    status = MapReport(doc, report, Path{});
  }
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
                                        std::string* next_link, LoadBudget* budget) {
  return ParseCollectionPage(json, report->mutable_attendance_records(), MapRecord, next_link,
                             budget, "value");
}

absl::Status ParseAttendanceReportsPage(
    absl::string_view json,
    google::protobuf::RepeatedPtrField<rollcall::v1::MeetingAttendanceReport>* reports,
    std::string* next_link, LoadBudget* budget) {
  return ParseCollectionPage(json, reports, MapReport, next_link, budget, "");
}

absl::Status ParseOnlineMeetingsPage(
    absl::string_view json,
    google::protobuf::RepeatedPtrField<rollcall::v1::OnlineMeeting>* meetings,
    std::string* next_link, LoadBudget* budget) {
  return ParseCollectionPage(json, meetings, MapOnlineMeeting, next_link, budget, "");
}

}  // namespace rollcall::graph
