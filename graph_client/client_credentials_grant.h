#pragma once
// The OAuth 2.0 client-credentials grant against the Microsoft identity platform:
// POST {authority_host}{tenant}/oauth2/v2.0/token. One request per Request call; the caching
// credential over it does the rest. Every way to authenticate (a client secret, a secret file,
// a certificate, a federated token) is this grant with another ClientAuthenticator: they differ
// only in the form fields that authenticate the client.
//
// Errors (ErrorDetails, the identity platform's trace and correlation IDs in the metadata):
//   FAILED_PRECONDITION CREDENTIALS_REJECTED  a 4xx with an OAuth error: the AADSTS code and
//                                             what to fix in the message;
//   UNAVAILABLE TOKEN_ENDPOINT_ERROR          429, 5xx, throttling AADSTS codes,
//                                             temporarily_unavailable (all marked transient,
//                                             with RetryInfo when Retry-After came), a network
//                                             failure (transient when before any response
//                                             byte), a 200 that is not a token response;
//   DEADLINE_EXCEEDED TOKEN_ENDPOINT_ERROR    the deadline passed during the request;
//   whatever the authenticator returns (e.g. UNAVAILABLE CREDENTIALS_MISSING, transient, when
//   the federated token file is missing), and no request is sent.
// No secret, assertion or federated token ever appears in a message: an error_description
// echoing one is redacted.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/clock.h"
#include "graph_client/graph_call_observer.h"
#include "graph_client/http_transport.h"
#include "graph_client/token_credential.h"
#include "graph_client/token_grant.h"
#include "graph_client/token_response.h"

namespace rollcall::graph {

// The client_assertion_type of a signed JWT (a certificate's or a federated token).
inline constexpr absl::string_view kJwtBearerAssertionType =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

// How a rejected request's message says what to fix.
enum class CredentialKind { kSecret, kCertificate, kFederatedToken };

// One token request's client authentication.
struct ClientAuthentication {
  // Form-encoded fields, e.g. "client_secret=..." or
  // "client_assertion_type=...&client_assertion=...". Never logged.
  std::string form_fields;
  // Values no message may quote (the secret, the assertion): redacted, raw and percent-encoded,
  // from anything the endpoint sends back.
  std::vector<std::string> secrets;
};

class ClientAuthenticator {
 public:
  virtual ~ClientAuthenticator() = default;
  // Called once per token request (a fresh assertion, a re-read file). Thread-safe.
  virtual absl::StatusOr<ClientAuthentication> Authenticate() = 0;
  virtual CredentialKind kind() const = 0;
};

// "{authority_host}/{tenant}/oauth2/v2.0/token" (the tenant percent-encoded): where the grant
// posts and a certificate assertion's audience.
std::string TokenEndpointUrl(const TokenCredentialConfig& config);

// `form` percent-encoded as one application/x-www-form-urlencoded field "name=value".
std::string FormField(absl::string_view name, absl::string_view value);

// One POST to the token endpoint `url` (client credentials or on-behalf-of): the grant's own
// form fields `form`, the client's `authentication`, then `form_after`, by `deadline`;
// tells `observer` (may be null) of it as `endpoint` with its latency on `clock`. Returns the
// response or the transport's failure; *sent gets the time it was
// sent (lifetimes count from before the request).
absl::StatusOr<HttpResponse> PostToTokenEndpoint(const ClientAuthentication& authentication,
                                                 HttpTransport& transport,
                                                 const common::Clock& clock,
                                                 GraphCallObserver* observer,
                                                 absl::string_view endpoint,
                                                 const std::string& url, absl::string_view form,
                                                 absl::string_view form_after, absl::Time deadline,
                                                 absl::Time* sent);

// The code a token request the transport could not complete gets: DEADLINE_EXCEEDED when its
// deadline passed, UNAVAILABLE otherwise.
absl::StatusCode TokenTransportCode(const absl::Status& failure);

class ClientCredentialsGrant final : public TokenGrant {
 public:
  // Uses authority_host, tenant_id, client_id, scope and observer of `config`, which must name a
  // tenant and client (MakeTokenCredential checks). `authenticator` and `transport` are never
  // null; `clock` is never null and outlives the grant.
  ClientCredentialsGrant(const TokenCredentialConfig& config,
                         std::unique_ptr<ClientAuthenticator> authenticator,
                         std::shared_ptr<HttpTransport> transport, const common::Clock* clock);

  absl::StatusOr<AccessToken> Request(absl::Time deadline) override;

 private:
  absl::Status MapTokenError(const HttpResponse& response,
                             const std::vector<std::string>& secrets) const;

  const std::string token_url_;
  const std::string client_id_field_;  // "client_id=...&scope=..."
  const std::unique_ptr<ClientAuthenticator> authenticator_;
  const std::shared_ptr<HttpTransport> transport_;
  const std::shared_ptr<GraphCallObserver> observer_;
  const common::Clock* const clock_;
};

}  // namespace rollcall::graph
