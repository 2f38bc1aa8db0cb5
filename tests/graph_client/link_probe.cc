// A program that links rollcall_graph_client and nothing of the service: check_no_grpc.sh reads
// the libraries it needs. It builds a client the way the server does, so the linker keeps
// every part of graph_client/ that the server uses.

#include <memory>

#include "common/clock.h"
#include "graph_client/graph_client.h"
#include "graph_client/http_transport.h"
#include "graph_client/token_credential.h"

int main() {
  using namespace rollcall::graph;
  std::shared_ptr<HttpTransport> transport = MakeCurlTransport({});
  auto credential = MakeTokenCredential({}, transport, rollcall::common::SystemClock());
  std::shared_ptr<TokenCredential> shared;
  if (credential.ok()) shared = std::move(*credential);
  auto client = MakeGraphClient({}, transport, shared);
  return client == nullptr ? 1 : 0;
}
