#pragma once
// A Graph stub decorator that authenticates: asks the TokenCredential for a token on every call
// (a cached one, as a rule) and sends it as "Authorization: Bearer ...". Every answer is told to
// the credential: a 401 through Invalidate, anything but a 401, 429 or 5xx through Accepted
// (Graph took the token). After a 401, when the credential dropped the token (or had already
// replaced it), the request is repeated once per call with the new token (when at least
// kMinAttemptTime is left before the deadline). A second 401 is returned as it is: the caller
// maps it to FAILED_PRECONDITION GRAPH_UNAUTHORIZED. When the credential backs off instead
// (Graph refused a replacement token too: Invalidation::kBackingOff), the 401 is returned at
// once, without a repeat, and context.token_backoff says until when no token is fetched. The
// credential's errors are returned as they are. Counts token_refreshes: tokens a 401 made the
// credential drop (each is fetched anew). Thread-safe when the stub below and the credential
// are.

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
