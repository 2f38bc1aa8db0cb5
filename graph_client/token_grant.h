#pragma once
// One way of getting a token from the identity platform: one token request, no cache, no
// retries (CachingTokenCredential adds those). Implementation: ClientCredentialsGrant
// (client_credentials_grant.h), over one ClientAuthenticator per way to authenticate.
//
// Errors carry ErrorDetails as TokenCredential documents them; a failure that trying again
// later may cure (throttling, 5xx, temporarily_unavailable, a connection that failed before
// any response byte) is marked with MarkTransient, which the caching credential removes before
// any caller sees the status. No message ever holds a secret or a token.

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "graph_client/token_credential.h"

namespace rollcall::graph {

class TokenGrant {
 public:
  virtual ~TokenGrant() = default;
  // One token request, bounded by `deadline`. The token's expires_on (and refresh_on, when the
  // platform suggested one) count from just before the request was sent. Thread-safe.
  virtual absl::StatusOr<AccessToken> Request(absl::Time deadline) = 0;
};

// `status` (not OK) marked as worth retrying later.
absl::Status MarkTransient(absl::Status status);
// Whether `status` is so marked.
bool IsTransient(const absl::Status& status);
// `status` without the mark.
absl::Status WithoutTransientMark(absl::Status status);

}  // namespace rollcall::graph
