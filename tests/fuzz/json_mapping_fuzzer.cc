// json_mapping_fuzzer: every parser of graph_client/json_mapping.h on the same untrusted bytes,
// as Graph or the identity platform (or anything between them and us) could send them.
//
// Beyond "never crashes, never leaks, never reads out of bounds", it checks:
//   - a report that parses is a faithful value: written back as Graph JSON it parses to the same
//     message (nothing lost or invented), and as protobuf wire bytes inside the
//     GetAttendanceReportResponse a client receives it parses back, equal, with protobuf's
//     default limits (what a gRPC client will do with it);
//   - every Timestamp it holds is one protobuf accepts (seconds in 0001..9999, nanos in range);
//   - a records page that fails leaves the report as it was; one that parses appends exactly
//     its records and round-trips the same way; so does a page of reports;
//   - a page of online meetings that fails leaves the list as it was; one that parses holds
//     meetings a client can read;
//   - a token response that parses has a non-empty token, type Bearer, lifetimes in (0, 366 d];
//   - error-body parsers that return false leave their output alone; an AADSTS code is
//     "AADSTS" and digits;
//   - under a small LoadBudget (on an arena), a report either parses to exactly what it parses to
//     without one, fails with the same INVALID_ARGUMENT, or stops RESOURCE_EXHAUSTED naming the
//     bound it passed, leaving the report empty;
//   - a date-time that parses, formatted again with 9 fractional digits, parses to the same
//     instant.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "google/protobuf/arena.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/protobuf/util/message_differencer.h"
#include "graph_client/date_time.h"
#include "graph_client/graph_errors.h"
#include "graph_client/json_mapping.h"
#include "graph_client/token_response.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "rollcall/v1/attendance.pb.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

namespace pb = google::protobuf;
namespace rj = rapidjson;
using rollcall::v1::MeetingAttendanceReport;
using JsonWriter = rj::Writer<rj::StringBuffer>;

constexpr int64_t kMinTimestampSeconds = -62135596800;  // 0001-01-01T00:00:00Z
constexpr int64_t kMaxTimestampSeconds = 253402300799;  // 9999-12-31T23:59:59Z

std::string Debug(const pb::Message& message) {
  std::string text = message.ShortDebugString();
  if (text.size() > 2000) text = text.substr(0, 2000) + "...";
  return text;
}

bool Equal(const pb::Message& a, const pb::Message& b) {
  return pb::util::MessageDifferencer::Equals(a, b);
}

// "YYYY-MM-DDThh:mm:ss.fffffffffZ": the form ParseDateTimeOffset reads (RFC 3339 in UTC, nine
// fractional digits).
std::string FormatTimestamp(const pb::Timestamp& ts) {
  const absl::CivilSecond c =
      absl::ToCivilSecond(absl::FromUnixSeconds(ts.seconds()), absl::UTCTimeZone());
  return absl::StrFormat("%04d-%02d-%02dT%02d:%02d:%02d.%09dZ", c.year(), c.month(), c.day(),
                         c.hour(), c.minute(), c.second(), ts.nanos());
}

void CheckTimestamp(const pb::Timestamp& ts) {
  FUZZ_CHECK(ts.seconds() >= kMinTimestampSeconds && ts.seconds() <= kMaxTimestampSeconds,
             "timestamp seconds %lld out of protobuf's range",
             static_cast<long long>(ts.seconds()));
  FUZZ_CHECK(ts.nanos() >= 0 && ts.nanos() < 1000000000, "timestamp nanos %d out of range",
             ts.nanos());
}

// google.protobuf.Value back to JSON.
void WriteValue(const pb::Value& value, JsonWriter& out) {
  switch (value.kind_case()) {
    case pb::Value::kNullValue:
      out.Null();
      break;
    case pb::Value::kBoolValue:
      out.Bool(value.bool_value());
      break;
    case pb::Value::kNumberValue:
      FUZZ_CHECK(out.Double(value.number_value()), "a number JSON cannot hold: %g",
                 value.number_value());
      break;
    case pb::Value::kStringValue:
      out.String(value.string_value().data(),
                 static_cast<rj::SizeType>(value.string_value().size()));
      break;
    case pb::Value::kListValue:
      out.StartArray();
      for (const auto& element : value.list_value().values()) WriteValue(element, out);
      out.EndArray();
      break;
    case pb::Value::kStructValue:
      out.StartObject();
      for (const auto& [name, member] : value.struct_value().fields()) {
        out.Key(name.data(), static_cast<rj::SizeType>(name.size()));
        WriteValue(member, out);
      }
      out.EndObject();
      break;
    case pb::Value::KIND_NOT_SET:
      FUZZ_CHECK(false, "a google.protobuf.Value with no kind");
  }
}

// The members of a rollcall.v1 message as Graph JSON, by reflection and independently of the
// mapping: a field is written under its json_name (Graph's property name), Identity.odata_type
// as "@odata.type", additional_properties (of an identity, a report or a record) as the
// message's own members, Timestamps as date-time strings; unset fields are left out.
void WriteMessage(const pb::Message& message, JsonWriter& out);

void WriteMembers(const pb::Message& message, JsonWriter& out) {
  const pb::Reflection* reflection = message.GetReflection();
  std::vector<const pb::FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const pb::FieldDescriptor* field : fields) {
    if (field->name() == "additional_properties" &&
        field->message_type() == pb::Struct::descriptor()) {
      const auto& extra =
          static_cast<const pb::Struct&>(reflection->GetMessage(message, field));
      for (const auto& [name, value] : extra.fields()) {
        out.Key(name.data(), static_cast<rj::SizeType>(name.size()));
        WriteValue(value, out);
      }
      continue;
    }
    const std::string key =
        field->containing_type() == rollcall::v1::Identity::descriptor() &&
                field->name() == "odata_type"
            ? "@odata.type"
            : field->json_name();
    out.Key(key.data(), static_cast<rj::SizeType>(key.size()));
    if (field->is_repeated()) {
      FUZZ_CHECK(field->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE,
                 "repeated non-message field %s", field->full_name().c_str());
      out.StartArray();
      for (int i = 0; i < reflection->FieldSize(message, field); ++i) {
        WriteMessage(reflection->GetRepeatedMessage(message, field, i), out);
      }
      out.EndArray();
      continue;
    }
    switch (field->cpp_type()) {
      case pb::FieldDescriptor::CPPTYPE_STRING: {
        const std::string value = reflection->GetString(message, field);
        out.String(value.data(), static_cast<rj::SizeType>(value.size()));
        break;
      }
      case pb::FieldDescriptor::CPPTYPE_INT32:
        out.Int(reflection->GetInt32(message, field));
        break;
      case pb::FieldDescriptor::CPPTYPE_MESSAGE: {
        const pb::Message& sub = reflection->GetMessage(message, field);
        if (field->message_type() == pb::Timestamp::descriptor()) {
          const auto& ts = static_cast<const pb::Timestamp&>(sub);
          CheckTimestamp(ts);
          const std::string text = FormatTimestamp(ts);
          out.String(text.data(), static_cast<rj::SizeType>(text.size()));
        } else {
          WriteMessage(sub, out);
        }
        break;
      }
      default:
        FUZZ_CHECK(false, "field %s has a type the mapping should never set",
                   field->full_name().c_str());
    }
  }
}

void WriteMessage(const pb::Message& message, JsonWriter& out) {
  out.StartObject();
  WriteMembers(message, out);
  out.EndObject();
}

std::string ReportToGraphJson(const MeetingAttendanceReport& report,
                              const std::string& next_link) {
  rj::StringBuffer buffer;
  JsonWriter out(buffer);
  out.StartObject();
  WriteMembers(report, out);
  if (!next_link.empty()) {
    out.Key("attendanceRecords@odata.nextLink");
    out.String(next_link.data(), static_cast<rj::SizeType>(next_link.size()));
  }
  out.EndObject();
  return buffer.GetString();
}

// A reply as a client receives it: in wire bytes, parsed with protobuf's default limits
// (recursion depth 100), as gRPC's generated code does.
template <typename Response>
void CheckResponseRoundTrip(const Response& response) {
  std::string bytes;
  FUZZ_CHECK(response.SerializeToString(&bytes), "cannot serialize %s", Debug(response).c_str());
  Response back;
  FUZZ_CHECK(back.ParseFromString(bytes),
             "a reply Rollcall would send cannot be parsed by a client (%zu bytes; too deeply "
             "nested?): %s",
             bytes.size(), Debug(response).c_str());
  FUZZ_CHECK(Equal(back, response), "wire round trip changed the reply");
}

// The report inside a GetAttendanceReportResponse.
void CheckWireRoundTrip(const MeetingAttendanceReport& report) {
  rollcall::v1::GetAttendanceReportResponse response;
  *response.mutable_report() = report;
  CheckResponseRoundTrip(response);
}

// {"value": [elements...], "@odata.nextLink": next_link}, the elements written by WriteMessage.
template <typename Message>
std::string PageToGraphJson(const pb::RepeatedPtrField<Message>& elements,
                            const std::string& next_link) {
  rj::StringBuffer buffer;
  JsonWriter out(buffer);
  out.StartObject();
  out.Key("value");
  out.StartArray();
  for (const auto& element : elements) WriteMessage(element, out);
  out.EndArray();
  if (!next_link.empty()) {
    out.Key("@odata.nextLink");
    out.String(next_link.data(), static_cast<rj::SizeType>(next_link.size()));
  }
  out.EndObject();
  return buffer.GetString();
}

void CheckReport(absl::string_view input) {
  std::string next_link = "sentinel";
  auto report = rollcall::graph::ParseAttendanceReport(input, &next_link);
  if (!report.ok()) {
    FUZZ_CHECK(report.status().code() == absl::StatusCode::kInvalidArgument,
               "ParseAttendanceReport failed with %s",
               report.status().ToString().c_str());
    return;
  }
  const std::string json = ReportToGraphJson(*report, next_link);
  std::string next_link_again;
  auto again = rollcall::graph::ParseAttendanceReport(json, &next_link_again);
  FUZZ_CHECK(again.ok(), "the re-serialized report does not parse: %s\nJSON: %s",
             again.status().ToString().c_str(), json.c_str());
  FUZZ_CHECK(Equal(*again, *report), "the re-serialized report differs:\n first %s\n again %s",
             Debug(*report).c_str(), Debug(*again).c_str());
  FUZZ_CHECK(next_link_again == next_link, "nextLink changed");
  CheckWireRoundTrip(*report);
}

void CheckBudgetedReport(absl::string_view input) {
  const auto plain = rollcall::graph::ParseAttendanceReport(input);
  pb::Arena arena;
  auto* report = pb::Arena::CreateMessage<MeetingAttendanceReport>(&arena);
  rollcall::graph::LoadBudget budget;
  budget.max_records = 3;
  budget.max_memory = input.size() + (32 << 10);
  const absl::Status status = rollcall::graph::ParseAttendanceReport(input, report, nullptr, &budget);
  using Exceeded = rollcall::graph::LoadBudget::Exceeded;
  if (status.ok()) {
    FUZZ_CHECK(plain.ok(), "only the budgeted parse succeeded: %s", plain.status().ToString().c_str());
    FUZZ_CHECK(Equal(*report, *plain), "the budget changed the report");
    FUZZ_CHECK(report->attendance_records_size() <= 3 && budget.exceeded == Exceeded::kNone,
               "a report past its budget was accepted");
    return;
  }
  FUZZ_CHECK(report->ByteSizeLong() == 0, "a failed budgeted parse left a partial report");
  if (status.code() == absl::StatusCode::kInvalidArgument) {
    FUZZ_CHECK(!plain.ok() && plain.status() == status,
               "the budgeted parse failed otherwise: %s", status.ToString().c_str());
    return;
  }
  FUZZ_CHECK(status.code() == absl::StatusCode::kResourceExhausted &&
                 budget.exceeded != Exceeded::kNone,
             "budgeted parse failed with %s", status.ToString().c_str());
  FUZZ_CHECK(budget.exceeded != Exceeded::kRecords || budget.records == 4,
             "the record bound was passed by %lld records", static_cast<long long>(budget.records));
}

void CheckRecordsPage(absl::string_view input) {
  MeetingAttendanceReport report;
  report.set_id("existing");
  report.add_attendance_records()->set_id("existing-record");
  const MeetingAttendanceReport before = report;
  std::string next_link = "sentinel";
  absl::Status status = rollcall::graph::ParseAttendanceRecordsPage(input, &report, &next_link);
  if (!status.ok()) {
    FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument,
               "ParseAttendanceRecordsPage failed with %s", status.ToString().c_str());
    FUZZ_CHECK(Equal(report, before), "a failed page changed the report");
    return;
  }
  FUZZ_CHECK(report.attendance_records_size() >= 1 &&
                 report.attendance_records(0).id() == "existing-record" &&
                 report.id() == "existing",
             "a page changed what the report already held");

  // The page's records, written back as a page, parse to the same records.
  MeetingAttendanceReport page;
  page.mutable_attendance_records()->CopyFrom(report.attendance_records());
  page.mutable_attendance_records()->DeleteSubrange(0, 1);
  MeetingAttendanceReport again;
  std::string next_link_again;
  status = rollcall::graph::ParseAttendanceRecordsPage(
      PageToGraphJson(page.attendance_records(), next_link), &again, &next_link_again);
  FUZZ_CHECK(status.ok(), "the re-serialized page does not parse: %s",
             status.ToString().c_str());
  FUZZ_CHECK(Equal(again, page), "the re-serialized page differs");
  FUZZ_CHECK(next_link_again == next_link, "nextLink changed");
  CheckWireRoundTrip(report);
}

void CheckReportsPage(absl::string_view input) {
  rollcall::v1::ListAttendanceReportsResponse list;
  list.add_reports()->set_id("existing");
  const rollcall::v1::ListAttendanceReportsResponse before = list;
  std::string next_link = "sentinel";
  absl::Status status =
      rollcall::graph::ParseAttendanceReportsPage(input, list.mutable_reports(), &next_link);
  if (!status.ok()) {
    FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument,
               "ParseAttendanceReportsPage failed with %s", status.ToString().c_str());
    FUZZ_CHECK(Equal(list, before), "a failed page of reports changed the list");
    return;
  }
  FUZZ_CHECK(list.reports_size() >= 1 && list.reports(0).id() == "existing",
             "a page changed the reports the list already held");

  // The page's reports, written back as a page, parse to the same reports.
  rollcall::v1::ListAttendanceReportsResponse page;
  page.mutable_reports()->CopyFrom(list.reports());
  page.mutable_reports()->DeleteSubrange(0, 1);
  rollcall::v1::ListAttendanceReportsResponse again;
  std::string next_link_again;
  status = rollcall::graph::ParseAttendanceReportsPage(
      PageToGraphJson(page.reports(), next_link), again.mutable_reports(), &next_link_again);
  FUZZ_CHECK(status.ok(), "the re-serialized page of reports does not parse: %s",
             status.ToString().c_str());
  FUZZ_CHECK(Equal(again, page), "the re-serialized page of reports differs");
  FUZZ_CHECK(next_link_again == next_link, "nextLink changed");
  CheckResponseRoundTrip(list);
}

// The meeting mapping flattens nested objects, so it cannot be written back by reflection:
// this checks what a client gets.
void CheckMeetingsPage(absl::string_view input) {
  pb::RepeatedPtrField<rollcall::v1::OnlineMeeting> meetings;
  meetings.Add()->set_id("existing");
  const rollcall::v1::OnlineMeeting existing = meetings[0];
  std::string next_link = "sentinel";
  absl::Status status = rollcall::graph::ParseOnlineMeetingsPage(input, &meetings, &next_link);
  if (!status.ok()) {
    FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument,
               "ParseOnlineMeetingsPage failed with %s", status.ToString().c_str());
    FUZZ_CHECK(meetings.size() == 1 && Equal(meetings[0], existing),
               "a failed page of meetings changed the list");
    return;
  }
  FUZZ_CHECK(Equal(meetings[0], existing), "a page changed the meetings already held");
  for (const auto& meeting : meetings) {
    for (const pb::Timestamp* ts : {&meeting.creation_date_time(), &meeting.start_date_time(),
                                    &meeting.end_date_time()}) {
      CheckTimestamp(*ts);
    }
    rollcall::v1::ResolveOnlineMeetingResponse response;
    *response.mutable_meeting() = meeting;
    CheckResponseRoundTrip(response);
  }
}

void CheckGraphError(absl::string_view input) {
  rollcall::graph::GraphErrorBody body;
  body.code = "sentinel";
  if (!rollcall::graph::ParseGraphErrorBody(input, &body)) {
    FUZZ_CHECK(body.code == "sentinel" && body.message.empty(),
               "ParseGraphErrorBody returned false but wrote its output");
  }
}

void CheckTokenResponse(absl::string_view input) {
  auto token = rollcall::graph::ParseTokenResponse(input);
  if (!token.ok()) {
    FUZZ_CHECK(token.status().code() == absl::StatusCode::kInvalidArgument,
               "ParseTokenResponse failed with %s", token.status().ToString().c_str());
    return;
  }
  FUZZ_CHECK(!token->access_token.empty(), "an empty access token");
  FUZZ_CHECK(token->token_type == "Bearer", "token_type %s", token->token_type.c_str());
  const absl::Duration max = absl::Hours(366 * 24);
  FUZZ_CHECK(token->expires_in > absl::ZeroDuration() && token->expires_in <= max,
             "expires_in %s", absl::FormatDuration(token->expires_in).c_str());
  if (token->refresh_in.has_value()) {
    FUZZ_CHECK(*token->refresh_in > absl::ZeroDuration() && *token->refresh_in <= max,
               "refresh_in %s", absl::FormatDuration(*token->refresh_in).c_str());
  }
}

void CheckTokenError(absl::string_view input) {
  rollcall::graph::TokenErrorBody body;
  body.error = "sentinel";
  if (!rollcall::graph::ParseTokenErrorBody(input, &body)) {
    FUZZ_CHECK(body.error == "sentinel" && body.aadsts_code.empty(),
               "ParseTokenErrorBody returned false but wrote its output");
    return;
  }
  if (!body.aadsts_code.empty()) {
    const absl::string_view digits = absl::string_view(body.aadsts_code).substr(6);
    bool all_digits = !digits.empty();
    for (char c : digits) all_digits = all_digits && absl::ascii_isdigit(static_cast<unsigned char>(c));
    FUZZ_CHECK(absl::StartsWith(body.aadsts_code, "AADSTS") && all_digits,
               "aadsts_code %s is not AADSTS<digits>", body.aadsts_code.c_str());
  }
}

void CheckDateTime(absl::string_view input) {
  if (input.size() > 64) return;
  auto t = rollcall::graph::ParseDateTimeOffset(input);
  if (!t.ok()) return;
  const int64_t seconds = absl::ToUnixSeconds(*t);
  if (seconds < kMinTimestampSeconds || seconds > kMaxTimestampSeconds) return;
  pb::Timestamp ts;
  ts.set_seconds(seconds);
  ts.set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(*t - absl::FromUnixSeconds(seconds))));
  CheckTimestamp(ts);
  auto again = rollcall::graph::ParseDateTimeOffset(FormatTimestamp(ts));
  FUZZ_CHECK(again.ok() && *again == *t, "date-time %s formatted as %s does not parse back",
             std::string(input).c_str(), FormatTimestamp(ts).c_str());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // A failed ParseFromString logs to stderr; the FUZZ_CHECKs say what matters.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  CheckReport(input);
  CheckBudgetedReport(input);
  CheckRecordsPage(input);
  CheckReportsPage(input);
  CheckMeetingsPage(input);
  CheckGraphError(input);
  CheckTokenResponse(input);
  CheckTokenError(input);
  CheckDateTime(input);
  return 0;
}
