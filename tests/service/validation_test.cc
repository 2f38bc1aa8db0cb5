#include "service/validation.h"

#include <algorithm>
#include <string>
#include <vector>

#include "common/error_details.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rollcall::service {
namespace {

using ::testing::HasSubstr;
using rollcall::v1::GetAttendanceReportRequest;

GetAttendanceReportRequest Valid() {
  GetAttendanceReportRequest request;
  request.set_user_id("dc17674c-81d9-4adb-bfb2-8f6a442e4623");
  request.set_meeting_id(
      "MSo1N2Y5ZGFjYy03MWJmLTQ3NDMtYjQxMy01M2EdFGkdRWHJlQ_MTk6bWVldGluZ19OVGcyTmpJMg==");
  request.set_report_id("c9b6db1c-d5eb-427d-a5c0-20088d9b22d7");
  return request;
}

// Expects INVALID_ARGUMENT with reason INVALID_ID, metadata field=`field`, and a message that
// names the field.
void ExpectInvalid(const GetAttendanceReportRequest& request, const std::string& field) {
  const absl::Status status = ValidateRequest(request);
  ASSERT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr(field));
  const common::ErrorDetails details = common::GetErrorDetails(status);
  EXPECT_EQ(details.reason, "INVALID_ID");
  EXPECT_EQ(details.metadata.at("field"), field);
}

TEST(ValidationTest, AcceptsARealisticRequest) {
  EXPECT_TRUE(ValidateRequest(Valid()).ok());
}

TEST(ValidationTest, AcceptsCharactersThatOnlyEncodingMakesSafe) {
  for (const char* id : {"a/b", "a?b=c", "frag#ment", "100%", "%2F", "..", "../..", "with space",
                         "user@contoso.com", "ünïcødé 会议 🙂", "x"}) {
    GetAttendanceReportRequest request = Valid();
    request.set_meeting_id(id);
    EXPECT_TRUE(ValidateRequest(request).ok()) << id;
  }
  GetAttendanceReportRequest request = Valid();
  request.set_meeting_id("no\xc2\xa0" "break");  // U+00A0, just past C1: not a control
  EXPECT_TRUE(ValidateRequest(request).ok());
  request.set_user_id(std::string(kMaxIdBytes, 'u'));  // exactly the limit
  EXPECT_TRUE(ValidateRequest(request).ok());
}

TEST(ValidationTest, EachIdIsRequired) {
  for (const char* field : {"user_id", "meeting_id", "report_id"}) {
    GetAttendanceReportRequest request = Valid();
    request.GetReflection()->SetString(
        &request, request.GetDescriptor()->FindFieldByName(field), "");
    ExpectInvalid(request, field);
  }
}

TEST(ValidationTest, RejectsOversizedIds) {
  GetAttendanceReportRequest request = Valid();
  request.set_report_id(std::string(kMaxIdBytes + 1, 'r'));  // 1025 bytes
  ExpectInvalid(request, "report_id");
  EXPECT_THAT(std::string(ValidateRequest(request).message()), HasSubstr("1025"));
}

TEST(ValidationTest, RejectsControlCharacters) {
  for (const std::string& id :
       {std::string("a\nb"), std::string("a\rb"), std::string("\t"), std::string("a\x7f"),
        std::string("nul\0byte", 8), std::string("\x1b[31m"),
        // C1 controls, U+0080 (first), U+0085 (NEL, a line break to some logs), U+009B (CSI,
        // a terminal escape) and U+009F (last), each two bytes of UTF-8.
        std::string("a\xc2\x80"), std::string("line\xc2\x85" "break"),
        std::string("\xc2\x9b" "31m"), std::string("\xc2\x9fz")}) {
    GetAttendanceReportRequest request = Valid();
    request.set_user_id(id);
    ExpectInvalid(request, "user_id");
  }
}

TEST(ValidationTest, RejectsInvalidUtf8) {
  for (const std::string& id :
       {std::string("\xff"), std::string("abc\xc3"), std::string("\xc0\xaf"),  // overlong '/'
        std::string("\xed\xa0\x80"),                                          // surrogate
        std::string("\xf4\x90\x80\x80"),                                      // > U+10FFFF
        std::string("\x80x")}) {
    GetAttendanceReportRequest request = Valid();
    request.set_meeting_id(id);
    ExpectInvalid(request, "meeting_id");
  }
}

TEST(ValidationTest, RejectsUnknownView) {
  GetAttendanceReportRequest request = Valid();
  for (auto view : {rollcall::v1::REPORT_VIEW_UNSPECIFIED, rollcall::v1::REPORT_VIEW_BASIC,
                    rollcall::v1::REPORT_VIEW_FULL}) {
    request.set_view(view);
    EXPECT_TRUE(ValidateRequest(request).ok());
  }
  request.set_view(static_cast<rollcall::v1::ReportView>(7));
  ExpectInvalid(request, "view");
}

// Parses `bytes` as the server does (as one slice, and cut into slices of 1 to 5 bytes, which
// must read the same) and copies the fields into *out.
absl::Status ParseBytes(const std::string& bytes, GetAttendanceReportRequest* out) {
  RequestFields whole;
  grpc::Slice storage;
  const grpc::Slice one(bytes);
  const absl::Status status = ParseRequest(grpc::ByteBuffer(&one, 1), &storage, &whole);
  for (std::size_t piece = 1; piece <= 5; ++piece) {
    std::vector<grpc::Slice> slices;
    for (std::size_t at = 0; at < bytes.size(); at += piece) {
      slices.emplace_back(bytes.data() + at, std::min(piece, bytes.size() - at));
    }
    RequestFields cut;
    grpc::Slice cut_storage;
    EXPECT_EQ(ParseRequest(grpc::ByteBuffer(slices.data(), slices.size()), &cut_storage, &cut),
              status);
    EXPECT_EQ(cut.user_id, whole.user_id);
    EXPECT_EQ(cut.meeting_id, whole.meeting_id);
    EXPECT_EQ(cut.report_id, whole.report_id);
    EXPECT_EQ(cut.view, whole.view);
  }
  out->set_user_id(std::string(whole.user_id));
  out->set_meeting_id(std::string(whole.meeting_id));
  out->set_report_id(std::string(whole.report_id));
  out->set_view(whole.view);
  return status;
}

TEST(ParseRequestTest, ParsesWhatProtobufSerializes) {
  GetAttendanceReportRequest request = Valid();
  request.set_view(rollcall::v1::REPORT_VIEW_BASIC);
  GetAttendanceReportRequest parsed;
  ASSERT_TRUE(ParseBytes(request.SerializeAsString(), &parsed).ok());
  EXPECT_EQ(parsed.SerializeAsString(), request.SerializeAsString());

  ASSERT_TRUE(ParseBytes("", &parsed).ok());  // every field at its default
  EXPECT_EQ(parsed.user_id(), "");
}

TEST(ParseRequestTest, SkipsUnknownFieldsAndLastValueWins) {
  std::string bytes = Valid().SerializeAsString();
  bytes += std::string("\x0a\x03xyz", 5);   // user_id again: last one wins
  bytes += std::string("\x50\x96\x01", 3);  // field 10, varint 150: unknown
  bytes += std::string("\x5a\x02hi", 4);    // field 11, bytes: unknown
  bytes += std::string("\x20\x07", 2);      // view = 7 (kept, then refused by validation)
  GetAttendanceReportRequest parsed;
  ASSERT_TRUE(ParseBytes(bytes, &parsed).ok());
  EXPECT_EQ(parsed.user_id(), "xyz");
  EXPECT_EQ(parsed.view(), 7);
}

TEST(ParseRequestTest, KeepsInvalidUtf8ForValidationToName) {
  GetAttendanceReportRequest parsed;
  // A valid request, then meeting_id again as bytes that are not UTF-8 (the last one wins).
  const std::string bytes = Valid().SerializeAsString() + std::string("\x12\x02\xc3\x28", 4);
  ASSERT_TRUE(ParseBytes(bytes, &parsed).ok());
  ExpectInvalid(parsed, "meeting_id");
}

TEST(ParseRequestTest, IdsViewTheRequestBytesWithoutACopy) {
  const std::string bytes = Valid().SerializeAsString();
  RequestFields fields;
  ASSERT_TRUE(ParseRequest(bytes, &fields).ok());
  EXPECT_EQ(fields.user_id, Valid().user_id());
  EXPECT_GE(fields.user_id.data(), bytes.data());
  EXPECT_LE(fields.report_id.data() + fields.report_id.size(), bytes.data() + bytes.size());

  // A message in one slice is parsed where it lies.
  const grpc::Slice one(bytes);
  grpc::Slice storage;
  ASSERT_TRUE(ParseRequest(grpc::ByteBuffer(&one, 1), &storage, &fields).ok());
  EXPECT_EQ(storage.begin(), one.begin());
  EXPECT_GE(reinterpret_cast<const uint8_t*>(fields.meeting_id.data()), one.begin());
  EXPECT_LT(reinterpret_cast<const uint8_t*>(fields.meeting_id.data()), one.end());
}

// The eight-bytes-at-a-time path must agree with the rule byte by byte: every byte value, at
// every offset of a word and across word boundaries, between printable neighbours.
TEST(ValidationTest, EveryByteAtEveryPositionIsJudgedAlike) {
  // Lengths around the 8- and 16-byte blocks the check reads at once, and their tails.
  for (const std::size_t length : {1, 7, 8, 9, 15, 16, 17, 19, 31, 32, 33, 40}) {
    for (std::size_t position = 0; position < length; ++position) {
      for (int value = 0; value < 256; ++value) {
        std::string id(length, 'a');
        id[position] = static_cast<char>(value);
        GetAttendanceReportRequest request = Valid();
        request.set_report_id(id);
        const bool printable = value >= 0x20 && value < 0x7f;
        // A lone byte of 0x80 or more is never valid UTF-8; below 0x20 and 0x7f are controls.
        EXPECT_EQ(ValidateRequest(request).ok(), printable)
            << "byte " << value << " at " << position << " of " << length;
      }
    }
  }
  GetAttendanceReportRequest request = Valid();
  request.set_report_id("abcdefg\xc3\xa9hijklmnop\xe2\x9c\x93qrstuvwx");  // é and ✓
  EXPECT_TRUE(ValidateRequest(request).ok());
  request.set_report_id("abcdefgh\xc3");  // cut short at the end
  ExpectInvalid(request, "report_id");
}

TEST(ParseRequestTest, RejectsMalformedBytes) {
  for (const std::string& bytes :
       {std::string("\x0a\x05" "ab", 4),  // length past the end
        std::string("\x0a", 1),           // tag without a value
        std::string("\x00\x01", 2),       // field number 0
        std::string("\x20", 1),           // varint missing
        std::string("\x0c", 1),           // end-group with no group
        std::string("\xff\xff\xff\xff\xff\xff", 6)}) {
    GetAttendanceReportRequest parsed;
    const absl::Status status = ParseBytes(bytes, &parsed);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(common::GetErrorDetails(status).reason, "MALFORMED_REQUEST");
  }
}


// --- The source, and the other requests -----------------------------------------------------

namespace surface {

using rollcall::v1::ListAttendanceRecordsRequest;
using rollcall::v1::ListAttendanceReportsRequest;
using rollcall::v1::ResolveOnlineMeetingRequest;
using rollcall::v1::StreamAttendanceRecordsRequest;
using rollcall::v1::VIRTUAL_EVENT_KIND_TOWN_HALL;
using rollcall::v1::VIRTUAL_EVENT_KIND_WEBINAR;

template <typename Request>
void ExpectInvalidWith(const Request& request, const std::string& field,
                       const std::string& reason = "INVALID_ID") {
  const absl::Status status = ValidateRequest(request);
  ASSERT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << request.ShortDebugString();
  EXPECT_THAT(std::string(status.message()), HasSubstr(field));
  const common::ErrorDetails details = common::GetErrorDetails(status);
  EXPECT_EQ(details.reason, reason);
  EXPECT_EQ(details.metadata.at("field"), field);
}

GetAttendanceReportRequest WebinarReport() {
  GetAttendanceReportRequest request;
  request.set_report_id("b76965d4-0763-496e-9980-b323c5f3aa3b");
  rollcall::v1::VirtualEventSession* session = request.mutable_virtual_event_session();
  session->set_kind(VIRTUAL_EVENT_KIND_WEBINAR);
  session->set_event_id("f8ce2a5f-0e6a-4186-aa90-1f64bc023566@5466a424-aadf-425c-9b24-034ca28d4bdd");
  session->set_session_id("8d62dd52-4dff-4c75-96a9-f905cc3ff942");
  return request;
}

TEST(SourceValidationTest, AVirtualEventSessionStandsForUserAndMeeting) {
  EXPECT_TRUE(ValidateRequest(WebinarReport()).ok());
  GetAttendanceReportRequest town_hall = WebinarReport();
  town_hall.mutable_virtual_event_session()->set_kind(VIRTUAL_EVENT_KIND_TOWN_HALL);
  EXPECT_TRUE(ValidateRequest(town_hall).ok());
  // The hand-written parser reads it as protobuf does, and validates alike.
  RequestFields parsed;
  const std::string bytes = WebinarReport().SerializeAsString();
  ASSERT_TRUE(ParseRequest(bytes, &parsed).ok());
  EXPECT_TRUE(parsed.session.present);
  EXPECT_EQ(parsed.session.kind, VIRTUAL_EVENT_KIND_WEBINAR);
  EXPECT_EQ(parsed.session.session_id, "8d62dd52-4dff-4c75-96a9-f905cc3ff942");
  EXPECT_TRUE(ValidateRequest(parsed).ok());
}

TEST(SourceValidationTest, SessionAndMeetingTogetherAreRefused) {
  GetAttendanceReportRequest both = WebinarReport();
  both.set_user_id("u");
  ExpectInvalidWith(both, "virtual_event_session");
  both = WebinarReport();
  both.set_meeting_id("m");
  ExpectInvalidWith(both, "virtual_event_session");
}

TEST(SourceValidationTest, TheSessionsFieldsAreCheckedByName) {
  GetAttendanceReportRequest request = WebinarReport();
  request.mutable_virtual_event_session()->clear_kind();
  ExpectInvalidWith(request, "virtual_event_session.kind");
  request.mutable_virtual_event_session()->set_kind(static_cast<rollcall::v1::VirtualEventKind>(7));
  ExpectInvalidWith(request, "virtual_event_session.kind");
  request = WebinarReport();
  request.mutable_virtual_event_session()->clear_event_id();
  ExpectInvalidWith(request, "virtual_event_session.event_id");
  request = WebinarReport();
  request.mutable_virtual_event_session()->set_session_id("a\nb");
  ExpectInvalidWith(request, "virtual_event_session.session_id");
  // An empty session message is a session with nothing in it, not "no session".
  GetAttendanceReportRequest empty;
  empty.set_report_id("r");
  empty.mutable_virtual_event_session();
  ExpectInvalidWith(empty, "virtual_event_session.kind");
}

TEST(SurfaceValidationTest, ListReportsNeedsASourceButNoReport) {
  ListAttendanceReportsRequest request;
  request.set_user_id("u");
  request.set_meeting_id("m");
  EXPECT_TRUE(ValidateRequest(request).ok());
  request.clear_meeting_id();
  ExpectInvalidWith(request, "meeting_id");
  ListAttendanceReportsRequest webinar;
  *webinar.mutable_virtual_event_session() = WebinarReport().virtual_event_session();
  EXPECT_TRUE(ValidateRequest(webinar).ok());
}

TEST(SurfaceValidationTest, RecordsRequestsNeedAReportAndASanePageSize) {
  ListAttendanceRecordsRequest request;
  request.set_user_id("u");
  request.set_meeting_id("m");
  request.set_report_id("r");
  for (int size : {0, 1, 100, kMaxPageSize}) {
    request.set_page_size(size);
    EXPECT_TRUE(ValidateRequest(request).ok()) << size;
  }
  for (int size : {-1, kMaxPageSize + 1, 1 << 30}) {
    request.set_page_size(size);
    ExpectInvalidWith(request, "page_size", "INVALID_PAGE_SIZE");
  }
  request.set_page_size(0);
  request.clear_report_id();
  ExpectInvalidWith(request, "report_id");
  StreamAttendanceRecordsRequest stream;
  stream.set_report_id("r");
  *stream.mutable_virtual_event_session() = WebinarReport().virtual_event_session();
  EXPECT_TRUE(ValidateRequest(stream).ok());
  stream.set_user_id("u");
  ExpectInvalidWith(stream, "virtual_event_session");
}

constexpr char kDocsJoinUrl[] =
    "https://teams.microsoft.com/l/meetup-join/"
    "19%3ameeting_MTM5OTY3MGUtNmY4Mi00Yjg4LTk2MDUtY2IyZGRlNmU1ZjA2%40thread.v2/0?context="
    "%7b%22Tid%22%3a%222432b57b-0abd-43db-aa7b-16eadd115d34%22%2c%22Oid%22%3a%2214b779ae-cb64-"
    "47e7-a512-52fd50a4154d%22%7d";

TEST(SurfaceValidationTest, ResolveTakesAnHttpsJoinLink) {
  ResolveOnlineMeetingRequest request;
  request.set_user_id("14b779ae-cb64-47e7-a512-52fd50a4154d");
  request.set_join_web_url(kDocsJoinUrl);
  EXPECT_TRUE(ValidateRequest(request).ok());
  request.set_join_web_url("HTTPS://teams.microsoft.us/l/meetup-join/x'y&z#w");
  EXPECT_TRUE(ValidateRequest(request).ok());
  for (const std::string& bad :
       {std::string(""), std::string("teams.microsoft.com/l/meetup-join/x"),
        std::string("http://teams.microsoft.com/l/meetup-join/x"), std::string("https://"),
        std::string("https:///path"), std::string("https://teams.microsoft.com/a b"),
        std::string("https://teams.microsoft.com/\x01"),
        "https://teams.microsoft.com/" + std::string(kMaxJoinUrlBytes, 'x')}) {
    request.set_join_web_url(bad);
    ExpectInvalidWith(request, "join_web_url");
  }
  request.set_join_web_url(kDocsJoinUrl);
  request.clear_user_id();
  ExpectInvalidWith(request, "user_id");
}

TEST(ParseMessageTest, NamesTheFieldThatIsNotUtf8EvenNested) {
  ListAttendanceRecordsRequest request;
  request.set_report_id("r");
  *request.mutable_virtual_event_session() = WebinarReport().virtual_event_session();
  request.mutable_virtual_event_session()->set_event_id("ok");
  std::string bytes = request.SerializeAsString();
  ListAttendanceRecordsRequest parsed;
  ASSERT_TRUE(ParseMessage(bytes, &parsed).ok());
  EXPECT_EQ(parsed.virtual_event_session().event_id(), "ok");
  // "ok" becomes two bytes that are not UTF-8: the length is unchanged.
  const std::size_t at = bytes.find("ok");
  ASSERT_NE(at, std::string::npos);
  bytes[at] = '\xc3';
  bytes[at + 1] = '\x28';
  const absl::Status status = ParseMessage(bytes, &parsed);
  ASSERT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(common::GetErrorDetails(status).metadata.at("field"),
            "virtual_event_session.event_id");
  EXPECT_EQ(parsed.ByteSizeLong(), 0u);

  const absl::Status malformed = ParseMessage(std::string("\x0a\x09short", 7), &parsed);
  ASSERT_EQ(malformed.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(common::GetErrorDetails(malformed).reason, "MALFORMED_REQUEST");
  EXPECT_THAT(std::string(malformed.message()), HasSubstr("ListAttendanceRecordsRequest"));
}

}  // namespace surface

}  // namespace
}  // namespace rollcall::service
