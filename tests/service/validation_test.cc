#include "service/validation.h"

#include <string>

#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "graph_client/error_details.h"
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
  const graph::ErrorDetails details = graph::GetErrorDetails(status);
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
        std::string("nul\0byte", 8), std::string("\x1b[31m")}) {
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

absl::Status ParseBytes(const std::string& bytes, GetAttendanceReportRequest* out) {
  google::protobuf::io::ArrayInputStream input(bytes.data(), static_cast<int>(bytes.size()));
  return ParseRequest(&input, out);
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
    EXPECT_EQ(graph::GetErrorDetails(status).reason, "MALFORMED_REQUEST");
  }
}

}  // namespace
}  // namespace rollcall::service
