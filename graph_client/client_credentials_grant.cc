#include "graph_client/client_credentials_grant.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/error_details.h"
#include "common/utf8.h"
#include "graph_client/retry_after.h"
#include "graph_client/url_encoding.h"

namespace rollcall::graph {
namespace {

// The payload key of MarkTransient; private to graph_client/ (WithoutTransientMark removes it
// before a caller sees the status).
constexpr absl::string_view kTransientUrl = "rollcall.graph/TransientTokenError";

// Endpoint name of token requests for GraphCallObserver.
constexpr absl::string_view kTokenEndpoint = "token";

// ErrorInfo metadata keys for the identity platform's own request identifiers (what Microsoft
// support asks for).
constexpr absl::string_view kAadTraceId = "aad_trace_id";
constexpr absl::string_view kAadCorrelationId = "aad_correlation_id";

// AADSTS codes and OAuth errors that mean "try again later" rather than "fix the credentials".
bool IsTransientTokenError(const TokenErrorBody& body) {
  static constexpr absl::string_view kTransientCodes[] = {
      "AADSTS90055",  // TenantThrottlingError
      "AADSTS90024",  // RequestBudgetExceededError
      "AADSTS50196",  // loop / throttled
  };
  if (body.error == "temporarily_unavailable") return true;
  for (absl::string_view code : kTransientCodes) {
    if (body.aadsts_code == code) return true;
  }
  return false;
}

// What to check about the credential itself, by kind.
absl::string_view CredentialHint(CredentialKind kind) {
  switch (kind) {
    case CredentialKind::kSecret:
      return "Check AZURE_CLIENT_SECRET (or the client secret file): use the secret's value, "
             "not its ID, and make sure it has not expired.";
    case CredentialKind::kCertificate:
      return "Check AZURE_CLIENT_CERTIFICATE_PATH: the certificate must be uploaded to the app "
             "registration and not expired.";
    case CredentialKind::kFederatedToken:
      return "Check AZURE_FEDERATED_TOKEN_FILE and the app's federated identity credential "
             "(issuer, subject, audience).";
  }
  return "";
}

absl::string_view CredentialVariables(CredentialKind kind) {
  switch (kind) {
    case CredentialKind::kSecret:
      return "Check AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET.";
    case CredentialKind::kCertificate:
      return "Check AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_CERTIFICATE_PATH.";
    case CredentialKind::kFederatedToken:
      return "Check AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_FEDERATED_TOKEN_FILE.";
  }
  return "";
}

// What to change, by AADSTS code, for a rejected client-credentials request.
absl::string_view FixHint(absl::string_view aadsts_code, CredentialKind kind) {
  if (aadsts_code == "AADSTS7000215" || aadsts_code == "AADSTS7000222" ||
      aadsts_code == "AADSTS70002" || aadsts_code == "AADSTS7000218") {
    return CredentialHint(kind);
  }
  if (aadsts_code == "AADSTS700027") {
    return "The certificate's signature was refused: is the certificate (its public part) "
           "uploaded to the app registration, and does AZURE_CLIENT_CERTIFICATE_PATH hold its "
           "private key?";
  }
  if (aadsts_code == "AADSTS500133") {
    return "The assertion is outside its validity: check the clock of this host (and, for a "
           "federated token, that Kubernetes still refreshes AZURE_FEDERATED_TOKEN_FILE).";
  }
  if (aadsts_code == "AADSTS50013") {
    return kind == CredentialKind::kFederatedToken
               ? "The federated token was refused as an assertion: check "
                 "AZURE_FEDERATED_TOKEN_FILE and its audience (api://AzureADTokenExchange)."
               : "The client assertion was refused: check AZURE_CLIENT_CERTIFICATE_PATH and "
                 "the clock of this host.";
  }
  if (aadsts_code == "AADSTS70021" || aadsts_code == "AADSTS700211" ||
      aadsts_code == "AADSTS700212" || aadsts_code == "AADSTS700213") {
    return "No federated identity credential matches: check the issuer and subject of the "
           "app's federated credential against the service account token in "
           "AZURE_FEDERATED_TOKEN_FILE.";
  }
  if (aadsts_code == "AADSTS700016" || aadsts_code == "AADSTS700011") {
    return "Check AZURE_CLIENT_ID and AZURE_TENANT_ID: the application must be registered in, "
           "or consented to by, that tenant.";
  }
  if (aadsts_code == "AADSTS90002") {
    return "Check AZURE_TENANT_ID (the tenant's ID or a verified domain) and, for a national "
           "cloud, AZURE_AUTHORITY_HOST.";
  }
  if (aadsts_code == "AADSTS70011") {
    return "Check the scope: it must be the Microsoft Graph host of the same cloud followed by "
           "/.default, such as https://graph.microsoft.com/.default.";
  }
  return CredentialVariables(kind);
}

// `text` with %XX sequences (either case) and '+' decoded once, as a form or URL decoder would.
std::string PercentDecoded(absl::string_view text) {
  const auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex(text[i + 1]) >= 0 && hex(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2])));
      i += 2;
    } else {
      out.push_back(text[i] == '+' ? ' ' : text[i]);
    }
  }
  return out;
}

// Whether `text` holds one of `secrets` as sent, or in any percent-encoding of it: whatever an
// endpoint echoes, in whichever field, is screened before it reaches an error or a log.
bool EchoesSecret(absl::string_view text, const std::vector<std::string>& secrets) {
  const std::string decoded = PercentDecoded(text);
  for (const std::string& secret : secrets) {
    if (secret.empty()) continue;
    if (absl::StrContains(text, secret) || absl::StrContains(decoded, secret)) return true;
  }
  return false;
}

// The first line of an error_description (the rest repeats trace and correlation IDs), or, when
// the endpoint echoed a credential in it, the AADSTS code alone and why the rest is withheld.
std::string FirstLineWithoutSecrets(absl::string_view description, absl::string_view aadsts_code,
                                    const std::vector<std::string>& secrets) {
  if (EchoesSecret(description, secrets)) {
    return absl::StrCat(aadsts_code, aadsts_code.empty() ? "" : ": ",
                        "[the description is withheld: it repeated a credential]");
  }
  // Capped like Graph's text (graph_errors.cc): the error must fit a client's metadata limit.
  return common::utf8::Truncate(description.substr(0, description.find_first_of("\r\n")), 1024);
}

}  // namespace

absl::Status MarkTransient(absl::Status status) {
  status.SetPayload(kTransientUrl, absl::Cord("1"));
  return status;
}

bool IsTransient(const absl::Status& status) {
  return status.GetPayload(kTransientUrl).has_value();
}

absl::Status WithoutTransientMark(absl::Status status) {
  status.ErasePayload(kTransientUrl);
  return status;
}

std::string TokenEndpointUrl(const TokenCredentialConfig& config) {
  return absl::StrCat(StripTrailingSlashes(config.authority_host), "/",
                      PercentEncode(config.tenant_id), "/oauth2/v2.0/token");
}

std::string FormField(absl::string_view name, absl::string_view value) {
  return absl::StrCat(PercentEncode(name), "=", PercentEncode(value));
}

absl::StatusOr<HttpResponse> PostToTokenEndpoint(const ClientAuthentication& authentication,
                                                 HttpTransport& transport,
                                                 const common::Clock& clock,
                                                 GraphCallObserver* observer,
                                                 absl::string_view endpoint,
                                                 const std::string& url, absl::string_view form,
                                                 absl::string_view form_after, absl::Time deadline,
                                                 absl::Time* sent) {
  HttpRequest request;
  request.method = "POST";
  request.url = url;
  request.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                     {"Accept", "application/json"}};
  request.body = absl::StrCat(form, "&", authentication.form_fields, "&", form_after);
  request.deadline = deadline;
  *sent = clock.Now();
  absl::StatusOr<HttpResponse> response = transport.Send(request);
  if (observer != nullptr) {
    GraphCallRecord record;
    record.endpoint = endpoint;
    record.http_status = response.ok() ? response->status : 0;
    record.latency = clock.Now() - *sent;
    observer->OnGraphCall(record);
  }
  return response;
}

absl::StatusCode TokenTransportCode(const absl::Status& failure) {
  return failure.code() == absl::StatusCode::kDeadlineExceeded
             ? absl::StatusCode::kDeadlineExceeded
             : absl::StatusCode::kUnavailable;
}

ClientCredentialsGrant::ClientCredentialsGrant(const TokenCredentialConfig& config,
                                               std::unique_ptr<ClientAuthenticator> authenticator,
                                               std::shared_ptr<HttpTransport> transport,
                                               const common::Clock* clock)
    : token_url_(TokenEndpointUrl(config)),
      client_id_field_(absl::StrCat(FormField("client_id", config.client_id), "&",
                                    FormField("scope", config.scope))),
      authenticator_(std::move(authenticator)),
      transport_(std::move(transport)),
      observer_(config.observer),
      clock_(clock) {}

absl::StatusOr<AccessToken> ClientCredentialsGrant::Request(absl::Time deadline) {
  absl::StatusOr<ClientAuthentication> authentication = authenticator_->Authenticate();
  if (!authentication.ok()) return authentication.status();
  absl::Time sent;  // lifetimes count from before the request
  absl::StatusOr<HttpResponse> response = PostToTokenEndpoint(
      *authentication, *transport_, *clock_, observer_.get(), kTokenEndpoint, token_url_,
      client_id_field_, "grant_type=client_credentials", deadline, &sent);
  if (!response.ok()) {
    const absl::StatusCode code = TokenTransportCode(response.status());
    absl::Status error = common::MakeError(
        code,
        absl::StrCat("could not get an access token from ", UrlOrigin(token_url_), ": ",
                     response.status().message()),
        {std::string(common::reason::kTokenEndpointError), {}, std::nullopt});
    return IsRetryableBeforeResponse(response.status()) ? MarkTransient(std::move(error)) : error;
  }
  if (response->status != 200) return MapTokenError(*response, authentication->secrets);

  absl::StatusOr<TokenResponse> parsed = ParseTokenResponse(response->body);
  if (!parsed.ok()) {
    return common::MakeError(absl::StatusCode::kUnavailable,
                             absl::StrCat("the token endpoint ", UrlOrigin(token_url_),
                                          " returned HTTP 200 without a valid token response: ",
                                          parsed.status().message()),
                             {std::string(common::reason::kTokenEndpointError),
                              {{std::string(common::meta::kHttpStatus), "200"}},
                              std::nullopt});
  }
  AccessToken token;
  token.token = std::move(parsed->access_token);
  token.expires_on = sent + parsed->expires_in;
  if (parsed->refresh_in.has_value()) token.refresh_on = sent + *parsed->refresh_in;
  return token;
}

absl::Status ClientCredentialsGrant::MapTokenError(const HttpResponse& response,
                                                   const std::vector<std::string>& secrets) const {
  common::ErrorDetails details;
  details.reason = std::string(common::reason::kTokenEndpointError);
  details.metadata[std::string(common::meta::kHttpStatus)] = absl::StrCat(response.status);
  TokenErrorBody body;
  const bool has_body = ParseTokenErrorBody(response.body, &body);
  std::string summary;  // "(invalid_client, AADSTS7000215: Invalid client secret ...)"
  if (has_body) {
    if (!body.aadsts_code.empty()) {
      details.metadata[std::string(common::meta::kAadstsCode)] =
          common::utf8::Truncate(body.aadsts_code, 32);
    }
    // Every field the endpoint sent that reaches the error is screened: one that repeats a
    // credential is left out.
    // Screened whole, then capped: a cut could otherwise leave a credential's first bytes.
    body.error = EchoesSecret(body.error, secrets) ? "[withheld]"
                                                   : common::utf8::Truncate(body.error, 128);
    details.metadata[std::string(common::meta::kOauthError)] = body.error;
    if (!body.trace_id.empty() && !EchoesSecret(body.trace_id, secrets)) {
      details.metadata[std::string(kAadTraceId)] = common::utf8::Truncate(body.trace_id, 128);
    }
    if (!body.correlation_id.empty() && !EchoesSecret(body.correlation_id, secrets)) {
      details.metadata[std::string(kAadCorrelationId)] =
          common::utf8::Truncate(body.correlation_id, 128);
    }
    summary = absl::StrCat(" (", body.error,
                           body.error_description.empty() ? "" : ", ",
                           FirstLineWithoutSecrets(body.error_description, body.aadsts_code,
                                                   secrets),
                           ")");
  }

  const bool throttled = response.status == 429 || (has_body && IsTransientTokenError(body));
  const bool transient = throttled || (response.status >= 500 && response.status <= 599);
  if (throttled || response.status >= 500 || response.status < 400) {
    if (auto retry_after = response.Header("retry-after")) {
      details.retry_after = ParseRetryAfter(*retry_after, clock_->Now());
    }
    absl::Status error = common::MakeError(absl::StatusCode::kUnavailable,
                                           absl::StrCat("the token endpoint ",
                                                        UrlOrigin(token_url_), " answered HTTP ",
                                                        response.status, summary),
                                           details);
    return transient ? MarkTransient(std::move(error)) : error;
  }

  details.reason = std::string(common::reason::kCredentialsRejected);
  if (!has_body) {
    return common::MakeError(absl::StatusCode::kFailedPrecondition,
                     absl::StrCat("the token endpoint ", token_url_, " answered HTTP ",
                                  response.status,
                                  " without an OAuth error. Check AZURE_AUTHORITY_HOST and "
                                  "AZURE_TENANT_ID."),
                     details);
  }
  return common::MakeError(absl::StatusCode::kFailedPrecondition,
                   absl::StrCat("Microsoft Entra ID rejected the client credentials", summary,
                                ". ", FixHint(body.aadsts_code, authenticator_->kind())),
                   details);
}

}  // namespace rollcall::graph
