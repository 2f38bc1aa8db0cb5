// common/error_details: statuses with ErrorInfo and RetryInfo, to and from google.rpc.Status.

#include "common/error_details.h"

#include <string>

#include "absl/strings/cord.h"
#include "google/rpc/error_details.pb.h"
#include "gtest/gtest.h"

namespace rollcall::common {
namespace {

TEST(ErrorDetailsTest, DetailsRoundTripThroughTheStatus) {
  const absl::Status status =
      MakeError(absl::StatusCode::kResourceExhausted, "slow down",
                {std::string(reason::kGraphThrottled),
                 {{std::string(meta::kGraphRequestId), "r-1"}},
                 absl::Milliseconds(2128)});
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  const ErrorDetails details = GetErrorDetails(status);
  EXPECT_EQ(details.reason, reason::kGraphThrottled);
  EXPECT_EQ(details.metadata.at(std::string(meta::kGraphRequestId)), "r-1");
  ASSERT_TRUE(details.retry_after.has_value());
  EXPECT_EQ(*details.retry_after, absl::Milliseconds(2128));
}

TEST(ErrorDetailsTest, AnOkCodeCarriesNoDetails) {
  EXPECT_TRUE(MakeError(absl::StatusCode::kOk, "fine", {"X", {}, absl::Seconds(1)}).ok());
  EXPECT_TRUE(GetErrorDetails(absl::OkStatus()).reason.empty());
}

TEST(ErrorDetailsTest, RpcStatusKeepsCodeMessageAndEveryDetail) {
  const absl::Status status = MakeError(absl::StatusCode::kNotFound, "no such report",
                                        {std::string(reason::kReportNotFound),
                                         {{std::string(meta::kGraphCode), "NotFound"}},
                                         std::nullopt});
  const google::rpc::Status proto = ToRpcStatus(status);
  EXPECT_EQ(proto.code(), 5);
  EXPECT_EQ(proto.message(), "no such report");
  ASSERT_EQ(proto.details_size(), 1);
  EXPECT_EQ(proto.details(0).type_url(), kErrorInfoTypeUrl);
  google::rpc::ErrorInfo info;
  ASSERT_TRUE(proto.details(0).UnpackTo(&info));
  EXPECT_EQ(info.reason(), "REPORT_NOT_FOUND");
  EXPECT_EQ(info.domain(), "rollcall.v1");

  const absl::Status back = FromRpcStatus(proto);
  EXPECT_EQ(back, status);  // code, message and payloads
}

TEST(ErrorDetailsTest, AnInvalidIdGetsABadRequestThatTheWayBackDrops) {
  const absl::Status status =
      MakeError(absl::StatusCode::kInvalidArgument, "meeting_id is empty",
                {std::string(reason::kInvalidId), {{std::string(meta::kField), "meeting_id"}},
                 std::nullopt});
  const google::rpc::Status proto = ToRpcStatus(status);
  ASSERT_EQ(proto.details_size(), 2);
  google::rpc::BadRequest bad_request;
  ASSERT_TRUE(proto.details(1).UnpackTo(&bad_request));
  ASSERT_EQ(bad_request.field_violations_size(), 1);
  EXPECT_EQ(bad_request.field_violations(0).field(), "meeting_id");
  EXPECT_EQ(bad_request.field_violations(0).description(), "meeting_id is empty");
  EXPECT_EQ(FromRpcStatus(proto), status);
}

TEST(ErrorDetailsTest, OnlyTypeGoogleapisPayloadsBecomeDetails) {
  absl::Status status(absl::StatusCode::kInternal, "x");
  status.SetPayload("rollcall.dev/private", absl::Cord("kept out"));
  EXPECT_EQ(ToRpcStatus(status).details_size(), 0);
}

TEST(ErrorDetailsTest, AnOutOfRangeCodeBecomesUnknown) {
  google::rpc::Status proto;
  proto.set_code(99);
  proto.set_message("odd");
  const absl::Status status = FromRpcStatus(proto);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(status.message(), "odd");
  proto.set_code(0);
  EXPECT_TRUE(FromRpcStatus(proto).ok());
}

}  // namespace
}  // namespace rollcall::common
