#include "graph_client/graph_stub_factory.h"

#include <utility>

#include "graph_client/authenticating_stub.h"
#include "graph_client/metered_stub.h"
#include "graph_client/rest_stub.h"
#include "graph_client/retrying_stub.h"

namespace rollcall::graph {

std::shared_ptr<GraphStub> MakeGraphStub(const GraphStubOptions& options,
                                         std::shared_ptr<HttpTransport> transport,
                                         std::shared_ptr<TokenCredential> credential,
                                         const common::Clock* clock) {
  std::shared_ptr<GraphCounters> counters =
      options.counters != nullptr ? options.counters : std::make_shared<GraphCounters>();
  std::shared_ptr<GraphStub> stub = std::make_shared<RestStub>(std::move(transport));
  stub = std::make_shared<MeteredStub>(std::move(stub), counters, options.observer, clock);
  stub = std::make_shared<AuthenticatingStub>(std::move(stub), std::move(credential), clock,
                                              counters);
  return std::make_shared<RetryingStub>(std::move(stub), options.retry, clock);
}

}  // namespace rollcall::graph
