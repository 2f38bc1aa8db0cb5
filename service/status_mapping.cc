#include "service/status_mapping.h"

#include <string>
#include "absl/strings/string_view.h"

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "common/error_details.h"

namespace rollcall::service {
namespace {

constexpr absl::string_view kTypeUrlPrefix = "type.googleapis.com/";
constexpr absl::string_view kBadRequestTypeUrl = "type.googleapis.com/google.rpc.BadRequest";

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;

  google::rpc::Status proto;
  proto.set_code(static_cast<int>(status.code()));
  proto.set_message(std::string(status.message()));
  status.ForEachPayload([&proto](absl::string_view type_url, const absl::Cord& payload) {
    if (!absl::StartsWith(type_url, kTypeUrlPrefix)) return;
    google::protobuf::Any* any = proto.add_details();
    any->set_type_url(std::string(type_url));
    any->set_value(std::string(payload));
  });

  const common::ErrorDetails details = common::GetErrorDetails(status);
  if (details.reason == common::reason::kInvalidId) {
    google::rpc::BadRequest bad_request;
    google::rpc::BadRequest::FieldViolation* violation = bad_request.add_field_violations();
    const auto field = details.metadata.find(std::string(common::meta::kField));
    if (field != details.metadata.end()) violation->set_field(field->second);
    violation->set_description(std::string(status.message()));
    google::protobuf::Any* any = proto.add_details();
    any->set_type_url(std::string(kBadRequestTypeUrl));
    any->set_value(bad_request.SerializeAsString());
  }

  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()),
                      proto.SerializeAsString());
}

}  // namespace rollcall::service
