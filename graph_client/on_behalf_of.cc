#include "graph_client/on_behalf_of.h"

#include <openssl/sha.h>

#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/error_details.h"
#include "common/utf8.h"
#include "graph_client/caching_token_credential.h"
#include "graph_client/http_transport.h"
#include "graph_client/json_reader.h"
#include "graph_client/token_response.h"
#include "graph_client/url_encoding.h"

namespace rollcall::graph {
namespace {

constexpr absl::string_view kOboEndpoint = "token_obo";

// What each refusal asks the caller or the operator to do.
constexpr absl::string_view kConsentHint =
    "An admin of the tenant (or the user) must consent to the delegated permission "
    "OnlineMeetingArtifact.Read.All for Rollcall's app registration (Entra ID, Enterprise "
    "applications, Permissions, Grant admin consent), then the call can be repeated.";
constexpr absl::string_view kExpiredHint =
    "The user's token has expired: the caller must get a new token for Rollcall's app and call "
    "again.";
constexpr absl::string_view kRejectedHint =
    "Entra ID did not accept the user's token as an assertion: it must be an access token "
    "issued for Rollcall's own app registration (audience AZURE_CLIENT_ID or "
    "api://AZURE_CLIENT_ID), in Rollcall's tenant, unexpired.";

// Whether `text` holds one of `secrets`, raw or percent-encoded.
bool Echoes(absl::string_view text, const std::vector<std::string>& secrets) {
  for (const std::string& secret : secrets) {
    if (secret.empty()) continue;
    if (absl::StrContains(text, secret) || absl::StrContains(text, PercentEncode(secret))) {
      return true;
    }
    // Entra ID quotes pieces of an assertion: a long prefix is as telling as the whole.
    if (secret.size() > 40 && absl::StrContains(text, secret.substr(0, 40))) return true;
  }
  return false;
}

std::string Hex(const unsigned char* data, std::size_t size) {
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(data), size));
}

}  // namespace

std::string DelegatedScope(absl::string_view graph_base_url) {
  return absl::StrCat(UrlOrigin(StripTrailingSlashes(graph_base_url)), "/",
                      kDelegatedPermission);
}

OnBehalfOfGrant::OnBehalfOfGrant(const TokenCredentialConfig& config, std::string scope,
                                 std::shared_ptr<ClientAuthenticator> authenticator,
                                 std::shared_ptr<HttpTransport> transport,
                                 const common::Clock* clock, std::string assertion)
    : token_url_(TokenEndpointUrl(config)),
      fields_(absl::StrCat(FormField("client_id", config.client_id), "&",
                           FormField("scope", scope), "&", FormField("grant_type", kOboGrantType),
                           "&requested_token_use=on_behalf_of")),
      authenticator_(std::move(authenticator)),
      transport_(std::move(transport)),
      observer_(config.observer),
      clock_(clock),
      assertion_(std::move(assertion)) {}

absl::StatusOr<AccessToken> OnBehalfOfGrant::Request(absl::Time deadline) {
  absl::StatusOr<ClientAuthentication> authentication = authenticator_->Authenticate();
  if (!authentication.ok()) return authentication.status();
  absl::Time sent;
  absl::StatusOr<HttpResponse> response = PostToTokenEndpoint(
      *authentication, *transport_, *clock_, observer_.get(), kOboEndpoint, token_url_, fields_,
      FormField("assertion", assertion_), deadline, &sent);
  if (!response.ok()) {
    const absl::StatusCode code = TokenTransportCode(response.status());
    return MarkTransient(common::MakeError(
        code,
        absl::StrCat("could not exchange the user's token at ", UrlOrigin(token_url_), ": ",
                     response.status().message()),
        {std::string(common::reason::kTokenEndpointError), {}, std::nullopt}));
  }
  if (response->status != 200) return MapError(*response, *authentication);
  absl::StatusOr<TokenResponse> parsed = ParseTokenResponse(response->body);
  if (!parsed.ok()) {
    return common::MakeError(
        absl::StatusCode::kUnavailable,
        absl::StrCat("the on-behalf-of exchange returned HTTP 200 without a valid token "
                     "response: ",
                     parsed.status().message()),
        {std::string(common::reason::kTokenEndpointError), {}, std::nullopt});
  }
  AccessToken token;
  token.token = std::move(parsed->access_token);
  token.expires_on = sent + parsed->expires_in;
  if (parsed->refresh_in.has_value()) token.refresh_on = sent + *parsed->refresh_in;
  return token;
}

absl::Status OnBehalfOfGrant::MapError(const HttpResponse& response,
                                       const ClientAuthentication& auth) const {
  TokenErrorBody body;
  const bool has_body = ParseTokenErrorBody(response.body, &body);
  std::vector<std::string> secrets = auth.secrets;
  secrets.push_back(assertion_);
  common::ErrorDetails details;
  details.metadata[std::string(common::meta::kHttpStatus)] = absl::StrCat(response.status);
  if (has_body) {
    details.metadata[std::string(common::meta::kOauthError)] =
        common::utf8::Truncate(body.error, 128);
    if (!body.aadsts_code.empty()) {
      details.metadata[std::string(common::meta::kAadstsCode)] =
          common::utf8::Truncate(body.aadsts_code, 128);
    }
  }
  std::string said = "no OAuth error body";
  if (has_body) {
    const absl::string_view first =
        absl::string_view(body.error_description)
            .substr(0, body.error_description.find_first_of("\r\n"));
    said = Echoes(first, secrets)
               ? absl::StrCat(body.error, ", ", body.aadsts_code,
                              ": [the description is withheld: it repeated a credential]")
               : absl::StrCat(body.error, ", ", common::utf8::Truncate(first, 1024));
  }
  const std::string what = absl::StrCat("Entra ID refused the on-behalf-of exchange (HTTP ",
                                        response.status, ", ", said, "). ");
  const auto error = [&](absl::StatusCode code, absl::string_view reason,
                         absl::string_view hint) {
    details.reason = std::string(reason);
    return common::MakeError(code, absl::StrCat(what, hint), details);
  };
  if (response.status == 429 || response.status >= 500 || body.error == "temporarily_unavailable") {
    return MarkTransient(error(absl::StatusCode::kUnavailable,
                               common::reason::kTokenEndpointError,
                               "Entra ID is unavailable or throttling; try again later."));
  }
  if (body.aadsts_code == "AADSTS65001" || body.aadsts_code == "AADSTS65004" ||
      body.error == "consent_required") {
    return error(absl::StatusCode::kFailedPrecondition, common::reason::kConsentRequired,
                 kConsentHint);
  }
  if (body.aadsts_code == "AADSTS500133") {
    return error(absl::StatusCode::kUnauthenticated, common::reason::kUserTokenExpired,
                 kExpiredHint);
  }
  if (body.error == "invalid_grant") {
    return error(absl::StatusCode::kUnauthenticated, common::reason::kUserTokenRejected,
                 kRejectedHint);
  }
  return error(absl::StatusCode::kFailedPrecondition, common::reason::kCredentialsRejected,
               "Rollcall's own app credentials or settings were refused: check AZURE_TENANT_ID, "
               "AZURE_CLIENT_ID and the client secret, certificate or federated token.");
}

absl::StatusOr<UserIdentity> ReadUserIdentity(absl::string_view jwt) {
  const std::vector<absl::string_view> parts = absl::StrSplit(jwt, '.');
  std::string payload;
  if (parts.size() != 3 || !absl::WebSafeBase64Unescape(parts[1], &payload)) {
    return absl::InvalidArgumentError("the token is not a JWT");
  }
  json::ParsedJson parsed;
  if (!json::Parse(payload, &parsed).ok() || !parsed.doc.IsObject()) {
    return absl::InvalidArgumentError("the token's payload is not a JSON object");
  }
  UserIdentity identity;
  identity.oid = json::StringMember(parsed.doc, "oid");
  identity.tid = json::StringMember(parsed.doc, "tid");
  if (identity.oid.empty()) return absl::InvalidArgumentError("the token names no user (oid)");
  return identity;
}

DelegatedCredentials::DelegatedCredentials(DelegatedOptions options,
                                           std::shared_ptr<ClientAuthenticator> authenticator,
                                           std::shared_ptr<HttpTransport> transport,
                                           const common::Clock* clock)
    : options_(std::move(options)),
      authenticator_(std::move(authenticator)),
      transport_(std::move(transport)),
      clock_(clock) {}

std::shared_ptr<DelegatedCredentials::Entry> DelegatedCredentials::EntryFor(
    const std::string& key, const std::string& user_token, bool create) {
  common::MutexLock lock(&mu_);
  if (const auto found = index_.find(key); found != index_.end()) {
    lru_.splice(lru_.begin(), lru_, found->second);
    return found->second->second;
  }
  if (!create) return nullptr;
  auto entry = std::make_shared<Entry>();
  CachingOptions caching;
  caching.refresh_margin = options_.token.refresh_margin;
  caching.retry = options_.token.retry;
  caching.background_refresh = false;
  entry->credential = std::make_shared<CachingTokenCredential>(
      std::make_unique<OnBehalfOfGrant>(options_.token, options_.scope, authenticator_,
                                        transport_, clock_, user_token),
      std::move(caching), clock_);
  entry->graph = MakeGraphClient(options_.graph, transport_, entry->credential, clock_);
  lru_.emplace_front(key, entry);
  index_[key] = lru_.begin();
  while (lru_.size() > options_.max_users && lru_.size() > 1) {
    index_.erase(lru_.back().first);
    lru_.pop_back();  // a call still using it holds its own reference
  }
  return entry;
}

namespace {
std::string KeyOf(const std::string& user_token) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(user_token.data()), user_token.size(), digest);
  return Hex(digest, sizeof(digest));
}
}  // namespace

absl::StatusOr<DelegatedUser> DelegatedCredentials::Exchange(const std::string& user_token,
                                                             absl::Time deadline) {
  const std::shared_ptr<Entry> entry = EntryFor(KeyOf(user_token), user_token, true);
  absl::StatusOr<AccessToken> token = entry->credential->GetToken(deadline);
  if (!token.ok()) return token.status();
  // The user's identity from what Entra ID returned; failing that, from the user's token,
  // which Entra ID has just accepted as the assertion of this exchange.
  absl::StatusOr<UserIdentity> identity = ReadUserIdentity(token->token);
  if (!identity.ok()) identity = ReadUserIdentity(user_token);
  if (!identity.ok()) {
    return common::MakeError(
        absl::StatusCode::kUnauthenticated,
        absl::StrCat("Entra ID accepted the user's token, but neither it nor the token Entra ID "
                     "returned names the user (oid): ",
                     identity.status().message()),
        {std::string(common::reason::kUserTokenRejected), {}, std::nullopt});
  }
  {
    common::MutexLock lock(&entry->mu);
    entry->identity = *identity;
    entry->fresh_until = (token->refresh_on.has_value() ? *token->refresh_on
                                                        : token->expires_on -
                                                              options_.token.refresh_margin);
  }
  return DelegatedUser{*std::move(identity), entry->graph};
}

std::optional<DelegatedUser> DelegatedCredentials::Cached(const std::string& user_token) {
  const std::shared_ptr<Entry> entry = EntryFor(KeyOf(user_token), user_token, false);
  if (entry == nullptr) return std::nullopt;
  common::MutexLock lock(&entry->mu);
  if (!entry->identity.has_value() || clock_->Now() >= entry->fresh_until) return std::nullopt;
  return DelegatedUser{*entry->identity, entry->graph};
}

std::size_t DelegatedCredentials::users() const {
  common::MutexLock lock(&mu_);
  return lru_.size();
}

}  // namespace rollcall::graph
