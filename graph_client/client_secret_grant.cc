#include "graph_client/client_secret_grant.h"

#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/error_details.h"
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

// What to change, by AADSTS code, for a rejected client-credentials request.
absl::string_view FixHint(absl::string_view aadsts_code) {
  if (aadsts_code == "AADSTS7000215" || aadsts_code == "AADSTS7000222" ||
      aadsts_code == "AADSTS70002" || aadsts_code == "AADSTS7000218") {
    return "Check AZURE_CLIENT_SECRET: use the secret's value, not its ID, and make sure it has "
           "not expired.";
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
  return "Check AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET.";
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

ClientSecretGrant::ClientSecretGrant(const TokenCredentialConfig& config,
                                     std::shared_ptr<HttpTransport> transport,
                                     const common::Clock* clock)
    : token_url_(absl::StrCat(StripTrailingSlashes(config.authority_host), "/",
                              PercentEncode(config.tenant_id), "/oauth2/v2.0/token")),
      form_body_(absl::StrCat("client_id=", PercentEncode(config.client_id),
                              "&scope=", PercentEncode(config.scope),
                              "&client_secret=", PercentEncode(config.client_secret),
                              "&grant_type=client_credentials")),
      client_secret_(config.client_secret),
      transport_(std::move(transport)),
      observer_(config.observer),
      clock_(clock) {}

absl::StatusOr<AccessToken> ClientSecretGrant::Request(absl::Time deadline) {
  HttpRequest request;
  request.method = "POST";
  request.url = token_url_;
  request.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                     {"Accept", "application/json"}};
  request.body = form_body_;
  request.deadline = deadline;
  const absl::Time sent = clock_->Now();  // lifetimes count from before the request

  absl::StatusOr<HttpResponse> response = transport_->Send(request);
  if (observer_ != nullptr) {
    GraphCallRecord record;
    record.endpoint = kTokenEndpoint;
    record.http_status = response.ok() ? response->status : 0;
    record.latency = clock_->Now() - sent;
    observer_->OnGraphCall(record);
  }
  if (!response.ok()) {
    const absl::StatusCode code = response.status().code() == absl::StatusCode::kDeadlineExceeded
                                      ? absl::StatusCode::kDeadlineExceeded
                                      : absl::StatusCode::kUnavailable;
    absl::Status error = common::MakeError(
        code,
        absl::StrCat("could not get an access token from ", UrlOrigin(token_url_), ": ",
                     response.status().message()),
        {std::string(common::reason::kTokenEndpointError), {}, std::nullopt});
    return IsRetryableBeforeResponse(response.status()) ? MarkTransient(std::move(error)) : error;
  }
  if (response->status != 200) return MapTokenError(*response);

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

absl::Status ClientSecretGrant::MapTokenError(const HttpResponse& response) const {
  common::ErrorDetails details;
  details.reason = std::string(common::reason::kTokenEndpointError);
  details.metadata[std::string(common::meta::kHttpStatus)] = absl::StrCat(response.status);
  TokenErrorBody body;
  const bool has_body = ParseTokenErrorBody(response.body, &body);
  std::string summary;  // "(invalid_client, AADSTS7000215: Invalid client secret ...)"
  if (has_body) {
    if (!body.aadsts_code.empty()) {
      details.metadata[std::string(common::meta::kAadstsCode)] = body.aadsts_code;
    }
    details.metadata[std::string(common::meta::kOauthError)] = body.error;
    if (!body.trace_id.empty()) details.metadata[std::string(kAadTraceId)] = body.trace_id;
    if (!body.correlation_id.empty()) {
      details.metadata[std::string(kAadCorrelationId)] = body.correlation_id;
    }
    summary = absl::StrCat(" (", body.error,
                           body.error_description.empty() ? "" : ", ",
                           FirstLineWithoutSecret(body.error_description), ")");
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
                                ". ", FixHint(body.aadsts_code)),
                   details);
}

// The first line of an error_description (the rest repeats trace and correlation IDs), with
// the client secret blanked out should the platform ever echo it.
std::string ClientSecretGrant::FirstLineWithoutSecret(absl::string_view description) const {
  std::string line(description.substr(0, description.find_first_of("\r\n")));
  if (!client_secret_.empty()) {
    absl::StrReplaceAll({{client_secret_, "[redacted]"},
                         {PercentEncode(client_secret_), "[redacted]"}},
                        &line);
  }
  return line;
}

}  // namespace rollcall::graph
