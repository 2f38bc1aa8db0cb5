#pragma once
// App-only tokens for Microsoft Graph from the OAuth 2.0 client-credentials flow of the
// Microsoft identity platform: POST {authority_host}{tenant}/oauth2/v2.0/token.
//
// A credential caches its token and hands the same one to every caller until `refresh_margin`
// before it expires; then the next caller refreshes it. One refresh serves all concurrent
// waiters: N callers arriving together cause one token request.
//
// A refresh of a token that is still valid (inside the margin) is proactive: one attempt, made
// by one caller while every other caller keeps getting the old token, and at most one every
// 30 s. If it fails, the old token keeps being served until shortly before it really expires.
// A refresh without a usable token retries transient failures of the token endpoint (429,
// 5xx, temporarily_unavailable and throttling AADSTS codes, transport failures before any
// response byte) under `retry`, within the caller's deadline.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "graph_client/http_transport.h"
#include "graph_client/retry_policy.h"

namespace rollcall::graph {

struct AccessToken {
  std::string token;
  absl::Time expires_on;
};

class TokenCredential {
 public:
  virtual ~TokenCredential() = default;
  // Thread-safe. A cached token when one is fresh; otherwise one token request (with its
  // retries) for all concurrent callers, bounded by `deadline`. Errors carry ErrorDetails:
  //   FAILED_PRECONDITION  CREDENTIALS_REJECTED (the AADSTS code and what to fix in the message)
  //   UNAVAILABLE          TOKEN_ENDPOINT_ERROR (the endpoint failed or was unreachable; the
  //                        last attempt's error, with RetryInfo when it sent Retry-After)
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
  // How transient token-endpoint failures are retried when no usable token is cached.
  RetryOptions retry;
};

// Missing tenant, client id or secret gives FAILED_PRECONDITION (CREDENTIALS_MISSING) naming
// the variable to set. `transport` and `clock` must outlive the credential.
absl::StatusOr<std::unique_ptr<TokenCredential>> MakeClientSecretCredential(
    const ClientSecretCredentialOptions& options, std::shared_ptr<HttpTransport> transport,
    const common::Clock* clock);

}  // namespace rollcall::graph
