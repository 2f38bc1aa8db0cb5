#pragma once
// Delegated mode's interface (README, "Delegated mode"), what service/ builds against: turns a
// caller's user token into the user it names (as Entra ID validated it, through the
// on-behalf-of exchange) and a GraphClient that reads Graph as that user. The implementation
// is DelegatedCredentials (on_behalf_of.h).

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "graph_client/graph_client.h"

namespace rollcall::graph {

// The claims of a token's payload Rollcall reads: the user's object ID and tenant.
struct UserIdentity {
  std::string oid;
  std::string tid;
};

// The user a delegated call runs as, and the Graph client that reads as that user (its
// ReportRefs use ReportSource::kMe).
struct DelegatedUser {
  UserIdentity identity;
  std::shared_ptr<GraphClient> graph;
};

class DelegatedGraph {
 public:
  virtual ~DelegatedGraph() = default;
  // The user of `user_token`: a cached exchange while its Graph token is fresh, else one
  // on-behalf-of exchange shared by every concurrent caller with the same token, within
  // `deadline`. Blocks on the token endpoint: never call it on a gRPC thread. Errors:
  // UNAUTHENTICATED (USER_TOKEN_REJECTED, USER_TOKEN_EXPIRED), FAILED_PRECONDITION
  // (CONSENT_REQUIRED, CREDENTIALS_REJECTED), UNAVAILABLE (TOKEN_ENDPOINT_ERROR),
  // DEADLINE_EXCEEDED. Thread-safe.
  virtual absl::StatusOr<DelegatedUser> Exchange(const std::string& user_token,
                                                 absl::Time deadline) = 0;
  // Without blocking: the user of `user_token` when an exchange of it is cached and fresh.
  virtual std::optional<DelegatedUser> Cached(const std::string& user_token) = 0;
};

}  // namespace rollcall::graph
