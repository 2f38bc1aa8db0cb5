#include "graph_client/token_credential.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/error_details.h"
#include "graph_client/caching_token_credential.h"
#include "graph_client/client_secret_grant.h"

namespace rollcall::graph {

absl::StatusOr<std::unique_ptr<TokenCredential>> MakeTokenCredential(
    const TokenCredentialConfig& config, std::shared_ptr<HttpTransport> transport,
    const common::Clock* clock) {
  std::vector<absl::string_view> missing;
  if (config.tenant_id.empty()) missing.push_back("AZURE_TENANT_ID");
  if (config.client_id.empty()) missing.push_back("AZURE_CLIENT_ID");
  if (config.client_secret.empty()) missing.push_back("AZURE_CLIENT_SECRET");
  if (!missing.empty()) {
    return common::MakeError(absl::StatusCode::kFailedPrecondition,
                             absl::StrCat("client-secret credentials are incomplete: set ",
                                          absl::StrJoin(missing, ", ")),
                             {std::string(common::reason::kCredentialsMissing), {}, std::nullopt});
  }
  if (transport == nullptr || clock == nullptr) {
    return absl::InvalidArgumentError("MakeTokenCredential needs a transport and a clock");
  }
  // The only grant today; a certificate or workload-identity grant is chosen here.
  auto grant = std::make_unique<ClientSecretGrant>(config, std::move(transport), clock);
  return std::unique_ptr<TokenCredential>(std::make_unique<CachingTokenCredential>(
      std::move(grant), CachingOptions{config.refresh_margin, config.retry}, clock));
}

}  // namespace rollcall::graph
