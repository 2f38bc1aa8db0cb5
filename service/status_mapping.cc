#include "service/status_mapping.h"

#include "common/error_details.h"
#include "google/rpc/status.pb.h"

namespace rollcall::service {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()),
                      common::ToRpcStatus(status).SerializeAsString());
}

}  // namespace rollcall::service
