#include "common/error_details.h"

#include <cstdint>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "google/rpc/error_details.pb.h"

namespace rollcall::common {
namespace {

constexpr absl::string_view kTypeUrlPrefix = "type.googleapis.com/";

}  // namespace

absl::Status MakeError(absl::StatusCode code, absl::string_view message,
                       const ErrorDetails& details) {
  absl::Status status(code, message);
  if (status.ok()) return status;
  if (!details.reason.empty()) {
    google::rpc::ErrorInfo info;
    info.set_reason(details.reason);
    info.set_domain(std::string(kErrorDomain));
    for (const auto& [key, value] : details.metadata) (*info.mutable_metadata())[key] = value;
    status.SetPayload(kErrorInfoTypeUrl, absl::Cord(info.SerializeAsString()));
  }
  if (details.retry_after.has_value()) {
    const absl::Duration delay = *details.retry_after;
    google::rpc::RetryInfo retry;
    absl::Duration remainder;  // IDivDuration writes it: it must not be null
    const int64_t seconds = absl::IDivDuration(delay, absl::Seconds(1), &remainder);
    retry.mutable_retry_delay()->set_seconds(seconds);
    retry.mutable_retry_delay()->set_nanos(
        static_cast<int32_t>(absl::ToInt64Nanoseconds(remainder)));
    status.SetPayload(kRetryInfoTypeUrl, absl::Cord(retry.SerializeAsString()));
  }
  return status;
}

ErrorDetails GetErrorDetails(const absl::Status& status) {
  ErrorDetails details;
  if (auto payload = status.GetPayload(kErrorInfoTypeUrl)) {
    google::rpc::ErrorInfo info;
    if (info.ParseFromString(std::string(*payload))) {
      details.reason = info.reason();
      details.metadata.insert(info.metadata().begin(), info.metadata().end());
    }
  }
  if (auto payload = status.GetPayload(kRetryInfoTypeUrl)) {
    google::rpc::RetryInfo retry;
    if (retry.ParseFromString(std::string(*payload))) {
      details.retry_after = absl::Seconds(retry.retry_delay().seconds()) +
                            absl::Nanoseconds(retry.retry_delay().nanos());
    }
  }
  return details;
}

google::rpc::Status ToRpcStatus(const absl::Status& status) {
  google::rpc::Status proto;
  if (status.ok()) return proto;
  proto.set_code(static_cast<int>(status.code()));
  proto.set_message(std::string(status.message()));
  status.ForEachPayload([&proto](absl::string_view type_url, const absl::Cord& payload) {
    if (!absl::StartsWith(type_url, kTypeUrlPrefix)) return;
    google::protobuf::Any* any = proto.add_details();
    any->set_type_url(std::string(type_url));
    any->set_value(std::string(payload));
  });

  const ErrorDetails details = GetErrorDetails(status);
  if (details.reason == reason::kInvalidId) {
    google::rpc::BadRequest bad_request;
    google::rpc::BadRequest::FieldViolation* violation = bad_request.add_field_violations();
    const auto field = details.metadata.find(std::string(meta::kField));
    if (field != details.metadata.end()) violation->set_field(field->second);
    violation->set_description(std::string(status.message()));
    google::protobuf::Any* any = proto.add_details();
    any->set_type_url(std::string(kBadRequestTypeUrl));
    any->set_value(bad_request.SerializeAsString());
  }
  return proto;
}

absl::Status FromRpcStatus(const google::rpc::Status& proto) {
  if (proto.code() == 0) return absl::OkStatus();
  const absl::StatusCode code = proto.code() > 0 && proto.code() <= 16
                                    ? static_cast<absl::StatusCode>(proto.code())
                                    : absl::StatusCode::kUnknown;
  absl::Status status(code, proto.message());
  for (const google::protobuf::Any& any : proto.details()) {
    // The BadRequest is derived from the ErrorInfo again by ToRpcStatus.
    if (any.type_url() == kBadRequestTypeUrl) continue;
    status.SetPayload(any.type_url(), absl::Cord(any.value()));
  }
  return status;
}

}  // namespace rollcall::common
