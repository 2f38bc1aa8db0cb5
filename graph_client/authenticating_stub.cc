#include "graph_client/authenticating_stub.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "graph_client/retry_policy.h"

namespace rollcall::graph {

AuthenticatingStub::AuthenticatingStub(std::shared_ptr<GraphStub> inner,
                                       std::shared_ptr<TokenCredential> credential,
                                       const common::Clock* clock,
                                       std::shared_ptr<GraphCounters> counters)
    : inner_(std::move(inner)),
      credential_(std::move(credential)),
      clock_(clock),
      counters_(std::move(counters)) {}

absl::StatusOr<HttpResponse> AuthenticatingStub::Get(GraphContext& context,
                                                     const GraphRequest& request) {
  for (;;) {
    absl::StatusOr<AccessToken> token = credential_->GetToken(request.deadline);
    if (!token.ok()) return token.status();

    GraphRequest authenticated;
    authenticated.url = request.url;
    authenticated.endpoint = request.endpoint;
    authenticated.headers.reserve(request.headers.size() + 1);
    authenticated.headers.emplace_back("Authorization", absl::StrCat("Bearer ", token->token));
    authenticated.headers.insert(authenticated.headers.end(), request.headers.begin(),
                                 request.headers.end());
    authenticated.client_request_id = request.client_request_id;
    authenticated.deadline = request.deadline;
    absl::StatusOr<HttpResponse> response = inner_->Get(context, authenticated);
    if (!response.ok() || response->status != 401 || context.token_renewed) return response;

    // Graph refused a token we took for valid (revoked, or our clock is off): drop it and, time
    // permitting, try once more with a new one. A second 401 is the caller's error; that token
    // stays cached, so the next call starts with it rather than fetch yet another.
    credential_->Invalidate(token->token);
    context.token_renewed = true;
    if (clock_->Now() + kMinAttemptTime > request.deadline) return response;
    if (counters_ != nullptr) GraphCounters::Increment(counters_->token_refreshes);
  }
}

}  // namespace rollcall::graph
