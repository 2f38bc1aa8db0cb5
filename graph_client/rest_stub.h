#pragma once
// The bottom of the Graph stub stack: one GET over an HttpTransport and nothing else. It adds
// what every Graph request carries (Accept: application/json, client-request-id, and
// "Retry-Attempt: n" from the n-th exchange of a call on), counts the exchange in
// GraphContext::sends, and maps a failed exchange to a Rollcall error with
// GraphTransportError (graph_errors.h), keeping the TransportFailure mark for RetryingStub.
// Thread-safe when the transport is.

#include <memory>

#include "graph_client/graph_stub.h"

namespace rollcall::graph {

class RestStub final : public GraphStub {
 public:
  explicit RestStub(std::shared_ptr<HttpTransport> transport);
  using GraphStub::Get;
  absl::StatusOr<HttpResponse> Get(GraphContext& context, const GraphRequest& request) override;

 private:
  const std::shared_ptr<HttpTransport> transport_;
};

}  // namespace rollcall::graph
