// Graph JSON -> rollcall.v1: every shared example through the generic comparator (acceptance
// point 2: nothing Graph sent is lost, nulls stay null), then the edges one by one.

#include "graph_client/json_mapping.h"

#include <random>
#include <set>
#include <string>
#include <vector>

#include "google/protobuf/arena.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/text_format.h"
#include "graph_client/date_time.h"
#include "graph_client/graph_errors.h"
#include "graph_client/json_reader.h"
#include "graph_client/token_response.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "tests/graph_client/json_proto_comparator.h"
#include "tests/graph_client/proto_text.h"
#include "tests/testing/graph_examples.h"
#include "tests/testing/status_details.h"

namespace rollcall::graph {
namespace {

using ::rollcall::testing::CompareJsonToProto;
using ::rollcall::testing::ExampleNames;
using ::rollcall::testing::ExpectProtoEq;
using ::rollcall::testing::FromText;
using ::rollcall::testing::Message;
using ::rollcall::testing::ReadExample;
using ::rollcall::testing::TestNameFor;
using ::rollcall::v1::MeetingAttendanceReport;
using ::testing::HasSubstr;

rapidjson::Document Json(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.c_str(), text.size());
  EXPECT_FALSE(doc.HasParseError()) << text;
  return doc;
}

std::string Serialize(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

// ---------------------------------------------------------------------------------------------
// Every shared example, compared field by field.

TEST(Examples, TheSharedExamplesAreThere) {
  EXPECT_GE(ExampleNames("get-meetingattendancereport-").size(), 4u);
  EXPECT_GE(ExampleNames("list-attendancerecords-").size(), 3u);
  EXPECT_GE(ExampleNames("list-meetingattendancereports-").size(), 3u);
}

class ReportExample : public ::testing::TestWithParam<std::string> {};

TEST_P(ReportExample, MapsEveryPropertyAndKeepsNulls) {
  const std::string body = ReadExample(GetParam());
  std::string next_link = "stale";
  absl::StatusOr<MeetingAttendanceReport> report = ParseAttendanceReport(body, &next_link);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(next_link, "");
  EXPECT_EQ(CompareJsonToProto(Json(body), *report), 0) << report->DebugString();
  // Graph's documented examples hold no property the proto does not name.
  EXPECT_FALSE(report->has_additional_properties());
  for (const auto& record : report->attendance_records()) {
    EXPECT_FALSE(record.has_additional_properties());
  }
}

INSTANTIATE_TEST_SUITE_P(GetMeetingAttendanceReport, ReportExample,
                         ::testing::ValuesIn(ExampleNames("get-meetingattendancereport-")),
                         [](const auto& info) { return TestNameFor(info.param); });

class ReportListExample : public ::testing::TestWithParam<std::string> {};

TEST_P(ReportListExample, EveryReportInTheListMaps) {
  const rapidjson::Document doc = Json(ReadExample(GetParam()));
  ASSERT_TRUE(doc.HasMember("value") && doc["value"].IsArray());
  ASSERT_GT(doc["value"].Size(), 0u);
  for (const auto& element : doc["value"].GetArray()) {
    absl::StatusOr<MeetingAttendanceReport> report = ParseAttendanceReport(Serialize(element));
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_EQ(CompareJsonToProto(element, *report), 0) << report->DebugString();
  }
}

INSTANTIATE_TEST_SUITE_P(ListMeetingAttendanceReports, ReportListExample,
                         ::testing::ValuesIn(ExampleNames("list-meetingattendancereports-")),
                         [](const auto& info) { return TestNameFor(info.param); });

class RecordPageExample : public ::testing::TestWithParam<std::string> {};

TEST_P(RecordPageExample, EveryRecordMaps) {
  const std::string body = ReadExample(GetParam());
  const rapidjson::Document doc = Json(body);
  MeetingAttendanceReport report;
  std::string next_link = "stale";
  ASSERT_TRUE(ParseAttendanceRecordsPage(body, &report, &next_link).ok());
  EXPECT_EQ(next_link, "");
  const auto& values = doc["value"];
  ASSERT_EQ(report.attendance_records_size(), static_cast<int>(values.Size()));
  for (int i = 0; i < report.attendance_records_size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(CompareJsonToProto(values[i], report.attendance_records(i),
                                 "value[" + std::to_string(i) + "]"),
              0);
    EXPECT_FALSE(report.attendance_records(i).has_additional_properties());
  }
  // Nothing but the records was touched.
  MeetingAttendanceReport only_records;
  *only_records.mutable_attendance_records() = report.attendance_records();
  EXPECT_EQ(report.SerializeAsString(), only_records.SerializeAsString());
}

INSTANTIATE_TEST_SUITE_P(ListAttendanceRecords, RecordPageExample,
                         ::testing::ValuesIn(ExampleNames("list-attendancerecords-")),
                         [](const auto& info) { return TestNameFor(info.param); });

TEST(Examples, V1ExpandedReportHasExactValues) {
  absl::StatusOr<MeetingAttendanceReport> report = ParseAttendanceReport(
      ReadExample("get-meetingattendancereport-v1.0-expand-attendancerecords.json"));
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->id(), "c9b6db1c-d5eb-427d-a5c0-20088d9b22d7");
  EXPECT_EQ(report->total_participant_count(), 1);
  EXPECT_EQ(report->meeting_start_date_time().seconds(), 1633408703);
  EXPECT_EQ(report->meeting_start_date_time().nanos(), 945000000);
  EXPECT_EQ(report->meeting_end_date_time().seconds(), 1633409029);
  EXPECT_EQ(report->meeting_end_date_time().nanos(), 770000000);
  ASSERT_EQ(report->attendance_records_size(), 1);
  const auto& record = report->attendance_records(0);
  EXPECT_EQ(record.email_address(), "frederick.cormier@contoso.com");
  EXPECT_EQ(record.role(), "Presenter");
  EXPECT_FALSE(record.has_id());
  EXPECT_FALSE(record.identity().has_tenant_id());  // "tenantId": null
  EXPECT_FALSE(record.identity().has_additional_properties());
  ASSERT_EQ(record.attendance_intervals_size(), 3);
  // "2021-03-16T18:59:52.2782182Z": 7 digits, exactly 100 ns units.
  EXPECT_EQ(record.attendance_intervals(0).join_date_time().seconds(), 1615921192);
  EXPECT_EQ(record.attendance_intervals(0).join_date_time().nanos(), 278218200);
  EXPECT_EQ(record.attendance_intervals(2).duration_in_seconds(), 310);
}

// The beta and webinar examples, field by field, as written out from their JSON by hand.

// Frederick Cormier and Lisa Adkins: the records of list-attendancerecords-beta-example1.json
// and list-attendancerecords-v1.0-webinar-session.json (identities with tenantId null,
// registrantId null).
constexpr char kTwoRecords[] = R"pb(
  attendance_records {
    email_address: "frederick.cormier@contoso.com"
    total_attendance_in_seconds: 322
    role: "Organizer"
    identity { id: "dc17674c-81d9-4adb-bfb2-8f6a442e4623" display_name: "Frederick Cormier" }
    attendance_intervals {
      join_date_time { seconds: 1633408707 nanos: 602722500 }
      leave_date_time { seconds: 1633409029 nanos: 770239100 }
      duration_in_seconds: 322
    }
  }
  attendance_records {
    email_address: "lisa.adkins@contoso.com"
    total_attendance_in_seconds: 314
    role: "Presenter"
    identity { id: "57caaef9-5ed0-48d5-8862-e5abfa71b3e9" display_name: "Lisa Adkins" }
    attendance_intervals {
      join_date_time { seconds: 1633389223 nanos: 377651900 }
      leave_date_time { seconds: 1633389537 nanos: 563933800 }
      duration_in_seconds: 314
    }
  })pb";

TEST(ExamplesFieldByField, BetaRecords) {
  MeetingAttendanceReport report;
  std::string link = "stale";
  ASSERT_TRUE(ParseAttendanceRecordsPage(ReadExample("list-attendancerecords-beta-example1.json"),
                                         &report, &link)
                  .ok());
  EXPECT_EQ(link, "");
  ExpectProtoEq(report, FromText<MeetingAttendanceReport>(kTwoRecords));
  // "registrantId": null is a null, not an empty ID.
  EXPECT_FALSE(report.attendance_records(0).has_registrant_id());
}

TEST(ExamplesFieldByField, WebinarRecords) {
  MeetingAttendanceReport report;
  std::string link;
  ASSERT_TRUE(ParseAttendanceRecordsPage(
                  ReadExample("list-attendancerecords-v1.0-webinar-session.json"), &report, &link)
                  .ok());
  MeetingAttendanceReport expected = FromText<MeetingAttendanceReport>(kTwoRecords);
  auto* frederick = expected.mutable_attendance_records(0);
  frederick->mutable_external_registration_information()->set_referrer("Fabrikam");
  frederick->mutable_external_registration_information()->set_registration_id(
      "myExternalRegistrationId");
  auto* lisa = expected.mutable_attendance_records(1);
  lisa->mutable_external_registration_information()->set_referrer("Fabrikam");
  lisa->mutable_external_registration_information()->set_registration_id(
      "anotherExternalRegistrationId");
  ExpectProtoEq(report, expected);
  EXPECT_FALSE(report.attendance_records(0).has_registration_id());  // null
}

TEST(ExamplesFieldByField, VirtualEventSessionReports) {
  struct Case {
    const char* file;
    const char* expected;
  };
  const Case cases[] = {
      {"get-meetingattendancereport-beta-virtualevent-session.json", R"pb(
         id: "2c2c2454-7613-4d6e-9c7c-4c89"
         total_participant_count: 2
         meeting_start_date_time { seconds: 1633389211 nanos: 658000000 }
         meeting_end_date_time { seconds: 1633389537 nanos: 563000000 })pb"},
      {"get-meetingattendancereport-v1.0-webinar-session.json", R"pb(
         id: "b76965d4-0763-496e-9980-b323c5f3aa3b"
         total_participant_count: 2
         meeting_start_date_time { seconds: 1633389211 nanos: 658000000 }
         meeting_end_date_time { seconds: 1633389537 nanos: 563000000 })pb"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.file);
    absl::StatusOr<MeetingAttendanceReport> report = ParseAttendanceReport(ReadExample(c.file));
    ASSERT_TRUE(report.ok()) << report.status();
    ExpectProtoEq(*report, FromText<MeetingAttendanceReport>(c.expected));
  }
}

// A body that sets every property attendance.proto knows, including the beta-only ones and an
// open-typed identity with extra properties of every JSON type.
constexpr char kFullReport[] = R"json({
  "@odata.context": "https://graph.microsoft.com/beta/$metadata#attendanceReports/$entity",
  "id": "report-1",
  "totalParticipantCount": 3,
  "meetingStartDateTime": "2024-05-01T10:00:00Z",
  "meetingEndDateTime": "2024-05-01T11:00:00.1234567+02:00",
  "externalEventInformation": [{"applicationId": "app-1", "externalEventId": "event-1"}],
  "reportFuture": {"kind": "new", "values": [1, null]},
  "attendanceRecords": [{
    "id": "record-1",
    "recordFuture": null,
    "role@odata.type": "#String",
    "emailAddress": "",
    "totalAttendanceInSeconds": 0,
    "role": "Attendee",
    "registrationId": "registration-1",
    "registrantId": "registrant-1",
    "identity": {
      "@odata.type": "#microsoft.graph.azureCommunicationServicesUserIdentity",
      "id": "8:acs:resource_user",
      "displayName": "ACS user",
      "tenantId": "tenant-1",
      "azureCommunicationServicesResourceId": "resource-1",
      "userPrincipalName": "user@contoso.com",
      "hidden": false,
      "score": 1.5,
      "tags": ["x", null, 2],
      "nested": {"k": {"deep": null}},
      "empty": null
    },
    "attendanceIntervals": [
      {"joinDateTime": "2024-05-01T10:00:01.5Z", "leaveDateTime": "2024-05-01T10:00:13.5Z",
       "durationInSeconds": 12},
      {"joinDateTime": null, "leaveDateTime": null, "durationInSeconds": 0}
    ],
    "externalRegistrationInformation": {"referrer": "Fabrikam", "registrationId": "external-1"},
    "engagements": [{"dateTime": "2024-05-01T10:05:00-07:00", "engagementType": "reaction",
                     "engagementSubType": "like"}]
  }]
})json";

void CollectSetFields(const google::protobuf::Message& message,
                      std::set<const google::protobuf::FieldDescriptor*>* out) {
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  message.GetReflection()->ListFields(message, &fields);
  for (const auto* field : fields) {
    out->insert(field);
    if (field->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (field->is_repeated()) {
      for (int i = 0; i < message.GetReflection()->FieldSize(message, field); ++i) {
        CollectSetFields(message.GetReflection()->GetRepeatedMessage(message, field, i), out);
      }
    } else {
      CollectSetFields(message.GetReflection()->GetMessage(message, field), out);
    }
  }
}

void CollectRollcallFields(const google::protobuf::Descriptor* type,
                           std::set<const google::protobuf::FieldDescriptor*>* out) {
  for (int i = 0; i < type->field_count(); ++i) {
    const auto* field = type->field(i);
    if (!out->insert(field).second) continue;
    if (field->message_type() != nullptr && field->message_type()->file() == type->file()) {
      CollectRollcallFields(field->message_type(), out);
    }
  }
}

TEST(FullReport, EveryFieldOfTheProtoIsMapped) {
  absl::StatusOr<MeetingAttendanceReport> report = ParseAttendanceReport(kFullReport);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(CompareJsonToProto(Json(kFullReport), *report), 0) << report->DebugString();

  std::set<const google::protobuf::FieldDescriptor*> set_fields, all_fields;
  CollectSetFields(*report, &set_fields);
  CollectRollcallFields(MeetingAttendanceReport::descriptor(), &all_fields);
  for (const auto* field : all_fields) {
    EXPECT_EQ(set_fields.count(field), 1u) << field->full_name() << " is never set";
  }

  const auto& record = report->attendance_records(0);
  EXPECT_TRUE(record.has_email_address());  // "" is a value, not null
  EXPECT_TRUE(record.has_total_attendance_in_seconds());
  EXPECT_EQ(record.identity().odata_type(),
            "#microsoft.graph.azureCommunicationServicesUserIdentity");
  const auto& extra = record.identity().additional_properties().fields();
  EXPECT_EQ(extra.size(), 6u);
  EXPECT_EQ(extra.at("userPrincipalName").string_value(), "user@contoso.com");
  EXPECT_EQ(extra.at("empty").kind_case(), google::protobuf::Value::kNullValue);
  EXPECT_EQ(extra.at("tags").list_value().values(1).kind_case(),
            google::protobuf::Value::kNullValue);
  EXPECT_FALSE(record.attendance_intervals(1).has_join_date_time());
  EXPECT_TRUE(record.attendance_intervals(1).has_duration_in_seconds());
  // Properties attendance.proto does not name, on the report and the record, as Graph sent them.
  EXPECT_EQ(report->additional_properties().fields().at("reportFuture").struct_value().fields()
                .at("kind").string_value(),
            "new");
  EXPECT_EQ(report->additional_properties().fields_size(), 1);  // not @odata.context
  EXPECT_EQ(record.additional_properties().fields().at("recordFuture").kind_case(),
            google::protobuf::Value::kNullValue);
  // 11:00:00.1234567+02:00 is 09:00:00.1234567Z.
  EXPECT_EQ(report->meeting_end_date_time().seconds() % 86400, 9 * 3600);
  EXPECT_EQ(report->meeting_end_date_time().nanos(), 123456700);
}

// ---------------------------------------------------------------------------------------------
// Nulls, unknown properties, identities.

TEST(Nulls, LeaveFieldsUnsetAndListsEmpty) {
  absl::StatusOr<MeetingAttendanceReport> report = ParseAttendanceReport(R"({
    "id": "r", "totalParticipantCount": null, "meetingStartDateTime": null,
    "meetingEndDateTime": null, "externalEventInformation": null,
    "attendanceRecords": [{"id": null, "emailAddress": null, "totalAttendanceInSeconds": null,
      "role": null, "identity": null, "attendanceIntervals": null, "registrationId": null,
      "externalRegistrationInformation": null, "registrantId": null, "engagements": null}]})");
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->has_total_participant_count());
  EXPECT_FALSE(report->has_meeting_start_date_time());
  ASSERT_EQ(report->attendance_records_size(), 1);
  MeetingAttendanceReport expected;
  expected.set_id("r");
  expected.add_attendance_records();
  EXPECT_EQ(report->SerializeAsString(), expected.SerializeAsString());
}

TEST(Nulls, ReportIdMustNotBeNull) {
  absl::StatusOr<MeetingAttendanceReport> report = ParseAttendanceReport(R"({"id": null})");
  ASSERT_EQ(report.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(report.status()), "id: must not be null");
}

TEST(UnknownProperties, AreKeptOnReportsAndRecordsAsGraphSentThem) {
  const std::string body = R"({
    "id": "r", "newProperty": {"deep": [1, 2, {"x": null}]}, "@odata.etag": "W/1",
    "attendanceRecords@odata.context": "ctx", "futureList": ["a", 2.5, true], "futureNull": null,
    "futureCount": 7, "totalParticipantCount@odata.type": "#Int32",
    "attendanceRecords": [{"futureThing": 5, "role": "Attendee", "emailAddress@x.y": "annotation",
                           "futureObject": {"a": {"b": []}}, "futureNull": null,
                           "attendanceIntervals": [{"extra": true}]}]})";
  absl::StatusOr<MeetingAttendanceReport> report = ParseAttendanceReport(body);
  ASSERT_TRUE(report.ok()) << report.status();

  MeetingAttendanceReport expected;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(R"pb(
    id: "r"
    additional_properties {
      fields { key: "newProperty" value { struct_value { fields { key: "deep" value {
        list_value { values { number_value: 1 } values { number_value: 2 }
                     values { struct_value {
                       fields { key: "x" value { null_value: NULL_VALUE } } } } }
      } } } } }
      fields { key: "futureList" value { list_value {
        values { string_value: "a" } values { number_value: 2.5 } values { bool_value: true } } } }
      fields { key: "futureNull" value { null_value: NULL_VALUE } }
      fields { key: "futureCount" value { number_value: 7 } }
    }
    attendance_records {
      role: "Attendee"
      attendance_intervals {}
      additional_properties {
        fields { key: "futureThing" value { number_value: 5 } }
        fields { key: "futureObject" value { struct_value { fields { key: "a" value {
          struct_value { fields { key: "b" value { list_value {} } } } } } } } }
        fields { key: "futureNull" value { null_value: NULL_VALUE } }
      }
    })pb", &expected));
  // Annotations ("@odata.etag", "attendanceRecords@odata.context", "emailAddress@x.y") are
  // metadata, not properties; an interval is not an open type, so its "extra" is dropped.
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*report, expected))
      << report->DebugString();
  // The report survives the wire as a client reads it.
  MeetingAttendanceReport round_trip;
  ASSERT_TRUE(round_trip.ParseFromString(report->SerializeAsString()));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(round_trip, *report));
}

TEST(UnknownProperties, KnownNamesNeverLandThere) {
  absl::StatusOr<MeetingAttendanceReport> report = ParseAttendanceReport(
      ReadExample("get-meetingattendancereport-v1.0-expand-attendancerecords.json"));
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->has_additional_properties());
  for (const auto& record : report->attendance_records()) {
    EXPECT_FALSE(record.has_additional_properties());
  }
  // "additionalProperties" itself is only a name Graph might send: kept like any other.
  report = ParseAttendanceReport(
      R"({"id":"r","additionalProperties":{"x":1},"attendanceRecords":[{"id":null}]})");
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->additional_properties().fields().at("additionalProperties")
                .struct_value().fields().at("x").number_value(), 1);
  EXPECT_FALSE(report->attendance_records(0).has_additional_properties());
}

TEST(UnknownProperties, TheLastOfDuplicateNamesWinsWhole) {
  absl::StatusOr<MeetingAttendanceReport> report = ParseAttendanceReport(
      R"({"id":"r","x":[1],"x":[2],"y":{"a":1},"y":{"b":2},
          "attendanceRecords":[{"identity":{"z":{"a":1},"z":{"b":2}}}]})");
  ASSERT_TRUE(report.ok()) << report.status();
  const auto& extra = report->additional_properties().fields();
  ASSERT_EQ(extra.at("x").list_value().values_size(), 1);
  EXPECT_EQ(extra.at("x").list_value().values(0).number_value(), 2);
  EXPECT_EQ(extra.at("y").struct_value().fields().count("a"), 0u);
  const auto& identity = report->attendance_records(0).identity().additional_properties().fields();
  EXPECT_EQ(identity.at("z").struct_value().fields().count("a"), 0u);
  EXPECT_EQ(identity.at("z").struct_value().fields().at("b").number_value(), 2);
}

TEST(UnknownProperties, AreKeptOnAnArena) {
  google::protobuf::Arena arena;
  auto* report = google::protobuf::Arena::CreateMessage<MeetingAttendanceReport>(&arena);
  ASSERT_TRUE(ParseAttendanceReport(R"({"id":"r","future":{"a":[1,"b",null]},
                                        "attendanceRecords":[{"next":"x"}]})",
                                    report)
                  .ok());
  EXPECT_EQ(report->additional_properties().GetArena(), &arena);
  EXPECT_EQ(report->attendance_records(0).additional_properties().GetArena(), &arena);
  EXPECT_EQ(report->attendance_records(0).additional_properties().fields().at("next")
                .string_value(), "x");
  std::string link;
  ASSERT_TRUE(ParseAttendanceRecordsPage(R"({"value":[{"later":[true]}]})", report, &link).ok());
  EXPECT_TRUE(report->attendance_records(1).additional_properties().fields().at("later")
                  .list_value().values(0).bool_value());
  EXPECT_EQ(report->attendance_records(1).GetArena(), &arena);
}

TEST(Identity, ODataTypeAndUnknownPropertiesAreKept) {
  absl::StatusOr<MeetingAttendanceReport> report = ParseAttendanceReport(R"({"id": "r",
    "attendanceRecords": [{"identity": {
      "@odata.type": "#microsoft.graph.teamworkUserIdentity", "id": "u1", "displayName": null,
      "userIdentityType": "aadUser", "additionalProperties": "not the field", "odataType": 1,
      "": {"fields": 5}}}]})");
  ASSERT_TRUE(report.ok()) << report.status();
  const auto& identity = report->attendance_records(0).identity();
  EXPECT_EQ(identity.odata_type(), "#microsoft.graph.teamworkUserIdentity");
  EXPECT_EQ(identity.id(), "u1");
  EXPECT_FALSE(identity.has_display_name());
  const auto& extra = identity.additional_properties().fields();
  ASSERT_EQ(extra.size(), 4u);
  EXPECT_EQ(extra.at("userIdentityType").string_value(), "aadUser");
  EXPECT_EQ(extra.at("").struct_value().fields().at("fields").number_value(), 5);
  EXPECT_EQ(extra.at("additionalProperties").string_value(), "not the field");
  EXPECT_EQ(extra.at("odataType").number_value(), 1);
}

// ---------------------------------------------------------------------------------------------
// Wrong types name the JSON path.

struct WrongType {
  const char* json;
  const char* message;
};

class WrongTypes : public ::testing::TestWithParam<WrongType> {};

TEST_P(WrongTypes, AreInvalidArgumentNamingThePath) {
  absl::StatusOr<MeetingAttendanceReport> report = ParseAttendanceReport(GetParam().json);
  ASSERT_EQ(report.status().code(), absl::StatusCode::kInvalidArgument) << GetParam().json;
  EXPECT_THAT(Message(report.status()), HasSubstr(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    Report, WrongTypes,
    ::testing::Values(
        WrongType{R"({"id":"r","attendanceRecords":[{"totalAttendanceInSeconds":"12"}]})",
                  "attendanceRecords[0].totalAttendanceInSeconds: expected a number"},
        WrongType{R"({"id":5})", "id: expected a string"},
        WrongType{R"({"id":"r","totalParticipantCount":1.5})",
                  "totalParticipantCount: expected an integer"},
        WrongType{R"({"id":"r","totalParticipantCount":true})",
                  "totalParticipantCount: expected a number"},
        WrongType{R"({"id":"r","attendanceRecords":{}})", "attendanceRecords: expected an array"},
        WrongType{R"({"id":"r","attendanceRecords":[5]})",
                  "attendanceRecords[0]: expected an object"},
        WrongType{R"({"id":"r","attendanceRecords":[{},{"identity":"x"}]})",
                  "attendanceRecords[1].identity: expected an object"},
        WrongType{R"({"id":"r","attendanceRecords":[{"identity":{"displayName":7}}]})",
                  "attendanceRecords[0].identity.displayName: expected a string"},
        WrongType{R"({"id":"r","attendanceRecords":[{"identity":{"@odata.type":[]}}]})",
                  "attendanceRecords[0].identity.@odata.type: expected a string"},
        WrongType{R"({"id":"r","meetingStartDateTime":12})",
                  "meetingStartDateTime: expected a date-time string"},
        WrongType{R"({"id":"r","meetingStartDateTime":"yesterday"})",
                  "meetingStartDateTime: invalid date-time \"yesterday\""},
        WrongType{R"({"id":"r","attendanceRecords":[{"attendanceIntervals":[{},
                  {"durationInSeconds":"5"}]}]})",
                  "attendanceRecords[0].attendanceIntervals[1].durationInSeconds: expected a "
                  "number"},
        WrongType{R"({"id":"r","attendanceRecords":[{"engagements":[{"dateTime":"2024-01-01"}]}]})",
                  "attendanceRecords[0].engagements[0].dateTime: invalid date-time"},
        WrongType{R"({"id":"r","externalEventInformation":[{"applicationId":{}}]})",
                  "externalEventInformation[0].applicationId: expected a string"},
        WrongType{R"({"id":"r","attendanceRecords@odata.nextLink":1})",
                  "attendanceRecords@odata.nextLink: expected a string"},
        WrongType{R"([])", "body: expected an object"},
        WrongType{R"("report")", "body: expected an object"}));

// ---------------------------------------------------------------------------------------------
// Integers must fit int32.

TEST(Integers, Int32BoundsAreEnforced) {
  const auto count = [](const std::string& n) {
    return ParseAttendanceReport(R"({"id":"r","totalParticipantCount":)" + n + "}");
  };
  EXPECT_EQ(count("2147483647")->total_participant_count(), 2147483647);
  EXPECT_EQ(count("-2147483648")->total_participant_count(), -2147483647 - 1);
  EXPECT_EQ(count("3.0")->total_participant_count(), 3);
  for (const char* huge : {"2147483648", "-2147483649", "4294967296", "9223372036854775807",
                           "18446744073709551615", "99999999999999999999999", "1e300"}) {
    SCOPED_TRACE(huge);
    absl::StatusOr<MeetingAttendanceReport> report = count(huge);
    ASSERT_EQ(report.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(Message(report.status()),
              "totalParticipantCount: out of range for a 32-bit integer");
  }
  EXPECT_EQ(count("1e400").status().code(), absl::StatusCode::kInvalidArgument);  // too big
}

// ---------------------------------------------------------------------------------------------
// Hostile and broken documents.

std::string Nested(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

TEST(Depth, DeepNestingIsRejectedWithoutRecursion) {
  // The root object is level 1; an unknown property holding 31 arrays reaches 32.
  EXPECT_TRUE(ParseAttendanceReport(R"({"id":"r","x":)" + Nested(31) + "}").ok());
  absl::StatusOr<MeetingAttendanceReport> too_deep =
      ParseAttendanceReport(R"({"id":"r","x":)" + Nested(32) + "}");
  ASSERT_EQ(too_deep.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(too_deep.status()), HasSubstr("nested deeper than 32 levels"));
  // A million levels: no stack overflow, no time spent building them.
  EXPECT_EQ(ParseAttendanceReport(std::string(1000000, '[')).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::string objects;
  for (int i = 0; i < 100000; ++i) objects += "{\"a\":";
  EXPECT_EQ(ParseAttendanceReport(objects).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(Depth, NestedIdentityPropertiesWithinTheLimitAreKept) {
  // Root, attendanceRecords, the record and the identity are 4 levels; 28 more reach 32.
  std::string deep = "null";
  for (int i = 0; i < 28; ++i) deep = "{\"k\":" + deep + "}";
  absl::StatusOr<MeetingAttendanceReport> report = ParseAttendanceReport(
      R"({"id":"r","attendanceRecords":[{"identity":{"deep":)" + deep + "}}]}");
  ASSERT_TRUE(report.ok()) << report.status();
  const google::protobuf::Value* value =
      &report->attendance_records(0).identity().additional_properties().fields().at("deep");
  int levels = 0;
  while (value->has_struct_value()) {
    value = &value->struct_value().fields().at("k");
    ++levels;
  }
  EXPECT_EQ(levels, 28);
  EXPECT_EQ(value->kind_case(), google::protobuf::Value::kNullValue);
  // The deepest identity the mapping accepts still makes a reply that protobuf (nesting limit
  // 100) parses back.
  rollcall::v1::GetAttendanceReportResponse reply;
  *reply.mutable_report() = *report;
  rollcall::v1::GetAttendanceReportResponse parsed;
  EXPECT_TRUE(parsed.ParseFromString(reply.SerializeAsString()));
  // One level more is refused.
  deep = "{\"k\":" + deep + "}";
  EXPECT_FALSE(ParseAttendanceReport(
                   R"({"id":"r","attendanceRecords":[{"identity":{"deep":)" + deep + "}}]}")
                   .ok());
}

TEST(Depth, TheDeepestUnknownPropertiesStillMakeARepliesClientsRead) {
  // The root is level 1: a report's own unknown property may nest 31 objects, a record's 29
  // (below attendanceRecords and the record). Each JSON object level becomes several protobuf
  // levels (Value, Struct, map entry), so these are the deepest replies the mapping can make.
  const auto deep_objects = [](int levels) {
    std::string deep = "null";
    for (int i = 0; i < levels; ++i) deep = "{\"k\":" + deep + "}";
    return deep;
  };
  absl::StatusOr<MeetingAttendanceReport> report =
      ParseAttendanceReport(R"({"id":"r","deep":)" + deep_objects(31) +
                            R"(,"attendanceRecords":[{"deep":)" + deep_objects(29) + "}]}");
  ASSERT_TRUE(report.ok()) << report.status();
  // In every reply that carries a report or its records.
  rollcall::v1::GetAttendanceReportResponse get;
  *get.mutable_report() = *report;
  rollcall::v1::GetAttendanceReportResponse get_parsed;
  EXPECT_TRUE(get_parsed.ParseFromString(get.SerializeAsString()));
  rollcall::v1::ListAttendanceReportsResponse list;
  *list.add_reports() = *report;
  rollcall::v1::ListAttendanceReportsResponse list_parsed;
  EXPECT_TRUE(list_parsed.ParseFromString(list.SerializeAsString()));
  // One level more is refused by the parser's own limit.
  EXPECT_FALSE(ParseAttendanceReport(R"({"id":"r","deep":)" + deep_objects(32) + "}").ok());
}

TEST(Malformed, RawControlCharactersInStringsAreRejected) {
  // Found by the fuzzer: RapidJSON 1.1's SIMD in-situ scanning let these through.
  for (const char* body : {"{\"id\":\"r\",\"x\x1f\":1}", "{\"id\":\"r\x01\"}",
                           "{\"id\":\"r\",\"attendanceRecords\":[{\"role\":\"a\tb\"}]}"}) {
    EXPECT_EQ(ParseAttendanceReport(body).status().code(), absl::StatusCode::kInvalidArgument)
        << body;
  }
  std::string padded = "{\"id\":\"" + std::string(40, 'a') + "\x1f" + std::string(40, 'b') + "\"}";
  EXPECT_FALSE(ParseAttendanceReport(padded).ok());
}

TEST(Numbers, AreConvertedExactly) {
  // RapidJSON 1.1's own conversion reads "0e104" as 3.24e+178 and rounds 6e108.
  absl::StatusOr<MeetingAttendanceReport> report = ParseAttendanceReport(
      R"({"id":"r","attendanceRecords":[{"totalAttendanceInSeconds":3.0,"identity":{)"
      R"("zero":0e104,"tiny":0.000e50,"big":6e108,"int":-2147483649,"u":18446744073709551615}}]})");
  ASSERT_TRUE(report.ok()) << report.status();
  const auto& fields = report->attendance_records(0).identity().additional_properties().fields();
  EXPECT_EQ(fields.at("zero").number_value(), 0.0);
  EXPECT_EQ(fields.at("tiny").number_value(), 0.0);
  EXPECT_EQ(fields.at("big").number_value(), 6e108);
  EXPECT_EQ(fields.at("int").number_value(), -2147483649.0);
  EXPECT_EQ(fields.at("u").number_value(), 18446744073709551615.0);
  EXPECT_EQ(report->attendance_records(0).total_attendance_in_seconds(), 3);
  EXPECT_FALSE(ParseAttendanceReport(R"({"id":"r","x":1e400})").ok());
}

TEST(Malformed, EveryTruncationOfARealBodyIsAnError) {
  const std::string body =
      ReadExample("get-meetingattendancereport-v1.0-expand-attendancerecords.json");
  const std::size_t end = body.rfind('}');
  for (std::size_t length = 0; length < end; ++length) {
    absl::StatusOr<MeetingAttendanceReport> report =
        ParseAttendanceReport(absl::string_view(body).substr(0, length));
    ASSERT_EQ(report.status().code(), absl::StatusCode::kInvalidArgument) << length;
  }
  EXPECT_TRUE(ParseAttendanceReport(absl::string_view(body).substr(0, end + 1)).ok());
}

TEST(Malformed, GarbageIsAnErrorNeverACrash) {
  for (const std::string& body :
       {std::string(""), std::string(" "), std::string("null"), std::string("{"),
        std::string("{\"id\":\"r\"} trailing"), std::string("{\"id\":\"\xff\xfe\"}"),
        std::string("{\"id\":\"r\",}"), std::string("{'id':'r'}"), std::string("{\"id\":NaN}"),
        std::string("{\"id\":\"r\"}\0{}", 11), std::string("<html>502 Bad Gateway</html>")}) {
    SCOPED_TRACE(body);
    EXPECT_EQ(ParseAttendanceReport(body).status().code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_THAT(Message(ParseAttendanceReport("{\"id\":").status()),
              HasSubstr("malformed JSON at offset 6"));
}

TEST(Malformed, RandomMutationsOfRealBodiesNeverCrash) {
  // Deterministic: a fixed seed, so a failure reproduces.
  std::mt19937 random(20240501);
  std::vector<std::string> bodies = {kFullReport};
  for (const char* prefix :
       {"get-meetingattendancereport-", "list-meetingattendancereports-", "get-onlinemeeting-"}) {
    for (const auto& name : ExampleNames(prefix)) bodies.push_back(ReadExample(name));
  }
  std::string alphabet = "{}[]\":,.-+eE0123456789 \\nultrfasTZ";
  alphabet += '\0';
  alphabet += '\xff';
  int parsed = 0;
  for (const std::string& original : bodies) {
    for (int round = 0; round < 1000; ++round) {
      std::string body = original;
      const int edits = 1 + static_cast<int>(random() % 4);
      for (int e = 0; e < edits && !body.empty(); ++e) {
        const std::size_t at = random() % body.size();
        switch (random() % 3) {
          case 0: body[at] = alphabet[random() % alphabet.size()]; break;
          case 1: body.erase(at, 1 + random() % 8); break;
          default: body.insert(at, 1, alphabet[random() % alphabet.size()]); break;
        }
      }
      std::string link;
      absl::StatusOr<MeetingAttendanceReport> report = ParseAttendanceReport(body, &link);
      if (report.ok()) {
        ++parsed;
        // Whatever the mapping accepts, a client must be able to read: the message serializes
        // and parses back to itself (proto3 strings must be UTF-8, nesting within protobuf's
        // limit), so a mutation that slips an invalid byte into a string fails here.
        MeetingAttendanceReport round_trip;
        ASSERT_TRUE(round_trip.ParseFromString(report->SerializeAsString())) << body;
        EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(round_trip, *report))
            << body;
      } else {
        ASSERT_EQ(report.status().code(), absl::StatusCode::kInvalidArgument) << body;
      }
      MeetingAttendanceReport page;
      absl::Status status = ParseAttendanceRecordsPage(body, &page, &link);
      ASSERT_TRUE(status.ok() || status.code() == absl::StatusCode::kInvalidArgument) << body;
      rollcall::v1::ListAttendanceReportsResponse list;
      status = ParseAttendanceReportsPage(body, list.mutable_reports(), &link);
      ASSERT_TRUE(status.ok() || status.code() == absl::StatusCode::kInvalidArgument) << body;
      google::protobuf::RepeatedPtrField<rollcall::v1::OnlineMeeting> meetings;
      status = ParseOnlineMeetingsPage(body, &meetings, &link);
      ASSERT_TRUE(status.ok() || status.code() == absl::StatusCode::kInvalidArgument) << body;
      GraphErrorBody error;
      ParseGraphErrorBody(body, &error);
      TokenErrorBody token_error;
      ParseTokenErrorBody(body, &token_error);
    }
  }
  EXPECT_GT(parsed, 0);  // some mutations stay valid (inside strings, say)
}

// ---------------------------------------------------------------------------------------------
// Date-times.

struct DateTimeCase {
  const char* text;
  int64_t seconds;
  int32_t nanos;
};

class ValidDateTimes : public ::testing::TestWithParam<DateTimeCase> {};

TEST_P(ValidDateTimes, ParseExactly) {
  absl::StatusOr<absl::Time> t = ParseDateTimeOffset(GetParam().text);
  ASSERT_TRUE(t.ok()) << t.status();
  const absl::Time expected =
      absl::FromUnixSeconds(GetParam().seconds) + absl::Nanoseconds(GetParam().nanos);
  EXPECT_EQ(*t, expected) << absl::FormatTime(*t);

  // And through the mapping into a Timestamp.
  absl::StatusOr<MeetingAttendanceReport> report = ParseAttendanceReport(
      std::string(R"({"id":"r","meetingStartDateTime":")") + GetParam().text + "\"}");
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->meeting_start_date_time().seconds(), GetParam().seconds);
  EXPECT_EQ(report->meeting_start_date_time().nanos(), GetParam().nanos);
}

INSTANTIATE_TEST_SUITE_P(
    FractionsAndOffsets, ValidDateTimes,
    ::testing::Values(DateTimeCase{"2021-03-16T18:59:52Z", 1615921192, 0},
                      DateTimeCase{"2021-03-16T18:59:52.2Z", 1615921192, 200000000},
                      DateTimeCase{"2021-03-16T18:59:52.27Z", 1615921192, 270000000},
                      DateTimeCase{"2021-03-16T18:59:52.278Z", 1615921192, 278000000},
                      DateTimeCase{"2021-03-16T18:59:52.2782Z", 1615921192, 278200000},
                      DateTimeCase{"2021-03-16T18:59:52.27821Z", 1615921192, 278210000},
                      DateTimeCase{"2021-03-16T18:59:52.278218Z", 1615921192, 278218000},
                      DateTimeCase{"2021-03-16T18:59:52.2782182Z", 1615921192, 278218200},
                      DateTimeCase{"2021-03-16T18:59:52.27821823Z", 1615921192, 278218230},
                      DateTimeCase{"2021-03-16T18:59:52.278218239Z", 1615921192, 278218239},
                      DateTimeCase{"2021-03-16T18:59:52.9999999Z", 1615921192, 999999900},
                      DateTimeCase{"2021-03-16T18:59:52.0000001Z", 1615921192, 100},
                      DateTimeCase{"2021-03-17T00:29:52.5+05:30", 1615921192, 500000000},
                      DateTimeCase{"2021-03-16T10:59:52-08:00", 1615921192, 0},
                      DateTimeCase{"2021-03-16T18:59:52+00:00", 1615921192, 0},
                      DateTimeCase{"2021-03-16t18:59:52z", 1615921192, 0},
                      DateTimeCase{"1969-12-31T23:59:59.5Z", -1, 500000000},
                      DateTimeCase{"1970-01-01T00:00:00Z", 0, 0},
                      DateTimeCase{"2024-02-29T23:59:59.9999999Z", 1709251199, 999999900},
                      DateTimeCase{"0001-01-01T00:00:00Z", -62135596800, 0},
                      DateTimeCase{"9999-12-31T23:59:59.999999999Z", 253402300799, 999999999}));

TEST(InvalidDateTimes, AreRejected) {
  for (const char* text :
       {"", "2021-03-16", "2021-03-16T18:59:52", "2021-03-16T18:59:52.Z",
        "2021-03-16T18:59:52.1234567890Z", "2021-03-16 18:59:52Z", "2021-3-16T18:59:52Z",
        "2021-02-29T00:00:00Z", "2021-04-31T00:00:00Z", "2021-13-01T00:00:00Z",
        "2021-03-16T24:00:00Z", "2021-03-16T18:60:00Z", "2021-03-16T18:59:60Z",
        "2021-03-16T18:59:52+0530", "2021-03-16T18:59:52+24:00", "2021-03-16T18:59:52+05:60",
        "2021-03-16T18:59:52Zjunk", "2021-03-16T18:59:52+05:30junk", "+2021-03-16T18:59:52Z",
        "2021-03-16T18:59:52.12a4Z", "２０２１-03-16T18:59:52Z"}) {
    SCOPED_TRACE(text);
    EXPECT_EQ(ParseDateTimeOffset(text).status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(InvalidDateTimes, OutsideTimestampRangeIsRejectedByTheMapping) {
  absl::StatusOr<MeetingAttendanceReport> report = ParseAttendanceReport(
      R"({"id":"r","meetingStartDateTime":"0001-01-01T00:00:00+00:01"})");
  ASSERT_EQ(report.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(report.status()), HasSubstr("meetingStartDateTime"));
}

// ---------------------------------------------------------------------------------------------
// Paging bodies.

TEST(Paging, ReportNextLinkIsReturned) {
  std::string link;
  absl::StatusOr<MeetingAttendanceReport> report = ParseAttendanceReport(
      R"({"id":"r","attendanceRecords":[{"role":"Organizer"}],
          "attendanceRecords@odata.nextLink":
              "https://graph.microsoft.com/v1.0/next?$skiptoken=x"})",
      &link);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(link, "https://graph.microsoft.com/v1.0/next?$skiptoken=x");
  EXPECT_EQ(report->attendance_records_size(), 1);
}

TEST(Paging, PagesAppendAndReturnTheirNextLink) {
  MeetingAttendanceReport report;
  report.set_id("r");
  report.add_attendance_records()->set_role("Organizer");
  std::string link;
  ASSERT_TRUE(ParseAttendanceRecordsPage(
                  R"({"value":[{"role":"Presenter"},{"role":"Attendee"}],
                      "@odata.nextLink":"https://graph.microsoft.com/v1.0/p3"})",
                  &report, &link)
                  .ok());
  EXPECT_EQ(link, "https://graph.microsoft.com/v1.0/p3");
  ASSERT_EQ(report.attendance_records_size(), 3);
  EXPECT_EQ(report.attendance_records(2).role(), "Attendee");
  ASSERT_TRUE(ParseAttendanceRecordsPage(R"({"value":[]})", &report, &link).ok());
  EXPECT_EQ(link, "");
}

TEST(Paging, ReportListPagesAppendAndABadOneLeavesTheListAsItWas) {
  rollcall::v1::ListAttendanceReportsResponse list;
  std::string link;
  ASSERT_TRUE(ParseAttendanceReportsPage(
                  R"({"value":[{"id":"a","attendanceRecords":[]}],
                      "@odata.nextLink":"https://graph.microsoft.com/v1.0/p2"})",
                  list.mutable_reports(), &link)
                  .ok());
  EXPECT_EQ(link, "https://graph.microsoft.com/v1.0/p2");
  ASSERT_TRUE(ParseAttendanceReportsPage(R"({"value":[{"id":"b","future":1}]})",
                                         list.mutable_reports(), &link)
                  .ok());
  EXPECT_EQ(link, "");
  ASSERT_EQ(list.reports_size(), 2);
  EXPECT_EQ(list.reports(1).id(), "b");
  EXPECT_EQ(list.reports(1).additional_properties().fields().at("future").number_value(), 1);
  const std::string before = list.SerializeAsString();
  for (const auto& [body, message] : std::vector<std::pair<std::string, std::string>>{
           {R"({"value":[{"id":"c"},{"id":null}]})", "value[1].id: must not be null"},
           {R"({"value":[{"id":"c"}],"@odata.nextLink":[]})", "@odata.nextLink: expected a string"},
           {R"({"value":{}})", "value: expected an array"},
           {R"({"reports":[]})", "value: missing"},
           {R"([])", "body: expected an object"}}) {
    SCOPED_TRACE(body);
    link = "stale";
    absl::Status status = ParseAttendanceReportsPage(body, list.mutable_reports(), &link);
    ASSERT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(Message(status), message);
    EXPECT_EQ(list.SerializeAsString(), before);
  }
  // A null list is an empty page.
  ASSERT_TRUE(ParseAttendanceReportsPage(R"({"value":null})", list.mutable_reports(), &link).ok());
  EXPECT_EQ(list.reports_size(), 2);
}

TEST(Paging, ABadPageOnAnArenaLeavesItAsItWas) {
  google::protobuf::Arena arena;
  auto* report = google::protobuf::Arena::CreateMessage<MeetingAttendanceReport>(&arena);
  report->add_attendance_records()->set_role("Organizer");
  const std::string before = report->SerializeAsString();
  std::string link;
  EXPECT_FALSE(
      ParseAttendanceRecordsPage(R"({"value":[{"role":"a"},{"role":"b"},{"role":3}]})", report,
                                 &link)
          .ok());
  EXPECT_EQ(report->SerializeAsString(), before);
  ASSERT_TRUE(ParseAttendanceRecordsPage(R"({"value":[{"role":"c"}]})", report, &link).ok());
  ASSERT_EQ(report->attendance_records_size(), 2);
  EXPECT_EQ(report->attendance_records(1).role(), "c");
}

TEST(Paging, ABadPageLeavesTheReportAsItWas) {
  MeetingAttendanceReport report;
  report.set_id("r");
  const std::string before = report.SerializeAsString();
  std::string link;
  absl::Status status = ParseAttendanceRecordsPage(
      R"({"value":[{"role":"Presenter"},{"role":5}]})", &report, &link);
  ASSERT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(status), "value[1].role: expected a string");
  EXPECT_EQ(report.SerializeAsString(), before);
  EXPECT_EQ(ParseAttendanceRecordsPage(R"({"records":[]})", &report, &link).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseAttendanceRecordsPage(R"({"value":[],"@odata.nextLink":5})", &report, &link)
                .code(),
            absl::StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------------------------
// onlineMeeting.

absl::StatusOr<rollcall::v1::OnlineMeeting> OnlyMeeting(const std::string& body) {
  google::protobuf::RepeatedPtrField<rollcall::v1::OnlineMeeting> meetings;
  std::string link;
  absl::Status status = ParseOnlineMeetingsPage(body, &meetings, &link);
  if (!status.ok()) return status;
  EXPECT_EQ(meetings.size(), 1);
  if (meetings.empty()) return absl::NotFoundError("no meeting");
  return meetings[0];
}

TEST(OnlineMeeting, NestedPropertiesAreFlattenedAndNullsLeaveThemUnset) {
  absl::StatusOr<rollcall::v1::OnlineMeeting> meeting = OnlyMeeting(R"({"value":[{
      "id": "m", "subject": "Weekly", "joinWebUrl": "https://teams.microsoft.com/l/x",
      "creationDateTime": "2024-05-01T10:00:00Z", "startDateTime": null, "endDateTime": null,
      "chatInfo": {"threadId": "19:meeting_x@thread.v2", "messageId": "0"},
      "joinMeetingIdSettings": {"joinMeetingId": null},
      "participants": {"organizer": {"identity": {"user": {"id": "org-1", "tenantId": "t"}}},
                       "attendees": [{"upn": "a"}]},
      "videoTeleconferenceId": "123", "lobbyBypassSettings": {"scope": "organization"}}]})");
  ASSERT_TRUE(meeting.ok()) << meeting.status();
  ExpectProtoEq(*meeting, FromText<rollcall::v1::OnlineMeeting>(R"pb(
    id: "m"
    subject: "Weekly"
    join_web_url: "https://teams.microsoft.com/l/x"
    creation_date_time { seconds: 1714557600 }
    chat_thread_id: "19:meeting_x@thread.v2"
    video_teleconference_id: "123"
    organizer_id: "org-1")pb"));

  // A null anywhere on the way to the organizer's ID leaves it unset.
  for (const char* participants :
       {"null", R"({"organizer":null})", R"({"organizer":{"identity":null}})",
        R"({"organizer":{"identity":{"user":null}}})",
        R"({"organizer":{"identity":{"user":{"id":null}}}})",
        R"({"organizer":{"identity":{"application":{"id":"app"}}}})"}) {
    SCOPED_TRACE(participants);
    meeting = OnlyMeeting(std::string(R"({"value":[{"id":"m","participants":)") + participants +
                          "}]}");
    ASSERT_TRUE(meeting.ok()) << meeting.status();
    EXPECT_FALSE(meeting->has_organizer_id());
  }
}

TEST(OnlineMeeting, WrongTypesNameThePath) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"value":[{"id":5}]})", "value[0].id: expected a string"},
      {R"({"value":[{"id":null}]})", "value[0].id: must not be null"},
      {R"({"value":[{"id":"m","subject":1}]})", "value[0].subject: expected a string"},
      {R"({"value":[{"id":"m","startDateTime":"soon"}]})", "value[0].startDateTime: invalid"},
      {R"({"value":[{"id":"m","chatInfo":"x"}]})", "value[0].chatInfo: expected an object"},
      {R"({"value":[{"id":"m","chatInfo":{"threadId":[]}}]})",
       "value[0].chatInfo.threadId: expected a string"},
      {R"({"value":[{"id":"m","joinMeetingIdSettings":{"joinMeetingId":123}}]})",
       "value[0].joinMeetingIdSettings.joinMeetingId: expected a string"},
      {R"({"value":[{"id":"m","participants":{"organizer":{"identity":{"user":{"id":1}}}}}]})",
       "value[0].participants.organizer.identity.user.id: expected a string"},
      {R"({"value":[{"id":"m","participants":{"organizer":[]}}]})",
       "value[0].participants.organizer: expected an object"},
      {R"({"value":[{"id":"m"},"m2"]})", "value[1]: expected an object"},
  };
  for (const auto& [body, message] : cases) {
    SCOPED_TRACE(body);
    absl::StatusOr<rollcall::v1::OnlineMeeting> meeting = OnlyMeeting(body);
    ASSERT_EQ(meeting.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(Message(meeting.status()), HasSubstr(message));
  }
}

// --- LoadBudget: what a load may build, counted while it is parsed ----------------------------


// {"id":"r","attendanceRecords":[{},{},…]} with `n` empty records (and a next link when given).
std::string EmptyRecordsReport(int n, const std::string& next_link = "") {
  std::string json = R"({"id":"r","attendanceRecords":[)";
  for (int i = 0; i < n; ++i) json += i == 0 ? "{}" : ",{}";
  json += "]";
  if (!next_link.empty()) json += R"(,"attendanceRecords@odata.nextLink":")" + next_link + "\"";
  return json + "}";
}

std::string EmptyRecordsPage(int n) {
  std::string json = R"({"value":[)";
  for (int i = 0; i < n; ++i) json += i == 0 ? "{}" : ",{}";
  return json + "]}";
}

TEST(LoadBudget, RecordsAreCountedAcrossPagesAndTheBoundIsExact) {
  google::protobuf::Arena arena;
  auto* report = google::protobuf::Arena::CreateMessage<MeetingAttendanceReport>(&arena);
  LoadBudget budget;
  budget.max_records = 5;
  std::string next;
  ASSERT_TRUE(ParseAttendanceReport(EmptyRecordsReport(3, "https://x/p2"),
                                                     report, &next, &budget)
                  .ok());
  EXPECT_EQ(budget.records, 3);
  // Two more: exactly the bound, served.
  ASSERT_TRUE(
      ParseAttendanceRecordsPage(EmptyRecordsPage(2), report, &next, &budget)
          .ok());
  EXPECT_EQ(report->attendance_records_size(), 5);
  EXPECT_EQ(budget.exceeded, LoadBudget::Exceeded::kNone);
  // One more: refused, the page left out.
  absl::Status status =
      ParseAttendanceRecordsPage(EmptyRecordsPage(1), report, &next, &budget);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(Message(status), HasSubstr("more than 5 attendance records"));
  EXPECT_EQ(budget.exceeded, LoadBudget::Exceeded::kRecords);
  EXPECT_EQ(report->attendance_records_size(), 5);
}

TEST(LoadBudget, AMillionEmptyRecordsStopAtTheRecordBoundWhileParsing) {
  const std::string body = EmptyRecordsReport(1'000'000);
  google::protobuf::Arena arena;
  auto* report = google::protobuf::Arena::CreateMessage<MeetingAttendanceReport>(&arena);
  LoadBudget budget;
  budget.max_records = 1000;
  absl::Status status = ParseAttendanceReport(body, report, nullptr, &budget);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(budget.records, 1001);  // the parse stopped at the first record past the bound
  EXPECT_EQ(report->attendance_records_size(), 0);
  // Nothing was mapped: the arena holds the report alone.
  EXPECT_LT(arena.SpaceAllocated(), 64u << 10);
}

TEST(LoadBudget, TheParsedDocumentIsChargedAsItGrows) {
  // One record with 200,000 empty intervals: one record, 200,000 values.
  std::string body = R"({"id":"r","attendanceRecords":[{"attendanceIntervals":[)";
  for (int i = 0; i < 200'000; ++i) body += i == 0 ? "{}" : ",{}";
  body += "]}]}";
  MeetingAttendanceReport report;  // not on an arena: only the document is counted
  LoadBudget budget;
  budget.max_memory = body.size() + 100'000 * json::kDocumentBytesPerValue;
  absl::Status status = ParseAttendanceReport(body, &report, nullptr, &budget);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(Message(status),
              HasSubstr("more than " + std::to_string(budget.max_memory) + " bytes of memory"));
  EXPECT_EQ(budget.exceeded, LoadBudget::Exceeded::kMemory);
  EXPECT_EQ(budget.records, 1);
  EXPECT_EQ(report.ByteSizeLong(), 0u);
}

TEST(LoadBudget, TheMessageIsChargedAsItIsMappedOnItsArena) {
  // Within the document's share, but the records it becomes are larger than the rest.
  const std::string body = EmptyRecordsReport(100'000);
  const std::size_t document = body.size() + (100'000 + 4) * 32;
  for (const bool fits : {true, false}) {
    SCOPED_TRACE(fits);
    google::protobuf::Arena arena;
    auto* report = google::protobuf::Arena::CreateMessage<MeetingAttendanceReport>(&arena);
    LoadBudget budget;
    budget.max_memory = document + (fits ? 64u << 20 : 1u << 20);
    absl::Status status = ParseAttendanceReport(body, report, nullptr, &budget);
    if (fits) {
      ASSERT_TRUE(status.ok()) << status;
      EXPECT_EQ(report->attendance_records_size(), 100'000);
      continue;
    }
    EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
    EXPECT_EQ(budget.exceeded, LoadBudget::Exceeded::kMemory);
    EXPECT_EQ(report->attendance_records_size(), 0);
    // Stopped within about one block of the bound, not after the whole list.
    EXPECT_LT(arena.SpaceAllocated(), (1u << 20) + (256u << 10));
  }
}

TEST(LoadBudget, UnknownPropertiesAreChargedToo) {
  // A huge array kept in additional_properties grows the message value by value.
  std::string body = R"({"id":"r","attendanceRecords":[{"extra":[)";
  for (int i = 0; i < 100'000; ++i) body += i == 0 ? "0" : ",0";
  body += "]}]}";
  google::protobuf::Arena arena;
  auto* report = google::protobuf::Arena::CreateMessage<MeetingAttendanceReport>(&arena);
  LoadBudget budget;
  budget.max_memory = body.size() + (100'000 + 8) * 32 + (512u << 10);
  absl::Status status = ParseAttendanceReport(body, report, nullptr, &budget);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(report->attendance_records_size(), 0);
  EXPECT_LT(arena.SpaceAllocated(), (512u << 10) + (256u << 10));
}

TEST(LoadBudget, WithoutABudgetNothingIsBounded) {
  google::protobuf::Arena arena;
  auto* report = google::protobuf::Arena::CreateMessage<MeetingAttendanceReport>(&arena);
  ASSERT_TRUE(ParseAttendanceReport(EmptyRecordsReport(10'000), report).ok());
  EXPECT_EQ(report->attendance_records_size(), 10'000);
}

}  // namespace
}  // namespace rollcall::graph
