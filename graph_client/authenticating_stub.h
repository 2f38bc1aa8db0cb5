#pragma once
// A Graph stub decorator that authenticates: asks the TokenCredential for a token on every call
// (a cached one, as a rule), sends it as "Authorization: Bearer ...", and when Graph answers 401
// drops that token, fetches a new one and repeats the request once per call (when at least
// kMinAttemptTime is left before the deadline). A second 401 is returned as it is: the caller
// maps it to FAILED_PRECONDITION GRAPH_UNAUTHORIZED. The credential's errors are returned as
// they are. Thread-safe when the stub below and the credential are.

#include <memory>

#include "common/clock.h"
#include "graph_client/graph_counters.h"
#include "graph_client/graph_stub.h"
#include "graph_client/token_credential.h"

namespace rollcall::graph {

class AuthenticatingStub final : public GraphStub {
 public:
  // `counters` (token_refreshes) may be null; `clock` outlives the stub.
  AuthenticatingStub(std::shared_ptr<GraphStub> inner, std::shared_ptr<TokenCredential> credential,
                     const common::Clock* clock, std::shared_ptr<GraphCounters> counters = nullptr);
  using GraphStub::Get;
  absl::StatusOr<HttpResponse> Get(GraphContext& context, const GraphRequest& request) override;

 private:
  const std::shared_ptr<GraphStub> inner_;
  const std::shared_ptr<TokenCredential> credential_;
  const common::Clock* const clock_;
  const std::shared_ptr<GraphCounters> counters_;
};

}  // namespace rollcall::graph
