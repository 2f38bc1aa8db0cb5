#pragma once
// The ClientAuthenticator of a client certificate: a JWT client assertion signed with the
// certificate's RSA private key, fresh for every token request (FACTS §6):
//   header  PS256: {"alg":"PS256","typ":"JWT","x5t#S256":b64url(SHA-256(DER))}
//           RS256: {"alg":"RS256","typ":"JWT","x5t":b64url(SHA-1(DER))}
//   claims  {"aud":<token endpoint URL>,"iss":client_id,"sub":client_id,"jti":<random UUID>,
//            "nbf":now,"iat":now,"exp":now+10 min}   (now from the injected clock)
//   signed  PS256: RSASSA-PSS, SHA-256, MGF1-SHA-256, salt 32; RS256: RSASSA-PKCS1-v1_5 SHA-256.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "graph_client/client_credentials_grant.h"
#include "graph_client/token_credential.h"

namespace rollcall::graph {

// How long an assertion is valid.
inline constexpr absl::Duration kAssertionLifetime = absl::Minutes(10);

class CertificateAuthenticator final : public ClientAuthenticator {
 public:
  // Loads config.client_certificate_path (PEM: the certificate and its RSA private key, the key
  // decrypted with config.client_certificate_password when it is encrypted). Errors, all
  // FAILED_PRECONDITION CREDENTIALS_MISSING with a message naming AZURE_CLIENT_CERTIFICATE_PATH
  // (or _PASSWORD) and the path, never the passphrase: the file cannot be read or is larger
  // than 1 MiB; it holds no PEM certificate; no private key; an encrypted key without a
  // passphrase; a wrong passphrase; a key that is not RSA; a key that does not match the
  // certificate. `clock` is never null and outlives the authenticator.
  static absl::StatusOr<std::unique_ptr<CertificateAuthenticator>> Create(
      const TokenCredentialConfig& config, const common::Clock* clock);
  ~CertificateAuthenticator() override;

  // A new signed assertion. INTERNAL if OpenSSL fails to sign (not expected). Thread-safe.
  absl::StatusOr<ClientAuthentication> Authenticate() override;
  CredentialKind kind() const override { return CredentialKind::kCertificate; }

  // The assertion alone (what Authenticate sends), for tests.
  absl::StatusOr<std::string> MakeAssertion() const;

 private:
  struct Key;
  CertificateAuthenticator(std::unique_ptr<Key> key, std::string header_b64, std::string audience,
                           std::string client_id, AssertionAlgorithm algorithm,
                           const common::Clock* clock);

  const std::unique_ptr<Key> key_;
  const std::string header_b64_;  // base64url of the header JSON
  const std::string audience_;
  const std::string client_id_;
  const AssertionAlgorithm algorithm_;
  const common::Clock* const clock_;
};

}  // namespace rollcall::graph
