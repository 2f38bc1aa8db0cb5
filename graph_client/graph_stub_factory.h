#pragma once
// Builds the Graph stub stack in its one right order:
//
//   RetryingStub        retries 429/503/504 and failures before any response byte; each
//     |                 attempt goes down the whole stack again
//   AuthenticatingStub  a token per attempt (so a wait may bring a refreshed one); one repeat
//     |                 with a new token after a 401 (none while the credential backs off)
//   MeteredStub         counts and observes every HTTP exchange, the 401 repeat included
//   RestStub            one GET over the transport
//
// GraphClient is built on it; a new typed Graph call needs only a URL, a GraphRequest and the
// body's mapping to inherit retries, authentication and metrics.

#include <memory>

#include "common/clock.h"
#include "graph_client/graph_call_observer.h"
#include "graph_client/graph_counters.h"
#include "graph_client/graph_stub.h"
#include "graph_client/http_transport.h"
#include "graph_client/retry_policy.h"
#include "graph_client/token_credential.h"

namespace rollcall::graph {

struct GraphStubOptions {
  RetryOptions retry;
  // Told of every exchange with Graph; may be null.
  std::shared_ptr<GraphCallObserver> observer;
  // Where the stack counts what it does; null: counters of its own that nobody reads.
  std::shared_ptr<GraphCounters> counters;
};

// `transport`, `credential` are never null; `clock` is never null and outlives the stack (the
// clock the callers' deadlines are on).
std::shared_ptr<GraphStub> MakeGraphStub(const GraphStubOptions& options,
                                         std::shared_ptr<HttpTransport> transport,
                                         std::shared_ptr<TokenCredential> credential,
                                         const common::Clock* clock);

}  // namespace rollcall::graph
