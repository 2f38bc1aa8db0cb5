#pragma once
// Delegated mode (README, "Delegated mode"): the OAuth 2.0 on-behalf-of grant, which exchanges
// a signed-in user's token (issued for Rollcall's own app registration) for a Graph token of
// that user, and the bounded per-user cache of those tokens.
//
// OnBehalfOfGrant: POST {authority_host}/{tenant}/oauth2/v2.0/token with
//   grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer, assertion=<user token>,
//   requested_token_use=on_behalf_of, scope=<Graph origin>/OnlineMeetingArtifact.Read.All,
// the app authenticating itself with the same ClientAuthenticator as its client-credentials
// grant (secret, certificate assertion or federated token). Errors (ErrorDetails, metadata
// aadsts_code and oauth_error):
//   UNAUTHENTICATED     USER_TOKEN_EXPIRED   AADSTS500133: the user's token has expired;
//   UNAUTHENTICATED     USER_TOKEN_REJECTED  any other invalid_grant (AADSTS50013: a token for
//                                            another audience or tenant, a bad signature);
//   FAILED_PRECONDITION CONSENT_REQUIRED     AADSTS65001 (and 65004): the user or an admin must
//                                            consent to OnlineMeetingArtifact.Read.All;
//   FAILED_PRECONDITION CREDENTIALS_REJECTED the app's own credentials (invalid_client, ...);
//   UNAVAILABLE         TOKEN_ENDPOINT_ERROR 429, 5xx, a network failure (marked transient).
// The user's token never appears in a message: a description that echoes it (or the app's
// secret) is withheld.
//
// DelegatedCredentials: one CachingTokenCredential over an OnBehalfOfGrant per user token
// (keyed by the token's SHA-256, never the token), so concurrent calls with one token make
// one exchange and later calls reuse the Graph token until shortly before it expires; at most
// max_users entries, least recently used dropped first. The user's identity (oid, tid) comes
// from the token Entra ID returned, never from what the caller sent.

#include <cstddef>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/mutex.h"
#include "graph_client/client_credentials_grant.h"
#include "graph_client/delegated.h"
#include "graph_client/graph_client.h"
#include "graph_client/token_credential.h"
#include "graph_client/token_grant.h"

namespace rollcall::graph {

inline constexpr absl::string_view kOboGrantType = "urn:ietf:params:oauth:grant-type:jwt-bearer";
inline constexpr absl::string_view kDelegatedPermission = "OnlineMeetingArtifact.Read.All";

// "https://graph.microsoft.com/OnlineMeetingArtifact.Read.All" for a Graph base URL.
std::string DelegatedScope(absl::string_view graph_base_url);

class OnBehalfOfGrant final : public TokenGrant {
 public:
  // `config` as for ClientCredentialsGrant (authority_host, tenant_id, client_id, observer);
  // `scope` the delegated scope; `assertion` the user's token.
  OnBehalfOfGrant(const TokenCredentialConfig& config, std::string scope,
                  std::shared_ptr<ClientAuthenticator> authenticator,
                  std::shared_ptr<HttpTransport> transport, const common::Clock* clock,
                  std::string assertion);
  absl::StatusOr<AccessToken> Request(absl::Time deadline) override;

 private:
  absl::Status MapError(const HttpResponse& response, const ClientAuthentication& auth) const;

  const std::string token_url_;
  const std::string fields_;  // client_id, scope, grant_type, requested_token_use
  const std::shared_ptr<ClientAuthenticator> authenticator_;
  const std::shared_ptr<HttpTransport> transport_;
  const std::shared_ptr<GraphCallObserver> observer_;
  const common::Clock* const clock_;
  const std::string assertion_;
};

// The oid and tid of a JWT's payload (not verified: only for a token Entra ID returned or
// accepted). INVALID_ARGUMENT when it is not a JWT or has no oid.
absl::StatusOr<UserIdentity> ReadUserIdentity(absl::string_view jwt);

struct DelegatedOptions {
  TokenCredentialConfig token;  // authority, tenant, client, retry, refresh margin, observer
  std::string scope;            // DelegatedScope(graph base)
  GraphClientOptions graph;     // how each user's GraphClient reads Graph
  std::size_t max_users = 5000;
};

class DelegatedCredentials final : public DelegatedGraph {
 public:
  DelegatedCredentials(DelegatedOptions options, std::shared_ptr<ClientAuthenticator> authenticator,
                       std::shared_ptr<HttpTransport> transport, const common::Clock* clock);

  // The user of `user_token`: a cached exchange when its Graph token is fresh, else one
  // on-behalf-of exchange (shared by every concurrent caller with the same token), within
  // `deadline`. Blocks: call it off gRPC's threads. Errors as OnBehalfOfGrant's.
  absl::StatusOr<DelegatedUser> Exchange(const std::string& user_token,
                                         absl::Time deadline) override;
  // Without blocking: the user of `user_token` when an exchange of it is cached and fresh.
  std::optional<DelegatedUser> Cached(const std::string& user_token) override;

  // Users (user tokens) cached.
  std::size_t users() const;

 private:
  struct Entry {
    std::shared_ptr<TokenCredential> credential;
    std::shared_ptr<GraphClient> graph;
    common::Mutex mu;
    std::optional<UserIdentity> identity ABSL_GUARDED_BY(mu);
    absl::Time fresh_until ABSL_GUARDED_BY(mu) = absl::InfinitePast();
  };
  std::shared_ptr<Entry> EntryFor(const std::string& key, const std::string& user_token,
                                  bool create);

  const DelegatedOptions options_;
  const std::shared_ptr<ClientAuthenticator> authenticator_;
  const std::shared_ptr<HttpTransport> transport_;
  const common::Clock* const clock_;

  mutable common::Mutex mu_;
  // Most recently used first.
  std::list<std::pair<std::string, std::shared_ptr<Entry>>> lru_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, decltype(lru_)::iterator> index_ ABSL_GUARDED_BY(mu_);
};

// The ClientAuthenticator `config` sets up (the order of token_credential.h), shared by the
// client-credentials grant and the on-behalf-of grant. FAILED_PRECONDITION
// CREDENTIALS_MISSING as MakeTokenCredential.
absl::StatusOr<std::shared_ptr<ClientAuthenticator>> MakeClientAuthenticator(
    const TokenCredentialConfig& config, const common::Clock* clock);

}  // namespace rollcall::graph
