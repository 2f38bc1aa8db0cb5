#pragma once
// A Graph stub decorator that measures every exchange of the stub below it (RestStub): counts
// it in GraphCounters (exchanges, retries, 429s, 5xx, transport failures, oversized bodies) and
// calls the optional GraphCallObserver once per exchange with the endpoint, HTTP status (0
// without a response), latency on the injected clock, Graph's request-id header, the
// client-request-id sent and the attempt number. Passes results through unchanged.
// Thread-safe when the stub below, the counters and the observer are.

#include <memory>

#include "common/clock.h"
#include "graph_client/graph_call_observer.h"
#include "graph_client/graph_counters.h"
#include "graph_client/graph_stub.h"

namespace rollcall::graph {

class MeteredStub final : public GraphStub {
 public:
  // `counters` is never null; `observer` may be; `clock` outlives the stub.
  MeteredStub(std::shared_ptr<GraphStub> inner, std::shared_ptr<GraphCounters> counters,
              std::shared_ptr<GraphCallObserver> observer, const common::Clock* clock);
  using GraphStub::Get;
  absl::StatusOr<HttpResponse> Get(GraphContext& context, const GraphRequest& request) override;

 private:
  const std::shared_ptr<GraphStub> inner_;
  const std::shared_ptr<GraphCounters> counters_;
  const std::shared_ptr<GraphCallObserver> observer_;
  const common::Clock* const clock_;
};

}  // namespace rollcall::graph
