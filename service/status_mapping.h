#pragma once
// The gRPC edge of Rollcall's errors: an absl::Status (code, message and the ErrorInfo /
// RetryInfo payloads that common::MakeError attaches) becomes a grpc::Status whose binary
// details are a serialized google.rpc.Status, which gRPC sends in the
// `grpc-status-details-bin` trailer for any googleapis-aware client to decode.

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace rollcall::service {

// Same canonical code and message. For an error, details = common::ToRpcStatus(status)
// serialized (ErrorInfo, RetryInfo, and a BadRequest for INVALID_ID; common/error_details.h).
// OK maps to grpc::Status::OK with no details.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace rollcall::service
