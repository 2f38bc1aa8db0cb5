#pragma once
// App-only tokens for Microsoft Graph from the OAuth 2.0 client-credentials flow of the
// Microsoft identity platform: POST {authority_host}{tenant}/oauth2/v2.0/token.
//
// A credential caches its token and hands the same one to every caller until `refresh_margin`
// before it expires; then the next caller refreshes it. One refresh serves all concurrent
// waiters: N callers arriving together cause one token request.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "graph_client/clock.h"
#include "graph_client/http_transport.h"

namespace rollcall::graph {

struct AccessToken {
  std::string token;
  absl::Time expires_on;
};

class TokenCredential {
 public:
  virtual ~TokenCredential() = default;
  // Thread-safe. A cached token when one is fresh; otherwise one token request for all
  // concurrent callers, bounded by `deadline`. Errors carry ErrorDetails:
  //   FAILED_PRECONDITION  CREDENTIALS_REJECTED (the AADSTS code and what to fix in the message)
  //   UNAVAILABLE          TOKEN_ENDPOINT_ERROR (the endpoint failed or was unreachable)
  //   DEADLINE_EXCEEDED    the deadline passed first
  virtual absl::StatusOr<AccessToken> GetToken(absl::Time deadline) = 0;
  // Forget `token` if it is the cached one (Graph rejected it); the next GetToken fetches anew.
  virtual void Invalidate(const std::string& token) = 0;
};

struct ClientSecretCredentialOptions {
  // AZURE_AUTHORITY_HOST; a trailing slash is optional.
  std::string authority_host = "https://login.microsoftonline.com/";
  std::string tenant_id;      // AZURE_TENANT_ID
  std::string client_id;      // AZURE_CLIENT_ID
  std::string client_secret;  // AZURE_CLIENT_SECRET; never logged, never put in an error
  // "{graph host}/.default", e.g. "https://graph.microsoft.com/.default".
  std::string scope = "https://graph.microsoft.com/.default";
  // Refresh this long before expires_on.
  absl::Duration refresh_margin = absl::Minutes(5);
};

// Missing tenant, client id or secret gives FAILED_PRECONDITION (CREDENTIALS_MISSING) naming
// the variable to set. `transport` and `clock` must outlive the credential.
absl::StatusOr<std::unique_ptr<TokenCredential>> MakeClientSecretCredential(
    const ClientSecretCredentialOptions& options, std::shared_ptr<HttpTransport> transport,
    const Clock* clock);

}  // namespace rollcall::graph
