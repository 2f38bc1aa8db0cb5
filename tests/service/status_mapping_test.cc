#include "service/status_mapping.h"

#include <string>

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "common/error_details.h"
#include "gtest/gtest.h"
#include "service/validation.h"

namespace rollcall::service {
namespace {

google::rpc::Status Details(const grpc::Status& status) {
  google::rpc::Status proto;
  EXPECT_TRUE(proto.ParseFromString(status.error_details()));
  return proto;
}

TEST(StatusMappingTest, OkIsOk) {
  const grpc::Status status = ToGrpcStatus(absl::OkStatus());
  EXPECT_TRUE(status.ok());
  EXPECT_EQ(status.error_details(), "");
}

TEST(StatusMappingTest, PlainErrorKeepsCodeAndMessage) {
  const grpc::Status status = ToGrpcStatus(absl::DeadlineExceededError("too slow"));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(status.error_message(), "too slow");
  const google::rpc::Status proto = Details(status);
  EXPECT_EQ(proto.code(), static_cast<int>(grpc::StatusCode::DEADLINE_EXCEEDED));
  EXPECT_EQ(proto.message(), "too slow");
  EXPECT_EQ(proto.details_size(), 0);
}

TEST(StatusMappingTest, ErrorInfoAndRetryInfoRoundTrip) {
  common::ErrorDetails details;
  details.reason = "GRAPH_THROTTLED";
  details.metadata["graph_code"] = "TooManyRequests";
  details.metadata["graph_request_id"] = "7e1c5f0a-0000-4000-8000-000000000001";
  details.retry_after = absl::Seconds(3) + absl::Milliseconds(500);
  absl::Status error =
      common::MakeError(absl::StatusCode::kResourceExhausted, "Graph throttled the call", details);
  error.SetPayload("example.com/not-a-type-url", absl::Cord("ignored"));

  const grpc::Status status = ToGrpcStatus(error);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(status.error_message(), "Graph throttled the call");
  const google::rpc::Status proto = Details(status);
  EXPECT_EQ(proto.code(), static_cast<int>(grpc::StatusCode::RESOURCE_EXHAUSTED));
  EXPECT_EQ(proto.message(), "Graph throttled the call");
  ASSERT_EQ(proto.details_size(), 2);

  bool saw_info = false;
  bool saw_retry = false;
  for (const google::protobuf::Any& any : proto.details()) {
    if (any.Is<google::rpc::ErrorInfo>()) {
      google::rpc::ErrorInfo info;
      ASSERT_TRUE(any.UnpackTo(&info));
      EXPECT_EQ(info.reason(), "GRAPH_THROTTLED");
      EXPECT_EQ(info.domain(), "rollcall.v1");
      EXPECT_EQ(info.metadata().at("graph_code"), "TooManyRequests");
      EXPECT_EQ(info.metadata().at("graph_request_id"), "7e1c5f0a-0000-4000-8000-000000000001");
      saw_info = true;
    } else if (any.Is<google::rpc::RetryInfo>()) {
      google::rpc::RetryInfo retry;
      ASSERT_TRUE(any.UnpackTo(&retry));
      EXPECT_EQ(retry.retry_delay().seconds(), 3);
      EXPECT_EQ(retry.retry_delay().nanos(), 500000000);
      saw_retry = true;
    } else {
      ADD_FAILURE() << "unexpected detail " << any.type_url();
    }
  }
  EXPECT_TRUE(saw_info);
  EXPECT_TRUE(saw_retry);
}

TEST(StatusMappingTest, InvalidIdAddsBadRequest) {
  v1::GetAttendanceReportRequest request;
  request.set_user_id("u");
  request.set_report_id("r");
  const absl::Status invalid = ValidateRequest(request);  // meeting_id missing
  ASSERT_FALSE(invalid.ok());

  const grpc::Status status = ToGrpcStatus(invalid);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  const google::rpc::Status proto = Details(status);
  ASSERT_EQ(proto.details_size(), 2);
  google::rpc::ErrorInfo info;
  google::rpc::BadRequest bad_request;
  for (const google::protobuf::Any& any : proto.details()) {
    if (any.Is<google::rpc::ErrorInfo>()) {
      ASSERT_TRUE(any.UnpackTo(&info));
    } else if (any.Is<google::rpc::BadRequest>()) {
      ASSERT_TRUE(any.UnpackTo(&bad_request));
    }
  }
  EXPECT_EQ(info.reason(), "INVALID_ID");
  EXPECT_EQ(info.metadata().at("field"), "meeting_id");
  ASSERT_EQ(bad_request.field_violations_size(), 1);
  EXPECT_EQ(bad_request.field_violations(0).field(), "meeting_id");
  EXPECT_EQ(bad_request.field_violations(0).description(), status.error_message());
}

}  // namespace
}  // namespace rollcall::service
