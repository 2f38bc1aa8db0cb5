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
    context.token_backoff.reset();
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
    if (!response.ok()) return response;
    const long status = response->status;
    if (status != 401) {
      // Graph authenticated the token (a 403 or 404 is about the resource, not the token); a
      // 429 or a 5xx may come before it looked.
      if (status != 429 && status < 500) credential_->Accepted(token->token);
      return response;
    }

    // Graph refused a token we took for valid (revoked, or our clock is off): the credential
    // drops it, and time permitting we try once more with a new one. If Graph refused a
    // replacement as well, the credential backs off instead of fetching tokens Graph would
    // refuse too: the 401 is final, and the caller is told until when.
    const Invalidation invalidation = credential_->Invalidate(token->token);
    if (invalidation.outcome == Invalidation::Outcome::kBackingOff) {
      context.token_backoff = TokenBackoff{invalidation.backoff_until, invalidation.backoff};
      return response;
    }
    if (invalidation.outcome == Invalidation::Outcome::kDropped && counters_ != nullptr) {
      GraphCounters::Increment(counters_->token_refreshes);
    }
    if (context.token_renewed) return response;
    context.token_renewed = true;
    if (clock_->Now() + kMinAttemptTime > request.deadline) return response;
  }
}

}  // namespace rollcall::graph
