#include "graph_client/metered_stub.h"

#include <optional>
#include <string>
#include <utility>

#include "common/error_details.h"

namespace rollcall::graph {

MeteredStub::MeteredStub(std::shared_ptr<GraphStub> inner, std::shared_ptr<GraphCounters> counters,
                         std::shared_ptr<GraphCallObserver> observer, const common::Clock* clock)
    : inner_(std::move(inner)),
      counters_(std::move(counters)),
      observer_(std::move(observer)),
      clock_(clock) {}

absl::StatusOr<HttpResponse> MeteredStub::Get(GraphContext& context, const GraphRequest& request) {
  const int attempt = context.sends;
  GraphCounters::Increment(counters_->http_requests);
  if (attempt > 0) GraphCounters::Increment(counters_->retries);
  const absl::Time start = clock_->Now();
  absl::StatusOr<HttpResponse> response = inner_->Get(context, request);
  const absl::Duration latency = clock_->Now() - start;

  long http_status = 0;
  std::optional<std::string> request_id;
  if (response.ok()) {
    http_status = response->status;
    if (http_status == 429) GraphCounters::Increment(counters_->throttled);
    if (http_status >= 500 && http_status <= 599) {
      GraphCounters::Increment(counters_->server_errors);
    }
    if (observer_ != nullptr) request_id = response->Header("request-id");
  } else if (common::GetErrorDetails(response.status()).reason ==
             common::reason::kGraphBadResponse) {
    GraphCounters::Increment(counters_->bad_responses);  // a body over the size cap
  } else {
    GraphCounters::Increment(counters_->transport_errors);
  }

  if (observer_ != nullptr) {
    GraphCallRecord record;
    record.endpoint = request.endpoint;
    record.http_status = http_status;
    record.latency = latency;
    if (request_id.has_value()) record.request_id = *request_id;
    record.client_request_id = request.client_request_id;
    record.attempt = attempt;
    observer_->OnGraphCall(record);
  }
  return response;
}

}  // namespace rollcall::graph
