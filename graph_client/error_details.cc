#include "graph_client/error_details.h"

#include <cstdint>

#include "absl/strings/cord.h"
#include "google/rpc/error_details.pb.h"
#include "graph_client/string_view_compat.h"

namespace rollcall::graph {

absl::Status MakeError(absl::StatusCode code, std::string_view message,
                       const ErrorDetails& details) {
  absl::Status status(code, ToAbsl(message));
  if (status.ok()) return status;
  if (!details.reason.empty()) {
    google::rpc::ErrorInfo info;
    info.set_reason(details.reason);
    info.set_domain(std::string(kErrorDomain));
    for (const auto& [key, value] : details.metadata) (*info.mutable_metadata())[key] = value;
    status.SetPayload(ToAbsl(kErrorInfoTypeUrl), absl::Cord(info.SerializeAsString()));
  }
  if (details.retry_after.has_value()) {
    const absl::Duration delay = *details.retry_after;
    google::rpc::RetryInfo retry;
    absl::Duration remainder;  // IDivDuration writes it: it must not be null
    const int64_t seconds = absl::IDivDuration(delay, absl::Seconds(1), &remainder);
    retry.mutable_retry_delay()->set_seconds(seconds);
    retry.mutable_retry_delay()->set_nanos(
        static_cast<int32_t>(absl::ToInt64Nanoseconds(remainder)));
    status.SetPayload(ToAbsl(kRetryInfoTypeUrl), absl::Cord(retry.SerializeAsString()));
  }
  return status;
}

ErrorDetails GetErrorDetails(const absl::Status& status) {
  ErrorDetails details;
  if (auto payload = status.GetPayload(ToAbsl(kErrorInfoTypeUrl))) {
    google::rpc::ErrorInfo info;
    if (info.ParseFromString(std::string(*payload))) {
      details.reason = info.reason();
      details.metadata.insert(info.metadata().begin(), info.metadata().end());
    }
  }
  if (auto payload = status.GetPayload(ToAbsl(kRetryInfoTypeUrl))) {
    google::rpc::RetryInfo retry;
    if (retry.ParseFromString(std::string(*payload))) {
      details.retry_after = absl::Seconds(retry.retry_delay().seconds()) +
                            absl::Nanoseconds(retry.retry_delay().nanos());
    }
  }
  return details;
}

}  // namespace rollcall::graph
