#pragma once
// App-only tokens for Microsoft Graph. A TokenCredential is what the Graph stub asks for a
// token; every credential is a CachingTokenCredential (caching_token_credential.h) — the token
// cache, single-flight refresh, refresh ahead of expiry (by a background thread, unless turned
// off), retry of transient failures, a readiness signal (CredentialObserver) — over a TokenGrant (token_grant.h): the client-credentials grant (client_credentials_grant.h)
// with the ClientAuthenticator of one way to authenticate (client_authenticators.h: a secret,
// a secret file, a federated token; certificate_authenticator.h: a certificate).

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "graph_client/graph_call_observer.h"
#include "graph_client/http_transport.h"
#include "graph_client/retry_policy.h"

namespace rollcall::graph {

struct AccessToken {
  std::string token;
  absl::Time expires_on;
  // When the issuer suggested refreshing it (the identity platform's refresh_in), if it did.
  std::optional<absl::Time> refresh_on = std::nullopt;
};

// What TokenCredential::Invalidate did with a token Graph refused (answered 401 to).
struct Invalidation {
  enum class Outcome {
    // It was the cached token and is dropped: the next GetToken fetches a new one.
    kDropped,
    // It is not (or no longer) the cached token: nothing was dropped, and the next GetToken
    // returns the token cached or being fetched since.
    kStale,
    // Graph refused the token fetched to replace a refused one, too: that token stays cached
    // and no new token is fetched before `backoff_until` (Invalidate does nothing until then).
    kBackingOff,
  };
  Outcome outcome = Outcome::kDropped;
  // With kBackingOff: when a refusal may fetch a new token again, and the length of this
  // back-off window.
  absl::Time backoff_until = absl::InfinitePast();
  absl::Duration backoff = absl::ZeroDuration();
};

class TokenCredential {
 public:
  virtual ~TokenCredential() = default;
  // Thread-safe. A cached token when one is fresh (with a background refresher: while it is
  // usable at all); otherwise one token request (with its retries) for all concurrent callers,
  // bounded by `deadline`. Errors carry ErrorDetails:
  //   FAILED_PRECONDITION  CREDENTIALS_REJECTED (the AADSTS code and what to fix in the message)
  //   UNAVAILABLE          TOKEN_ENDPOINT_ERROR (the endpoint failed or was unreachable; the
  //                        last attempt's error, with RetryInfo when it sent Retry-After)
  //   UNAVAILABLE          CREDENTIALS_MISSING (the federated token file or the client secret
  //                        file cannot be read now, is empty or too large; retried within the
  //                        deadline: the kubelet may be about to write it)
  //   DEADLINE_EXCEEDED    the deadline passed first
  virtual absl::StatusOr<AccessToken> GetToken(absl::Time deadline) = 0;
  // Thread-safe. Graph answered 401 to `token`. Forgets it if it is the cached one, so the
  // next GetToken fetches anew (kDropped), unless Graph keeps refusing tokens: once a token
  // fetched because of an Invalidate is refused too, the credential keeps it and fetches no
  // other for a back-off window (kBackingOff; CachingTokenCredential says how long). Never
  // blocks on a token request.
  virtual Invalidation Invalidate(const std::string& token) = 0;
  // Thread-safe. Graph accepted `token` (answered a request made with it with anything but a
  // 401, a 429 or a 5xx): ends any back-off, so that a later 401 fetches a new token at once.
  // Cheap when there is no back-off to end. A credential that never backs off ignores it.
  virtual void Accepted(const std::string& token) { (void)token; }
};

// Told whether the credential holds a usable token: what a readiness check reports (the
// service maps it to gRPC health SERVING / NOT_SERVING). Only a credential with a background
// refresher (TokenCredentialConfig::background_refresh) calls it, always on that refresher's
// thread, one call at a time, in order, never while the credential holds its lock (so it may
// call GetToken), and only on a change. Before the first call a credential counts as unusable.
//   true   the first token was obtained, or a token again after a false;
//   false  the cached token expired (it is no longer handed out) without a successful refresh,
//          or the identity platform refused the credential (CREDENTIALS_REJECTED: a refresh
//          failed for good; the old token, while still valid, keeps being served).
// Implementations must be thread-safe against the rest of the program and return promptly.
class CredentialObserver {
 public:
  virtual ~CredentialObserver() = default;
  virtual void OnTokenUsable(bool usable) = 0;
};

// How a certificate's client assertion is signed.
enum class AssertionAlgorithm {
  kPs256,  // RSASSA-PSS with SHA-256, header x5t#S256: what Entra ID documents today (FACTS §6)
  kRs256,  // RSASSA-PKCS1-v1_5 with SHA-256, header x5t (SHA-1): older tenants, the Azure SDKs
};

// Everything any credential is built from. One way to authenticate is used, the first that is
// configured in the order of the Azure SDKs' EnvironmentCredential, then workload identity:
//   1. a client secret: client_secret, or the file client_secret_file;
//   2. a client certificate: client_certificate_path;
//   3. a federated token (Kubernetes workload identity): federated_token_file.
struct TokenCredentialConfig {
  // AZURE_AUTHORITY_HOST; a trailing slash is optional.
  std::string authority_host = "https://login.microsoftonline.com/";
  std::string tenant_id;      // AZURE_TENANT_ID
  std::string client_id;      // AZURE_CLIENT_ID
  std::string client_secret;  // AZURE_CLIENT_SECRET; never logged, never put in an error
  // A file holding the client secret (a mounted Kubernetes Secret), re-read when it changes;
  // used when client_secret is empty. Trailing CR/LF are not part of the secret.
  std::string client_secret_file;
  // AZURE_CLIENT_CERTIFICATE_PATH: PEM with the certificate and its private key (RSA).
  std::string client_certificate_path;
  // AZURE_CLIENT_CERTIFICATE_PASSWORD: the private key's passphrase, when it is encrypted.
  std::string client_certificate_password;
  AssertionAlgorithm assertion_algorithm = AssertionAlgorithm::kPs256;
  // AZURE_FEDERATED_TOKEN_FILE: the projected service account token, read for every token
  // request (Kubernetes rotates it).
  std::string federated_token_file;
  // "{graph host}/.default", e.g. "https://graph.microsoft.com/.default".
  std::string scope = "https://graph.microsoft.com/.default";
  // Refresh this long before expires_on.
  absl::Duration refresh_margin = absl::Minutes(5);
  // How transient token-endpoint failures are retried when no usable token is cached (a
  // caller's fetch); its jitter also spreads the background refresher's backoff.
  RetryOptions retry;
  // A background thread fetches the first token as soon as the credential is made and then
  // refreshes each token ahead of its expiry, so that no GetToken waits while a token is
  // cached (caching_token_credential.h). Off: the caller that finds the token due refreshes it.
  bool background_refresh = true;
  // Told whether a usable token is held (readiness); may be null. Needs background_refresh.
  std::shared_ptr<CredentialObserver> credential_observer;
  // Told of every exchange with the token endpoint (endpoint "token"); may be null.
  std::shared_ptr<GraphCallObserver> observer;
};

// The credential `config` describes. FAILED_PRECONDITION CREDENTIALS_MISSING when the tenant,
// the client id or every way to authenticate is missing (naming every variable that could be
// set), when the secret file cannot be read or is empty, and when the certificate file is
// unusable (CertificateAuthenticator::Create lists why). `transport` and
// `clock` must outlive the credential; `clock` is the one deadlines are on. With
// background_refresh the first token request starts before this returns (on the refresher's
// thread; this does not wait for it).
absl::StatusOr<std::unique_ptr<TokenCredential>> MakeTokenCredential(
    const TokenCredentialConfig& config, std::shared_ptr<HttpTransport> transport,
    const common::Clock* clock);

}  // namespace rollcall::graph
