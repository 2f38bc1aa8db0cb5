// The hand-written wire code of the hit path against the proto's descriptors: ParseRequest
// must read every field GetAttendanceReportRequest declares (and read it as protobuf does),
// and the suffix a cached reply appends must be the encoding of from_cache / stale.

#include <set>
#include <string>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/protobuf/wire_format.h"
#include "gtest/gtest.h"
#include "rollcall/v1/attendance.pb.h"
#include "service/reply_suffix.h"
#include "service/validation.h"

namespace rollcall::service {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Reflection;
using google::protobuf::internal::WireFormat;
using rollcall::v1::GetAttendanceReportRequest;
using rollcall::v1::GetAttendanceReportResponse;

// What ParseRequest read, as the message protobuf would have parsed. A field that
// RequestFields does not carry cannot be set here: the round trip below then fails.
GetAttendanceReportRequest ToMessage(const RequestFields& fields) {
  GetAttendanceReportRequest message;
  message.set_user_id(std::string(fields.user_id));
  message.set_meeting_id(std::string(fields.meeting_id));
  message.set_report_id(std::string(fields.report_id));
  message.set_view(fields.view);
  if (fields.session.present) {
    rollcall::v1::VirtualEventSession* session = message.mutable_virtual_event_session();
    session->set_kind(static_cast<rollcall::v1::VirtualEventKind>(fields.session.kind));
    session->set_event_id(std::string(fields.session.event_id));
    session->set_session_id(std::string(fields.session.session_id));
  }
  return message;
}

// Sets `field` of `message` to a value that is not its default, distinct per field.
void SetNonDefault(const FieldDescriptor* field, google::protobuf::Message* message) {
  const Reflection* reflection = message->GetReflection();
  ASSERT_FALSE(field->is_repeated()) << field->name() << ": a repeated field needs a case here";
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      reflection->SetString(message, field, "value of " + field->name());
      break;
    case FieldDescriptor::CPPTYPE_ENUM: {
      const auto* type = field->enum_type();
      reflection->SetEnumValue(message, field, type->value(type->value_count() - 1)->number());
      break;
    }
    case FieldDescriptor::CPPTYPE_BOOL:
      reflection->SetBool(message, field, true);
      break;
    case FieldDescriptor::CPPTYPE_INT32:
      reflection->SetInt32(message, field, 1000 + field->number());
      break;
    case FieldDescriptor::CPPTYPE_INT64:
      reflection->SetInt64(message, field, 1000 + field->number());
      break;
    case FieldDescriptor::CPPTYPE_UINT32:
      reflection->SetUInt32(message, field, 1000 + field->number());
      break;
    case FieldDescriptor::CPPTYPE_UINT64:
      reflection->SetUInt64(message, field, 1000 + field->number());
      break;
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      // Every field of the nested message, the same way.
      google::protobuf::Message* nested = reflection->MutableMessage(message, field);
      const Descriptor* type = nested->GetDescriptor();
      for (int i = 0; i < type->field_count(); ++i) SetNonDefault(type->field(i), nested);
      break;
    }
    default:
      FAIL() << field->name() << ": a field of this type needs a case here";
  }
}

TEST(RequestWireTest, TheParserHandlesEveryFieldTheDescriptorDeclares) {
  const Descriptor* descriptor = GetAttendanceReportRequest::descriptor();
  std::set<int> declared;
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const FieldDescriptor* field = descriptor->field(i);
    declared.insert(field->number());
    const RequestWireField* handled = nullptr;
    for (const RequestWireField& entry : kRequestWireFields) {
      if (entry.number == field->number()) handled = &entry;
    }
    ASSERT_NE(handled, nullptr) << "ParseRequest does not read field " << field->number()
                                << " (" << field->name() << "): add it to kRequestWireFields, "
                                << "RequestFields and ParseRequest";
    EXPECT_EQ(handled->name, field->name());
    EXPECT_EQ(handled->wire_type, static_cast<int>(WireFormat::WireTypeForField(field)))
        << field->name();
  }
  for (const RequestWireField& entry : kRequestWireFields) {
    EXPECT_EQ(declared.count(entry.number), 1u)
        << "kRequestWireFields names field " << entry.number << " (" << entry.name
        << "), which the message does not declare";
  }
}

// The same for the VirtualEventSession that ParseRequest reads inside the request.
TEST(RequestWireTest, TheParserHandlesEveryFieldOfTheNestedSession) {
  const Descriptor* descriptor = rollcall::v1::VirtualEventSession::descriptor();
  ASSERT_EQ(GetAttendanceReportRequest::descriptor()
                ->FindFieldByNumber(kSessionField)
                ->message_type(),
            descriptor);
  std::set<int> declared;
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const FieldDescriptor* field = descriptor->field(i);
    declared.insert(field->number());
    const RequestWireField* handled = nullptr;
    for (const RequestWireField& entry : kSessionWireFields) {
      if (entry.number == field->number()) handled = &entry;
    }
    ASSERT_NE(handled, nullptr) << "ParseRequest does not read virtual_event_session field "
                                << field->number() << " (" << field->name() << ")";
    EXPECT_EQ(handled->name, field->name());
    EXPECT_EQ(handled->wire_type, static_cast<int>(WireFormat::WireTypeForField(field)))
        << field->name();
  }
  EXPECT_EQ(declared.size(), std::size(kSessionWireFields));
}

TEST(RequestWireTest, EveryFieldSetParsesAsProtobufParsesIt) {
  const Descriptor* descriptor = GetAttendanceReportRequest::descriptor();
  GetAttendanceReportRequest all;
  for (int i = 0; i < descriptor->field_count(); ++i) {
    SetNonDefault(descriptor->field(i), &all);
    // Each field alone, too: no field is read into another's place.
    GetAttendanceReportRequest one;
    SetNonDefault(descriptor->field(i), &one);
    const std::string bytes = one.SerializeAsString();
    RequestFields parsed;
    ASSERT_TRUE(ParseRequest(bytes, &parsed).ok()) << descriptor->field(i)->name();
    GetAttendanceReportRequest by_protobuf;
    ASSERT_TRUE(by_protobuf.ParseFromString(bytes));
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(ToMessage(parsed), by_protobuf))
        << descriptor->field(i)->name() << ": " << ToMessage(parsed).ShortDebugString()
        << " vs " << by_protobuf.ShortDebugString();
  }
  const std::string bytes = all.SerializeAsString();
  RequestFields parsed;
  ASSERT_TRUE(ParseRequest(bytes, &parsed).ok());
  GetAttendanceReportRequest by_protobuf;
  ASSERT_TRUE(by_protobuf.ParseFromString(bytes));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(ToMessage(parsed), by_protobuf))
      << ToMessage(parsed).ShortDebugString() << " vs " << by_protobuf.ShortDebugString();
  // Sent twice, the last occurrence wins, as in protobuf.
  GetAttendanceReportRequest other;
  SetNonDefault(descriptor->FindFieldByName("user_id"), &other);
  other.set_user_id("the later one");
  const std::string twice = bytes + other.SerializeAsString();
  ASSERT_TRUE(ParseRequest(twice, &parsed).ok());
  ASSERT_TRUE(by_protobuf.ParseFromString(twice));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(ToMessage(parsed), by_protobuf));
  // A message field sent twice is merged, field by field.
  GetAttendanceReportRequest first;
  first.mutable_virtual_event_session()->set_event_id("e1");
  first.mutable_virtual_event_session()->set_kind(rollcall::v1::VIRTUAL_EVENT_KIND_WEBINAR);
  GetAttendanceReportRequest second;
  second.mutable_virtual_event_session()->set_session_id("s2");
  const std::string merged = first.SerializeAsString() + second.SerializeAsString();
  ASSERT_TRUE(ParseRequest(merged, &parsed).ok());
  ASSERT_TRUE(by_protobuf.ParseFromString(merged));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(ToMessage(parsed), by_protobuf))
      << ToMessage(parsed).ShortDebugString() << " vs " << by_protobuf.ShortDebugString();
  // An empty session is still a session (protobuf's has_ is true).
  GetAttendanceReportRequest empty_session;
  empty_session.mutable_virtual_event_session();
  ASSERT_TRUE(ParseRequest(empty_session.SerializeAsString(), &parsed).ok());
  EXPECT_TRUE(parsed.session.present);
}

TEST(RequestWireTest, FieldsThatAreNotTheMessagesAreSkippedAsProtobufSkipsThem) {
  GetAttendanceReportRequest request;
  request.set_user_id("u");
  request.set_report_id("r");
  // Field 99 (unknown) as a string, and user_id sent as a varint: both skipped.
  std::string bytes = request.SerializeAsString();
  bytes += std::string("\x9a\x06\x03xyz", 6);  // field 99, length-delimited
  bytes += std::string("\x08\x05", 2);          // field 1 as a varint
  RequestFields parsed;
  ASSERT_TRUE(ParseRequest(bytes, &parsed).ok());
  GetAttendanceReportRequest by_protobuf;
  ASSERT_TRUE(by_protobuf.ParseFromString(bytes));
  by_protobuf.GetReflection()->MutableUnknownFields(&by_protobuf)->Clear();
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(ToMessage(parsed), by_protobuf));
}

// ParseRequest reads the shape clients send (the three IDs and a view under 128) with plain
// reads, and anything else with the full walk. Both must agree with protobuf at the seam:
// lengths of one, two and three bytes, views of one and two bytes, non-minimal varints, a
// session after the IDs, and bytes cut at every position.
TEST(RequestWireTest, TheShortcutAndTheFullWalkAgreeWithProtobufAtTheirSeam) {
  const auto agrees = [](const std::string& bytes) {
    RequestFields parsed;
    const bool ours = ParseRequest(bytes, &parsed).ok();
    GetAttendanceReportRequest by_protobuf;
    const bool theirs = by_protobuf.ParseFromString(bytes);
    if (ours != theirs) return ::testing::AssertionFailure() << "ok " << ours << " vs " << theirs;
    if (!ours) return ::testing::AssertionSuccess();
    if (!google::protobuf::util::MessageDifferencer::Equals(ToMessage(parsed), by_protobuf)) {
      return ::testing::AssertionFailure()
             << ToMessage(parsed).ShortDebugString() << " vs " << by_protobuf.ShortDebugString();
    }
    // Where the shortcut answers, its answer is protobuf's too.
    RequestFields shortcut;
    if (ParseCommonRequest(bytes, &shortcut) &&
        !google::protobuf::util::MessageDifferencer::Equals(ToMessage(shortcut), by_protobuf)) {
      return ::testing::AssertionFailure() << "shortcut: " << ToMessage(shortcut).ShortDebugString()
                                           << " vs " << by_protobuf.ShortDebugString();
    }
    return ::testing::AssertionSuccess();
  };
  // The shape every client sends is the shortcut's: IDs of one- and two-byte lengths, views.
  const auto shortcut_takes = [](const GetAttendanceReportRequest& request) {
    RequestFields parsed;
    return ParseCommonRequest(request.SerializeAsString(), &parsed);
  };
  for (const std::size_t length : {0, 1, 127, 128, 129, 1024, 16383, 16384, 70000}) {
    GetAttendanceReportRequest request;
    request.set_user_id(std::string(length, 'u'));
    request.set_meeting_id("m");
    request.set_report_id(std::string(length / 2, 'r'));
    for (const int view : {0, 1, 2, 127, 128, 300, -1}) {
      request.set_view(static_cast<rollcall::v1::ReportView>(view));
      EXPECT_TRUE(agrees(request.SerializeAsString())) << length << " " << view;
      EXPECT_EQ(shortcut_takes(request), length < 16384 && view >= 0 && view < 128)
          << length << " " << view;
    }
  }
  // A two-byte length followed by a long field: a length misread would still fit, and so be
  // used rather than sent to the full walk.
  for (const std::size_t length : {128, 200, 1000, 5000}) {
    GetAttendanceReportRequest request;
    request.set_user_id(std::string(length, 'u'));
    request.set_report_id(std::string(20000, 'r'));
    EXPECT_TRUE(agrees(request.SerializeAsString())) << length;
  }
  // Non-minimal varints: a length of 3 in two bytes, a view of 1 in two, a tag in two.
  EXPECT_TRUE(agrees(std::string("\x0a\x83\x00" "abc", 6)));
  EXPECT_TRUE(agrees(std::string("\x20\x81\x00", 3)));
  EXPECT_TRUE(agrees(std::string("\x8a\x00\x01" "x", 4)));
  // A session after the IDs, and the IDs repeated after it.
  GetAttendanceReportRequest ids;
  ids.set_user_id("u");
  ids.set_report_id("r");
  GetAttendanceReportRequest session;
  session.mutable_virtual_event_session()->set_event_id("e");
  EXPECT_TRUE(agrees(ids.SerializeAsString() + session.SerializeAsString() +
                     ids.SerializeAsString()));
  // Every prefix of a full request: truncations the shortcut sees first.
  GetAttendanceReportRequest full;
  full.set_user_id(std::string(200, 'u'));
  full.set_meeting_id("meeting");
  full.set_report_id("report");
  full.set_view(rollcall::v1::REPORT_VIEW_BASIC);
  const std::string bytes = full.SerializeAsString();
  for (std::size_t cut = 0; cut <= bytes.size(); ++cut) {
    EXPECT_TRUE(agrees(bytes.substr(0, cut))) << "cut at " << cut;
  }
}

std::string AsString(const ReplySuffix& suffix) {
  return std::string(reinterpret_cast<const char*>(suffix.data()), suffix.size);
}

TEST(ReplySuffixTest, SuffixesAreTheEncodingOfFromCacheAndStale) {
  const CachedReplySuffixes& suffixes = GetCachedReplySuffixes();
  GetAttendanceReportResponse from_cache;
  from_cache.set_from_cache(true);
  EXPECT_EQ(AsString(suffixes.from_cache), from_cache.SerializeAsString());
  GetAttendanceReportResponse stale;
  stale.set_from_cache(true);
  stale.set_stale(true);
  EXPECT_EQ(AsString(suffixes.from_cache_stale), stale.SerializeAsString());
  // Today's numbering: from_cache = 3, stale = 4.
  EXPECT_EQ(AsString(suffixes.from_cache), std::string("\x18\x01", 2));
  EXPECT_EQ(AsString(suffixes.from_cache_stale), std::string("\x18\x01\x20\x01", 4));
  // Appended to a response's bytes, they set the fields and change nothing else.
  GetAttendanceReportResponse cached;
  cached.mutable_report()->set_id("r");
  cached.mutable_graph_fetch_time()->set_seconds(1700000000);
  GetAttendanceReportResponse merged;
  ASSERT_TRUE(merged.ParseFromString(cached.SerializeAsString() + AsString(suffixes.from_cache)));
  EXPECT_TRUE(merged.from_cache());
  EXPECT_FALSE(merged.stale());
  merged.clear_from_cache();
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(merged, cached));
  // The same object on every call: computed once.
  EXPECT_EQ(&GetCachedReplySuffixes(), &suffixes);
}

}  // namespace
}  // namespace rollcall::service
