// ClientSecretCredential: the client-credentials grant with a client secret, with a cached
// token and single-flight refresh.

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "common/error_details.h"
#include "graph_client/retry_after.h"
#include "graph_client/token_credential.h"
#include "graph_client/token_response.h"
#include "graph_client/url_encoding.h"

namespace rollcall::graph {
namespace {

// ErrorInfo metadata keys for the identity platform's own request identifiers (what Microsoft
// support asks for).
constexpr absl::string_view kAadTraceId = "aad_trace_id";
constexpr absl::string_view kAadCorrelationId = "aad_correlation_id";

// A proactive refresh (of a token still valid) is tried at most this often, so an outage of
// the token endpoint costs one failed request per interval, not one per call
// (azure-identity's DEFAULT_TOKEN_REFRESH_RETRY_DELAY).
constexpr absl::Duration kProactiveRefreshInterval = absl::Seconds(30);

// A cached token is handed out while it has more than this left; less, and it could expire
// on its way to Graph.
constexpr absl::Duration kMinUsableLifetime = absl::Seconds(10);

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

class ClientSecretCredential final : public TokenCredential {
 public:
  ClientSecretCredential(const ClientSecretCredentialOptions& options,
                         std::shared_ptr<HttpTransport> transport, const common::Clock* clock)
      : token_url_(absl::StrCat(StripTrailingSlashes(options.authority_host), "/",
                                PercentEncode(options.tenant_id), "/oauth2/v2.0/token")),
        form_body_(absl::StrCat("client_id=", PercentEncode(options.client_id),
                                "&scope=", PercentEncode(options.scope),
                                "&client_secret=", PercentEncode(options.client_secret),
                                "&grant_type=client_credentials")),
        client_secret_(options.client_secret),
        refresh_margin_(options.refresh_margin),
        transport_(std::move(transport)),
        clock_(clock),
        retry_(options.retry, clock) {}

  absl::StatusOr<AccessToken> GetToken(absl::Time deadline) override {
    std::unique_lock<std::mutex> lock(mu_);
    bool proactive = false;  // the refresh below replaces a token that is still usable
    for (;;) {
      const absl::Time now = clock_->Now();
      if (cached_.has_value() && now < cached_->refresh_on) return cached_->token;
      // Due for refresh but still usable: one caller with time to spare refreshes (at most
      // once an interval) and nobody waits for it.
      proactive = cached_.has_value() && now < cached_->token.expires_on - kMinUsableLifetime;
      if (proactive && (fetching_ || now < next_proactive_refresh_ || now >= deadline)) {
        return cached_->token;
      }
      if (now >= deadline) {
        return common::MakeError(absl::StatusCode::kDeadlineExceeded,
                         "the deadline passed before an access token was available",
                         {std::string(common::reason::kTokenEndpointError), {}, std::nullopt});
      }
      if (!fetching_) break;

      // Another caller is fetching: wait for its result, or for our deadline. The deadline is
      // on clock_; the condition variable waits on the real clock, so wait as long as clock_
      // says is left.
      const uint64_t generation = generation_;
      const absl::Time wait_until = absl::Now() + (deadline - now);
      while (fetching_ && generation_ == generation) {
        if (!WaitUntil(lock, wait_until) && fetching_ && generation_ == generation) {
          return common::MakeError(absl::StatusCode::kDeadlineExceeded,
                           "the deadline passed while waiting for an access token",
                           {std::string(common::reason::kTokenEndpointError), {}, std::nullopt});
        }
      }
      // That fetch's result is ours too, unless it says nothing about this caller's chances
      // (it only ran out of its own caller's time, or was a one-attempt proactive refresh):
      // then look again (this caller may have time left).
      if (generation_ != generation && last_result_shared_) return last_result_;
    }

    fetching_ = true;
    std::optional<AccessToken> fallback;
    if (proactive) {
      next_proactive_refresh_ = clock_->Now() + kProactiveRefreshInterval;
      fallback = cached_->token;
    }
    lock.unlock();
    CachedToken fetched;
    absl::StatusOr<AccessToken> result = Fetch(deadline, /*retry=*/!proactive, &fetched);
    lock.lock();
    fetching_ = false;
    ++generation_;
    if (result.ok()) cached_ = std::move(fetched);
    last_result_ = result;
    last_result_shared_ = result.ok() || (!proactive && result.status().code() !=
                                                            absl::StatusCode::kDeadlineExceeded);
    fetched_.notify_all();
    if (!result.ok() && fallback.has_value() && cached_.has_value() &&
        cached_->token.token == fallback->token &&
        clock_->Now() < fallback->expires_on - kMinUsableLifetime) {
      // The proactive refresh failed (FACTS §7, as MSAL and azure-identity do): keep serving
      // the old token, which Graph still accepts, until it nearly expires.
      return *fallback;
    }
    return result;
  }

  void Invalidate(const std::string& token) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (cached_.has_value() && cached_->token.token == token) cached_.reset();
  }

 private:
  struct CachedToken {
    AccessToken token;
    absl::Time refresh_on;  // fresh while now < refresh_on
  };

  // Waits on fetched_ until notified or `until` (real time); false when `until` passed.
  bool WaitUntil(std::unique_lock<std::mutex>& lock, absl::Time until) {
    if (until == absl::InfiniteFuture()) {
      fetched_.wait(lock);
      return true;
    }
    return fetched_.wait_until(lock, absl::ToChronoTime(until)) == std::cv_status::no_timeout;
  }

  // A token from the endpoint. With `retry`, transient failures are tried again under
  // retry_ within `deadline`, and the last attempt's error is returned. On success fills *out.
  absl::StatusOr<AccessToken> Fetch(absl::Time deadline, bool retry, CachedToken* out) {
    for (int attempt = 1;; ++attempt) {
      bool transient = false;
      absl::StatusOr<AccessToken> result = FetchOnce(deadline, out, &transient);
      if (result.ok() || !transient || !retry) return result;
      if (!retry_.WaitBeforeRetry(attempt, common::GetErrorDetails(result.status()).retry_after,
                                  deadline)) {
        return result;
      }
    }
  }

  // One token request. On success fills *out (token and when to refresh it). On failure sets
  // *transient when trying again later may succeed.
  absl::StatusOr<AccessToken> FetchOnce(absl::Time deadline, CachedToken* out, bool* transient) {
    *transient = false;
    HttpRequest request;
    request.method = "POST";
    request.url = token_url_;
    request.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                       {"Accept", "application/json"}};
    request.body = form_body_;
    request.deadline = deadline;
    const absl::Time sent = clock_->Now();  // lifetimes count from before the request

    absl::StatusOr<HttpResponse> response = transport_->Send(request);
    if (!response.ok()) {
      *transient = IsRetryableBeforeResponse(response.status());
      const absl::StatusCode code = response.status().code() == absl::StatusCode::kDeadlineExceeded
                                        ? absl::StatusCode::kDeadlineExceeded
                                        : absl::StatusCode::kUnavailable;
      return common::MakeError(code,
                       absl::StrCat("could not get an access token from ",
                                    UrlOrigin(token_url_), ": ", response.status().message()),
                       {std::string(common::reason::kTokenEndpointError), {}, std::nullopt});
    }
    if (response->status != 200) return MapTokenError(*response, transient);

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
    const absl::Duration lifetime = parsed->expires_in;
    // Refresh `refresh_margin` early, but never in the first half of a short lifetime, so a
    // 60 s token is not stale as soon as it arrives; sooner if the platform says so.
    absl::Time refresh_on = sent + lifetime - std::min(refresh_margin_, lifetime / 2);
    if (parsed->refresh_in.has_value()) {
      refresh_on = std::min(refresh_on, sent + *parsed->refresh_in);
    }
    out->token = AccessToken{std::move(parsed->access_token), sent + lifetime};
    out->refresh_on = refresh_on;
    return out->token;
  }

  // A non-200 answer of the token endpoint as a status with ErrorDetails. Sets *transient for
  // throttling (429, throttling AADSTS codes), temporarily_unavailable and 5xx.
  absl::Status MapTokenError(const HttpResponse& response, bool* transient) const {
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
    *transient = throttled || (response.status >= 500 && response.status <= 599);
    if (throttled || response.status >= 500 || response.status < 400) {
      if (auto retry_after = response.Header("retry-after")) {
        details.retry_after = ParseRetryAfter(*retry_after, clock_->Now());
      }
      return common::MakeError(absl::StatusCode::kUnavailable,
                       absl::StrCat("the token endpoint ", UrlOrigin(token_url_),
                                    " answered HTTP ", response.status, summary),
                       details);
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
  std::string FirstLineWithoutSecret(absl::string_view description) const {
    std::string line(description.substr(0, description.find_first_of("\r\n")));
    if (!client_secret_.empty()) {
      absl::StrReplaceAll({{client_secret_, "[redacted]"},
                           {PercentEncode(client_secret_), "[redacted]"}},
                          &line);
    }
    return line;
  }

  const std::string token_url_;
  const std::string form_body_;  // holds the secret: never logged, never in a message
  const std::string client_secret_;
  const absl::Duration refresh_margin_;
  const std::shared_ptr<HttpTransport> transport_;
  const common::Clock* const clock_;
  const RetryPolicy retry_;

  // std::mutex rather than absl::Mutex: Debian's Abseil is not built for ThreadSanitizer, which
  // would not see absl::Mutex's ordering; the standard one it does.
  std::mutex mu_;
  std::condition_variable fetched_;  // notified when a fetch completes
  // Guarded by mu_:
  std::optional<CachedToken> cached_;
  bool fetching_ = false;
  uint64_t generation_ = 0;  // completed fetches
  absl::StatusOr<AccessToken> last_result_;  // of the last completed fetch
  // Whether waiters on that fetch take last_result_ as their own.
  bool last_result_shared_ = false;
  // No proactive refresh starts before this (one per kProactiveRefreshInterval).
  absl::Time next_proactive_refresh_ = absl::InfinitePast();
};

}  // namespace

absl::StatusOr<std::unique_ptr<TokenCredential>> MakeClientSecretCredential(
    const ClientSecretCredentialOptions& options, std::shared_ptr<HttpTransport> transport,
    const common::Clock* clock) {
  std::vector<absl::string_view> missing;
  if (options.tenant_id.empty()) missing.push_back("AZURE_TENANT_ID");
  if (options.client_id.empty()) missing.push_back("AZURE_CLIENT_ID");
  if (options.client_secret.empty()) missing.push_back("AZURE_CLIENT_SECRET");
  if (!missing.empty()) {
    return common::MakeError(absl::StatusCode::kFailedPrecondition,
                     absl::StrCat("client-secret credentials are incomplete: set ",
                                  absl::StrJoin(missing, ", ")),
                     {std::string(common::reason::kCredentialsMissing), {}, std::nullopt});
  }
  if (transport == nullptr || clock == nullptr) {
    return absl::InvalidArgumentError("MakeClientSecretCredential needs a transport and a clock");
  }
  return std::unique_ptr<TokenCredential>(
      std::make_unique<ClientSecretCredential>(options, std::move(transport), clock));
}

}  // namespace rollcall::graph
