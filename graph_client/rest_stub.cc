#include "graph_client/rest_stub.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "graph_client/graph_errors.h"

namespace rollcall::graph {

RestStub::RestStub(std::shared_ptr<HttpTransport> transport) : transport_(std::move(transport)) {}

absl::StatusOr<HttpResponse> RestStub::Get(GraphContext& context, const GraphRequest& request) {
  HttpRequest http;
  http.method = "GET";
  http.url = request.url;
  http.headers.reserve(request.headers.size() + 3);
  http.headers.insert(http.headers.end(), request.headers.begin(), request.headers.end());
  http.headers.emplace_back("Accept", "application/json");
  if (!request.client_request_id.empty()) {
    http.headers.emplace_back("client-request-id", request.client_request_id);
  }
  if (context.sends > 0) http.headers.emplace_back("Retry-Attempt", absl::StrCat(context.sends));
  http.deadline = request.deadline;
  ++context.sends;
  absl::StatusOr<HttpResponse> response = transport_->Send(http);
  if (!response.ok()) return GraphTransportError(response.status());
  return response;
}

}  // namespace rollcall::graph
