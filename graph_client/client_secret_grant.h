#pragma once
// The OAuth 2.0 client-credentials grant with a client secret, against the Microsoft identity
// platform: POST {authority_host}{tenant}/oauth2/v2.0/token. One request per Request call; the
// caching credential over it does the rest. Thread-safe (immutable after construction).
//
// Errors (ErrorDetails, the identity platform's trace and correlation IDs in the metadata):
//   FAILED_PRECONDITION CREDENTIALS_REJECTED  a 4xx with an OAuth error: the AADSTS code and
//                                             what to fix in the message;
//   UNAVAILABLE TOKEN_ENDPOINT_ERROR          429, 5xx, throttling AADSTS codes,
//                                             temporarily_unavailable (all marked transient,
//                                             with RetryInfo when Retry-After came), a network
//                                             failure (transient when before any response
//                                             byte), a 200 that is not a token response;
//   DEADLINE_EXCEEDED TOKEN_ENDPOINT_ERROR    the deadline passed during the request.
// The secret never appears in a message: an error_description echoing it is redacted.

#include <memory>
#include <string>

#include "common/clock.h"
#include "graph_client/graph_call_observer.h"
#include "graph_client/http_transport.h"
#include "graph_client/token_credential.h"
#include "graph_client/token_grant.h"
#include "graph_client/token_response.h"

namespace rollcall::graph {

class ClientSecretGrant final : public TokenGrant {
 public:
  // Uses authority_host, tenant_id, client_id, client_secret, scope and observer of `config`,
  // which must name a tenant, client and secret (MakeTokenCredential checks). `transport` is
  // never null; `clock` is never null and outlives the grant.
  ClientSecretGrant(const TokenCredentialConfig& config, std::shared_ptr<HttpTransport> transport,
                    const common::Clock* clock);

  absl::StatusOr<AccessToken> Request(absl::Time deadline) override;

 private:
  absl::Status MapTokenError(const HttpResponse& response) const;
  std::string FirstLineWithoutSecret(absl::string_view description) const;

  const std::string token_url_;
  const std::string form_body_;  // holds the secret: never logged, never in a message
  const std::string client_secret_;
  const std::shared_ptr<HttpTransport> transport_;
  const std::shared_ptr<GraphCallObserver> observer_;
  const common::Clock* const clock_;
};

}  // namespace rollcall::graph
