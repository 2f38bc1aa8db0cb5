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
#include "graph_client/certificate_authenticator.h"
#include "graph_client/client_authenticators.h"
#include "graph_client/client_credentials_grant.h"
#include "graph_client/on_behalf_of.h"

namespace rollcall::graph {
namespace {

// The authenticator of the first way to authenticate `config` sets up (the order is
// token_credential.h's), or null when it sets up none.
absl::StatusOr<std::unique_ptr<ClientAuthenticator>> ChooseAuthenticator(
    const TokenCredentialConfig& config, const common::Clock* clock) {
  if (!config.client_secret.empty()) {
    return std::make_unique<ClientSecretAuthenticator>(config.client_secret);
  }
  if (!config.client_secret_file.empty()) {
    auto authenticator = ClientSecretFileAuthenticator::Create(config.client_secret_file);
    if (!authenticator.ok()) return authenticator.status();
    return std::unique_ptr<ClientAuthenticator>(*std::move(authenticator));
  }
  if (!config.client_certificate_path.empty()) {
    auto authenticator = CertificateAuthenticator::Create(config, clock);
    if (!authenticator.ok()) return authenticator.status();
    return std::unique_ptr<ClientAuthenticator>(*std::move(authenticator));
  }
  if (!config.federated_token_file.empty()) {
    return std::make_unique<FederatedTokenAuthenticator>(config.federated_token_file);
  }
  return std::unique_ptr<ClientAuthenticator>();
}

}  // namespace

absl::StatusOr<std::shared_ptr<ClientAuthenticator>> MakeClientAuthenticator(
    const TokenCredentialConfig& config, const common::Clock* clock) {
  absl::StatusOr<std::unique_ptr<ClientAuthenticator>> authenticator =
      ChooseAuthenticator(config, clock);
  if (!authenticator.ok()) return authenticator.status();
  if (*authenticator == nullptr) {
    return common::MakeError(absl::StatusCode::kFailedPrecondition,
                             "delegated mode needs the app's own credentials: set "
                             "AZURE_CLIENT_SECRET, the client secret file, "
                             "AZURE_CLIENT_CERTIFICATE_PATH or AZURE_FEDERATED_TOKEN_FILE",
                             {std::string(common::reason::kCredentialsMissing), {}, std::nullopt});
  }
  return std::shared_ptr<ClientAuthenticator>(*std::move(authenticator));
}

absl::StatusOr<std::unique_ptr<TokenCredential>> MakeTokenCredential(
    const TokenCredentialConfig& config, std::shared_ptr<HttpTransport> transport,
    const common::Clock* clock) {
  std::vector<absl::string_view> missing;
  if (config.tenant_id.empty()) missing.push_back("AZURE_TENANT_ID");
  if (config.client_id.empty()) missing.push_back("AZURE_CLIENT_ID");
  const bool has_credential =
      !config.client_secret.empty() || !config.client_secret_file.empty() ||
      !config.client_certificate_path.empty() || !config.federated_token_file.empty();
  if (!missing.empty() || !has_credential) {
    std::string message = "credentials are incomplete: set ";
    if (!missing.empty()) absl::StrAppend(&message, absl::StrJoin(missing, ", "));
    if (!missing.empty() && !has_credential) absl::StrAppend(&message, ", and ");
    if (!has_credential) {
      absl::StrAppend(&message,
                      "one of AZURE_CLIENT_SECRET, the client secret file, "
                      "AZURE_CLIENT_CERTIFICATE_PATH (with AZURE_CLIENT_CERTIFICATE_PASSWORD "
                      "for an encrypted key) or AZURE_FEDERATED_TOKEN_FILE");
    }
    return common::MakeError(absl::StatusCode::kFailedPrecondition, std::move(message),
                             {std::string(common::reason::kCredentialsMissing), {}, std::nullopt});
  }
  if (transport == nullptr || clock == nullptr) {
    return absl::InvalidArgumentError("MakeTokenCredential needs a transport and a clock");
  }
  absl::StatusOr<std::unique_ptr<ClientAuthenticator>> authenticator =
      ChooseAuthenticator(config, clock);
  if (!authenticator.ok()) return authenticator.status();
  auto grant = std::make_unique<ClientCredentialsGrant>(config, *std::move(authenticator),
                                                        std::move(transport), clock);
  CachingOptions options;
  options.refresh_margin = config.refresh_margin;
  options.retry = config.retry;
  options.background_refresh = config.background_refresh;
  options.observer = config.credential_observer;
  return std::unique_ptr<TokenCredential>(
      std::make_unique<CachingTokenCredential>(std::move(grant), std::move(options), clock));
}

}  // namespace rollcall::graph
