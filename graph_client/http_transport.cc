#include "graph_client/http_transport.h"

#include "absl/strings/cord.h"
#include "absl/strings/match.h"

namespace rollcall::graph {
namespace {

// The payload key of a TransportFailure; its value is one of the names below.
constexpr absl::string_view kTransportFailureUrl = "rollcall.graph/TransportFailure";
constexpr absl::string_view kBeforeResponse = "before_response";
constexpr absl::string_view kTruncatedBody = "truncated_body";

}  // namespace

absl::Status WithTransportFailure(absl::Status status, TransportFailure failure) {
  switch (failure) {
    case TransportFailure::kUnclassified:
      status.ErasePayload(kTransportFailureUrl);
      break;
    case TransportFailure::kBeforeResponse:
      status.SetPayload(kTransportFailureUrl, absl::Cord(kBeforeResponse));
      break;
    case TransportFailure::kTruncatedBody:
      status.SetPayload(kTransportFailureUrl, absl::Cord(kTruncatedBody));
      break;
  }
  return status;
}

TransportFailure GetTransportFailure(const absl::Status& status) {
  const auto payload = status.GetPayload(kTransportFailureUrl);  // absl::optional here
  if (!payload.has_value()) return TransportFailure::kUnclassified;
  if (*payload == kBeforeResponse) return TransportFailure::kBeforeResponse;
  if (*payload == kTruncatedBody) return TransportFailure::kTruncatedBody;
  return TransportFailure::kUnclassified;
}

std::optional<std::string> HttpResponse::Header(absl::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(key, name)) return value;
  }
  return std::nullopt;
}

}  // namespace rollcall::graph
