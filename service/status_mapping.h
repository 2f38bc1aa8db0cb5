#pragma once
// The gRPC edge of Rollcall's errors: an absl::Status (code, message and the ErrorInfo /
// RetryInfo payloads that common::MakeError attaches) becomes a grpc::Status whose binary
// details are a serialized google.rpc.Status, which gRPC sends in the
// `grpc-status-details-bin` trailer for any googleapis-aware client to decode.

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace rollcall::service {

// Same canonical code and message. For an error, details = google.rpc.Status{code, message,
// details}, where details holds one google.protobuf.Any per payload of `status` keyed by a
// "type.googleapis.com/" URL (ErrorInfo, RetryInfo; the payload bytes are used as they are),
// plus a google.rpc.BadRequest with one field violation (field from ErrorInfo metadata
// "field", description = the message) when the ErrorInfo reason is INVALID_ID.
// OK maps to grpc::Status::OK with no details.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace rollcall::service
