#pragma once
// A Graph stub decorator that retries what may succeed later: 429, 503 and 504 answers, and
// failures before any response byte (TransportFailure::kBeforeResponse). Waits follow
// RetryPolicy (retry_policy.h): Graph's Retry-After when it sent one (counted from its Date
// header when present), else exponential backoff with jitter; no wait or attempt runs past the
// request's deadline. Every attempt carries the same client-request-id (a fresh one when the
// request has none). When no further attempt is allowed or fits, the last answer or error is
// returned as it is: the caller maps it. Thread-safe when the stub below is.

#include <memory>

#include "common/clock.h"
#include "graph_client/graph_stub.h"
#include "graph_client/retry_policy.h"

namespace rollcall::graph {

class RetryingStub final : public GraphStub {
 public:
  // `clock` outlives the stub; it is the clock deadlines are on.
  RetryingStub(std::shared_ptr<GraphStub> inner, RetryOptions options,
               const common::Clock* clock);
  using GraphStub::Get;
  absl::StatusOr<HttpResponse> Get(GraphContext& context, const GraphRequest& request) override;

 private:
  const std::shared_ptr<GraphStub> inner_;
  const common::Clock* const clock_;
  const RetryPolicy retry_;
};

// Statuses after which the same GET is tried again. Graph's SDKs retry exactly these.
inline bool IsRetryableHttpStatus(long status) {
  return status == 429 || status == 503 || status == 504;
}

}  // namespace rollcall::graph
