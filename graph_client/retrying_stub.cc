#include "graph_client/retrying_stub.h"

#include <optional>
#include <utility>

#include "graph_client/retry_after.h"

namespace rollcall::graph {

RetryingStub::RetryingStub(std::shared_ptr<GraphStub> inner, RetryOptions options,
                           const common::Clock* clock)
    : inner_(std::move(inner)), clock_(clock), retry_(std::move(options), clock) {}

absl::StatusOr<HttpResponse> RetryingStub::Get(GraphContext& context,
                                               const GraphRequest& request) {
  const GraphRequest* sent = &request;
  GraphRequest with_id;
  if (request.client_request_id.empty()) {
    with_id = request;
    with_id.client_request_id = NewClientRequestId();  // the same for every attempt
    sent = &with_id;
  }
  for (int attempt = 1;; ++attempt) {
    absl::StatusOr<HttpResponse> response = inner_->Get(context, *sent);
    if (!response.ok()) {
      if (!IsRetryableBeforeResponse(response.status()) ||
          !retry_.WaitBeforeRetry(attempt, std::nullopt, sent->deadline)) {
        return response;
      }
      continue;
    }
    if (!IsRetryableHttpStatus(response->status)) return response;
    const std::optional<absl::Duration> retry_after = RetryAfterOf(*response, clock_->Now());
    if (!retry_.WaitBeforeRetry(attempt, retry_after, sent->deadline)) return response;
  }
}

}  // namespace rollcall::graph
