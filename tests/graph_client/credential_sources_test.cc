// The certificate, federated token and secret file credentials (MakeTokenCredential over a
// scripted transport and a hand-moved clock), with keys and certificates made at test time.

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <stdio.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "common/error_details.h"
#include "gmock/gmock.h"
#include "graph_client/certificate_authenticator.h"
#include "graph_client/client_authenticators.h"
#include "graph_client/token_credential.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "tests/graph_client/test_certificates.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/fake_http_transport.h"
#include "tests/testing/status_details.h"

namespace rollcall::graph {
namespace {

using ::rollcall::testing::FakeClock;
using ::rollcall::testing::FakeHttpTransport;
using ::rollcall::testing::Message;
using ::rollcall::testing::Meta;
using ::rollcall::testing::Reason;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kTokenUrl[] =
    "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token";
constexpr char kClientId[] = "00001111-aaaa-2222-bbbb-3333cccc4444";
constexpr char kPassphrase[] = "pa55-phrase!";
constexpr char kAssertionType[] =
    "client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer";

std::string TokenBody(const std::string& token) {
  return R"({"token_type":"Bearer","expires_in":3600,"access_token":")" + token + "\"}";
}

// The form's fields by name (values still encoded).
std::string Field(const std::string& body, const std::string& name) {
  for (absl::string_view field : absl::StrSplit(body, '&')) {
    if (absl::StartsWith(field, name + "=")) return std::string(field.substr(name.size() + 1));
  }
  return "";
}

std::string Unbase64Url(absl::string_view text) {
  std::string out;
  EXPECT_TRUE(absl::WebSafeBase64Unescape(text, &out)) << text;
  return out;
}

struct Jwt {
  rapidjson::Document header, claims;
  std::string signing_input, signature;
};
Jwt ParseJwt(const std::string& jwt) {
  std::vector<std::string> parts = absl::StrSplit(jwt, '.');
  Jwt out;
  EXPECT_EQ(parts.size(), 3u);
  if (parts.size() != 3) return out;
  EXPECT_EQ(parts[0].find('='), std::string::npos);  // no padding
  out.header.Parse(Unbase64Url(parts[0]).c_str());
  out.claims.Parse(Unbase64Url(parts[1]).c_str());
  out.signing_input = parts[0] + "." + parts[1];
  out.signature = Unbase64Url(parts[2]);
  return out;
}

bool Verify(const Jwt& jwt, X509* certificate, bool pss) {
  EVP_PKEY* key = X509_get0_pubkey(certificate);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_PKEY_CTX* pkey_ctx = nullptr;
  if (EVP_DigestVerifyInit(ctx.get(), &pkey_ctx, EVP_sha256(), nullptr, key) != 1) return false;
  if (pss && (EVP_PKEY_CTX_set_rsa_padding(pkey_ctx, RSA_PKCS1_PSS_PADDING) != 1 ||
              EVP_PKEY_CTX_set_rsa_pss_saltlen(pkey_ctx, 32) != 1)) {
    return false;
  }
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(jwt.signature.data()),
                          jwt.signature.size(),
                          reinterpret_cast<const unsigned char*>(jwt.signing_input.data()),
                          jwt.signing_input.size()) == 1;
}

std::string Base64UrlDigest(const EVP_MD* md, const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), out, &length, md, nullptr);
  return absl::WebSafeBase64Escape(
      absl::string_view(reinterpret_cast<const char*>(out), length));
}

// One RSA key and certificate for the whole suite (key generation is slow).
struct Material {
  testing::PkeyPtr key = testing::MakeRsaKey();
  testing::X509Ptr certificate = testing::MakeCertificate(key.get());
};
const Material& SharedMaterial() {
  static const Material* material = new Material();
  return *material;
}

class CredentialSourcesTest : public ::testing::Test {
 protected:
  TokenCredentialConfig Base() const {
    TokenCredentialConfig config;
    config.tenant_id = "contoso.onmicrosoft.com";
    config.client_id = kClientId;
    config.retry.max_attempts = 1;
    config.background_refresh = false;  // every token request is one the test makes
    return config;
  }
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  // A PEM file of the shared certificate with `key_pem` after it.
  std::string WriteCertificateFile(const std::string& key_pem) {
    const std::string path = Path("client.pem");
    testing::WriteFile(path,
                       testing::CertificatePem(SharedMaterial().certificate.get()) + key_pem);
    return path;
  }
  TokenCredentialConfig CertificateConfig(AssertionAlgorithm algorithm) {
    TokenCredentialConfig config = Base();
    config.client_certificate_path =
        WriteCertificateFile(testing::PrivateKeyPem(SharedMaterial().key.get()));
    config.assertion_algorithm = algorithm;
    return config;
  }

  std::unique_ptr<TokenCredential> Make(const TokenCredentialConfig& config) {
    auto credential = MakeTokenCredential(config, transport_, &clock_);
    EXPECT_TRUE(credential.ok()) << credential.status();
    return credential.ok() ? *std::move(credential) : nullptr;
  }
  // Gets a token (answered with `token`) and returns the request's form body; then forgets the
  // token so that the next call makes another request: Graph took it, then refused it (a token
  // refused without being taken first would soon be kept: the credential's back-off).
  std::string FetchBody(TokenCredential& credential, const std::string& token = "t") {
    transport_->Enqueue(FakeHttpTransport::Json(200, TokenBody(token)));
    auto got = credential.GetToken(clock_.Now() + absl::Minutes(1));
    EXPECT_TRUE(got.ok()) << got.status();
    if (got.ok()) {
      credential.Accepted(got->token);
      EXPECT_EQ(credential.Invalidate(got->token).outcome, Invalidation::Outcome::kDropped);
    }
    return transport_->requests().back().body;
  }
  static void ExpectNotIn(const absl::Status& status, const std::string& secret) {
    EXPECT_THAT(Message(status), Not(HasSubstr(secret)));
    for (const auto& [key, value] : common::GetErrorDetails(status).metadata) {
      EXPECT_THAT(value, Not(HasSubstr(secret))) << key;
    }
  }

  const std::string dir_ = testing::MakeTempDir();
  FakeClock clock_;
  std::shared_ptr<FakeHttpTransport> transport_ = std::make_shared<FakeHttpTransport>();
};

// ---------------------------------------------------------------------------------------------
// Certificate.

TEST_F(CredentialSourcesTest, Ps256AssertionVerifiesWithTheCertificate) {
  auto credential = Make(CertificateConfig(AssertionAlgorithm::kPs256));
  const std::string body = FetchBody(*credential);
  EXPECT_EQ(transport_->requests().back().url, kTokenUrl);
  const std::vector<std::string> fields = absl::StrSplit(body, '&');
  ASSERT_EQ(fields.size(), 5u);
  EXPECT_EQ(fields[0], std::string("client_id=") + kClientId);
  EXPECT_EQ(fields[2], kAssertionType);
  EXPECT_EQ(fields[4], "grant_type=client_credentials");
  EXPECT_EQ(Field(body, "client_secret"), "");

  const Jwt jwt = ParseJwt(Field(body, "client_assertion"));
  ASSERT_TRUE(jwt.header.IsObject());
  EXPECT_STREQ(jwt.header["alg"].GetString(), "PS256");
  EXPECT_STREQ(jwt.header["typ"].GetString(), "JWT");
  EXPECT_EQ(jwt.header["x5t#S256"].GetString(),
            Base64UrlDigest(EVP_sha256(),
                            testing::CertificateDer(SharedMaterial().certificate.get())));
  EXPECT_FALSE(jwt.header.HasMember("x5t"));
  EXPECT_TRUE(Verify(jwt, SharedMaterial().certificate.get(), /*pss=*/true));
  EXPECT_FALSE(Verify(jwt, SharedMaterial().certificate.get(), /*pss=*/false));

  const std::int64_t now = absl::ToUnixSeconds(clock_.Now());
  ASSERT_TRUE(jwt.claims.IsObject());
  EXPECT_STREQ(jwt.claims["aud"].GetString(), kTokenUrl);
  EXPECT_STREQ(jwt.claims["iss"].GetString(), kClientId);
  EXPECT_STREQ(jwt.claims["sub"].GetString(), kClientId);
  EXPECT_EQ(jwt.claims["nbf"].GetInt64(), now);
  EXPECT_EQ(jwt.claims["iat"].GetInt64(), now);
  EXPECT_EQ(jwt.claims["exp"].GetInt64(), now + 600);
  EXPECT_EQ(std::string(jwt.claims["jti"].GetString()).size(), 36u);
}

TEST_F(CredentialSourcesTest, Rs256AssertionVerifiesWithTheCertificate) {
  auto credential = Make(CertificateConfig(AssertionAlgorithm::kRs256));
  const Jwt jwt = ParseJwt(Field(FetchBody(*credential), "client_assertion"));
  ASSERT_TRUE(jwt.header.IsObject());
  EXPECT_STREQ(jwt.header["alg"].GetString(), "RS256");
  EXPECT_EQ(jwt.header["x5t"].GetString(),
            Base64UrlDigest(EVP_sha1(),
                            testing::CertificateDer(SharedMaterial().certificate.get())));
  EXPECT_FALSE(jwt.header.HasMember("x5t#S256"));
  EXPECT_TRUE(Verify(jwt, SharedMaterial().certificate.get(), /*pss=*/false));
}

TEST_F(CredentialSourcesTest, EveryRequestHasAFreshAssertion) {
  auto credential = Make(CertificateConfig(AssertionAlgorithm::kPs256));
  std::set<std::string> jtis;
  std::int64_t first_iat = 0;
  for (int i = 0; i < 5; ++i) {
    const Jwt jwt = ParseJwt(Field(FetchBody(*credential), "client_assertion"));
    ASSERT_TRUE(jwt.claims.IsObject());
    jtis.insert(jwt.claims["jti"].GetString());
    if (i == 0) first_iat = jwt.claims["iat"].GetInt64();
    if (i == 4) EXPECT_EQ(jwt.claims["iat"].GetInt64(), first_iat + 4 * 90);
    clock_.Advance(absl::Seconds(90));
  }
  EXPECT_EQ(jtis.size(), 5u);
}

TEST_F(CredentialSourcesTest, TheAudienceFollowsTheAuthorityHost) {
  auto config = CertificateConfig(AssertionAlgorithm::kPs256);
  config.authority_host = "https://login.microsoftonline.us";
  auto credential = Make(config);
  const Jwt jwt = ParseJwt(Field(FetchBody(*credential), "client_assertion"));
  EXPECT_STREQ(jwt.claims["aud"].GetString(),
               "https://login.microsoftonline.us/contoso.onmicrosoft.com/oauth2/v2.0/token");
}

TEST_F(CredentialSourcesTest, AnEncryptedKeyIsReadWithThePassphrase) {
  auto config = Base();
  config.client_certificate_path =
      WriteCertificateFile(testing::PrivateKeyPem(SharedMaterial().key.get(), kPassphrase));
  config.client_certificate_password = kPassphrase;
  auto credential = Make(config);
  const Jwt jwt = ParseJwt(Field(FetchBody(*credential), "client_assertion"));
  EXPECT_TRUE(Verify(jwt, SharedMaterial().certificate.get(), /*pss=*/true));
}

absl::Status CreateError(const TokenCredentialConfig& config, FakeClock* clock) {
  return CertificateAuthenticator::Create(config, clock).status();
}

TEST_F(CredentialSourcesTest, CertificateProblemsAreReportedAtConstruction) {
  const std::string key_pem = testing::PrivateKeyPem(SharedMaterial().key.get());
  const std::string encrypted = testing::PrivateKeyPem(SharedMaterial().key.get(), kPassphrase);
  const std::string cert_pem = testing::CertificatePem(SharedMaterial().certificate.get());
  struct Case {
    std::string name, contents, password, expected;
  };
  const testing::PkeyPtr other_key = testing::MakeRsaKey();
  const testing::PkeyPtr ec_key = testing::MakeEcKey();
  const testing::X509Ptr ec_certificate = testing::MakeCertificate(ec_key.get());
  for (const Case& c : std::vector<Case>{
           {"not PEM", "hello", "", "no PEM certificate"},
           {"key only", key_pem, "", "no PEM certificate"},
           {"no key", cert_pem, "", "no private key"},
           {"no passphrase", cert_pem + encrypted, "", "encrypted: set AZURE_CLIENT_CERTIFICATE_PASSWORD"},
           {"wrong passphrase", cert_pem + encrypted, "wrong-words",
            "check AZURE_CLIENT_CERTIFICATE_PASSWORD"},
           {"mismatched key", cert_pem + testing::PrivateKeyPem(other_key.get()), "",
            "does not belong to its certificate"},
           {"not RSA", testing::CertificatePem(ec_certificate.get()) +
                           testing::PrivateKeyPem(ec_key.get()), "", "not an RSA key"},
       }) {
    SCOPED_TRACE(c.name);
    auto config = Base();
    config.client_certificate_path = Path("bad.pem");
    testing::WriteFile(config.client_certificate_path, c.contents);
    config.client_certificate_password = c.password;
    auto credential = MakeTokenCredential(config, transport_, &clock_);
    ASSERT_FALSE(credential.ok());
    EXPECT_EQ(credential.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(Reason(credential.status()), "CREDENTIALS_MISSING");
    EXPECT_THAT(Message(credential.status()), HasSubstr(c.expected));
    EXPECT_THAT(Message(credential.status()), HasSubstr("AZURE_CLIENT_CERTIFICATE_"));
    if (!c.password.empty()) ExpectNotIn(credential.status(), c.password);
    ExpectNotIn(credential.status(), kPassphrase);
  }
  auto config = Base();
  config.client_certificate_path = Path("missing.pem");
  absl::Status status = CreateError(config, &clock_);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Message(status), HasSubstr("AZURE_CLIENT_CERTIFICATE_PATH"));
  EXPECT_THAT(Message(status), HasSubstr("missing.pem"));
  EXPECT_EQ(transport_->request_count(), 0u);
}

TEST_F(CredentialSourcesTest, RejectedAssertionsSayWhatToFixWithoutTheAssertion) {
  struct Case {
    int code;
    const char* hint;
  };
  for (const Case& c : {Case{700027, "is the certificate (its public part) uploaded"},
                        Case{500133, "check the clock"},
                        Case{50013, "AZURE_CLIENT_CERTIFICATE_PATH"},
                        Case{700016, "AZURE_CLIENT_ID"},
                        Case{50034, "AZURE_CLIENT_CERTIFICATE_PATH"}}) {
    SCOPED_TRACE(c.code);
    auto credential = Make(CertificateConfig(AssertionAlgorithm::kPs256));
    // The endpoint echoes whatever it was sent; the grant must not.
    transport_->SetHandler([&](const HttpRequest& request) -> absl::StatusOr<HttpResponse> {
      const std::string assertion = Field(request.body, "client_assertion");
      return FakeHttpTransport::Json(
          401, R"({"error":"invalid_client","error_description":"AADSTS)" +
                   std::to_string(c.code) + ": got " + assertion + " and " + request.body +
                   R"(","error_codes":[)" + std::to_string(c.code) + "]}");
    });
    absl::Status status = credential->GetToken(clock_.Now() + absl::Minutes(1)).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(Reason(status), "CREDENTIALS_REJECTED");
    EXPECT_THAT(Message(status), HasSubstr(c.hint));
    const std::string sent = Field(transport_->requests().back().body, "client_assertion");
    ASSERT_FALSE(sent.empty());
    ExpectNotIn(status, sent);
    ExpectNotIn(status, std::vector<std::string>(absl::StrSplit(sent, '.'))[2]);
    EXPECT_THAT(Message(status), HasSubstr("[the description is withheld: it repeated a credential]"));
  }
}

// ---------------------------------------------------------------------------------------------
// Federated token (workload identity).

TEST_F(CredentialSourcesTest, TheFederatedTokenFileIsReadForEveryRequest) {
  auto config = Base();
  config.federated_token_file = Path("azure-identity-token");
  testing::WriteFile(config.federated_token_file, "eyJfirst.token.one\n");
  auto credential = Make(config);
  std::string body = FetchBody(*credential);
  EXPECT_THAT(body, HasSubstr(kAssertionType));
  EXPECT_EQ(Field(body, "client_assertion"), "eyJfirst.token.one");  // trailing newline trimmed

  testing::WriteFile(config.federated_token_file, "  eyJsecond.token.two \r\n");
  body = FetchBody(*credential);
  EXPECT_EQ(Field(body, "client_assertion"), "eyJsecond.token.two");
}

TEST_F(CredentialSourcesTest, AMissingEmptyOrHugeFederatedTokenIsRetryableAndNamed) {
  auto config = Base();
  config.federated_token_file = Path("not-yet-written");
  auto credential = Make(config);  // built even before the kubelet writes the file
  ASSERT_NE(credential, nullptr);
  for (const std::string& contents : {std::string("<missing>"), std::string(" \n"),
                                      std::string(kMaxCredentialFileBytes + 1, 'a')}) {
    SCOPED_TRACE(contents.size());
    if (contents != "<missing>") testing::WriteFile(config.federated_token_file, contents);
    absl::Status status = credential->GetToken(clock_.Now() + absl::Minutes(1)).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(Reason(status), "CREDENTIALS_MISSING");
    EXPECT_THAT(Message(status), HasSubstr("AZURE_FEDERATED_TOKEN_FILE"));
    EXPECT_THAT(Message(status), HasSubstr("not-yet-written"));
    EXPECT_THAT(Message(status), Not(HasSubstr("aaaa")));
  }
  EXPECT_EQ(transport_->request_count(), 0u);
}

TEST_F(CredentialSourcesTest, AnEchoedFederatedTokenIsRedacted) {
  auto config = Base();
  config.federated_token_file = Path("token");
  testing::WriteFile(config.federated_token_file, "eyJhbGciOi.eyJzdWIiOiJzeXN0ZW0.c2lnbmF0dXJl\n");
  auto credential = Make(config);
  transport_->Enqueue(FakeHttpTransport::Json(
      400, R"({"error":"invalid_request","error_description":"AADSTS700211: No matching )"
           R"(federated identity record found for presented assertion )"
           R"(eyJhbGciOi.eyJzdWIiOiJzeXN0ZW0.c2lnbmF0dXJl issuer","error_codes":[700211]})"));
  absl::Status status = credential->GetToken(clock_.Now() + absl::Minutes(1)).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Meta(status, "aadsts_code"), "AADSTS700211");
  EXPECT_THAT(Message(status), HasSubstr("No federated identity credential matches: check the "
                                         "issuer and subject"));
  ExpectNotIn(status, "eyJhbGciOi.eyJzdWIiOiJzeXN0ZW0.c2lnbmF0dXJl");
  EXPECT_THAT(Message(status), HasSubstr("[the description is withheld: it repeated a credential]"));
}

// ---------------------------------------------------------------------------------------------
// Client secret file.

TEST_F(CredentialSourcesTest, TheSecretFileIsTrimmedAndReReadWhenItChanges) {
  auto config = Base();
  config.client_secret_file = Path("client-secret");
  testing::WriteFile(config.client_secret_file, "first~secret\r\n");
  auto credential = Make(config);
  EXPECT_EQ(Field(FetchBody(*credential), "client_secret"), "first~secret");
  EXPECT_EQ(Field(FetchBody(*credential), "client_secret"), "first~secret");

  // Rewritten in place, another size.
  testing::WriteFile(config.client_secret_file, "second-secret-longer\n");
  EXPECT_EQ(Field(FetchBody(*credential), "client_secret"), "second-secret-longer");

  // Replaced as Kubernetes does (a new file renamed over the old: a new inode), same size.
  const std::string staged = Path("staged");
  testing::WriteFile(staged, "third--secret-longer");
  ASSERT_EQ(::rename(staged.c_str(), config.client_secret_file.c_str()), 0);
  EXPECT_EQ(Field(FetchBody(*credential), "client_secret"), "third--secret-longer");
}

TEST_F(CredentialSourcesTest, SecretFileProblems) {
  auto config = Base();
  config.client_secret_file = Path("absent");
  auto made = MakeTokenCredential(config, transport_, &clock_);
  ASSERT_EQ(made.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Reason(made.status()), "CREDENTIALS_MISSING");
  EXPECT_THAT(Message(made.status()), HasSubstr("client secret file"));
  EXPECT_THAT(Message(made.status()), HasSubstr("absent"));

  testing::WriteFile(config.client_secret_file, "\r\n");
  made = MakeTokenCredential(config, transport_, &clock_);
  ASSERT_EQ(made.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Message(made.status()), HasSubstr("is empty"));

  // Removed after start: retryable, and the old secret is not sent.
  testing::WriteFile(config.client_secret_file, "rotating-secret");
  auto credential = Make(config);
  ASSERT_EQ(::remove(config.client_secret_file.c_str()), 0);
  absl::Status status = credential->GetToken(clock_.Now() + absl::Minutes(1)).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Reason(status), "CREDENTIALS_MISSING");
  EXPECT_EQ(transport_->request_count(), 0u);
  ExpectNotIn(status, "rotating-secret");
}

TEST_F(CredentialSourcesTest, AnEchoedFileSecretIsRedacted) {
  auto config = Base();
  config.client_secret_file = Path("client-secret");
  testing::WriteFile(config.client_secret_file, "file~secret&value\n");
  auto credential = Make(config);
  transport_->Enqueue(FakeHttpTransport::Json(
      401, R"({"error":"invalid_client","error_description":"AADSTS7000215: bad )"
           R"(file~secret&value and file~secret%26value","error_codes":[7000215]})"));
  absl::Status status = credential->GetToken(clock_.Now() + absl::Minutes(1)).status();
  EXPECT_EQ(Reason(status), "CREDENTIALS_REJECTED");
  EXPECT_THAT(Message(status), HasSubstr("[the description is withheld: it repeated a credential]"));
  ExpectNotIn(status, "file~secret");
}

TEST_F(CredentialSourcesTest, AnUnusableAccessTokenIsRefusedAndNotCached) {
  auto config = Base();
  config.client_secret = "s";
  auto credential = Make(config);
  transport_->Enqueue(FakeHttpTransport::Json(200, TokenBody("eyJ\\r\\nX-Injected: 1")));
  absl::Status status = credential->GetToken(clock_.Now() + absl::Minutes(1)).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Reason(status), "TOKEN_ENDPOINT_ERROR");
  EXPECT_THAT(Message(status), Not(HasSubstr("X-Injected")));
  transport_->Enqueue(FakeHttpTransport::Json(200, TokenBody("good")));
  auto got = credential->GetToken(clock_.Now() + absl::Minutes(1));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->token, "good");
  EXPECT_EQ(transport_->request_count(), 2u);
}

// ---------------------------------------------------------------------------------------------
// The choice.

TEST_F(CredentialSourcesTest, TheFirstConfiguredWayIsUsed) {
  auto config = CertificateConfig(AssertionAlgorithm::kPs256);
  config.federated_token_file = Path("fed");
  testing::WriteFile(config.federated_token_file, "eyJfed");
  config.client_secret_file = Path("secret-file");
  testing::WriteFile(config.client_secret_file, "from-file");
  config.client_secret = "from-env";
  EXPECT_EQ(Field(FetchBody(*Make(config)), "client_secret"), "from-env");
  config.client_secret.clear();
  EXPECT_EQ(Field(FetchBody(*Make(config)), "client_secret"), "from-file");
  config.client_secret_file.clear();
  const Jwt jwt = ParseJwt(Field(FetchBody(*Make(config)), "client_assertion"));
  EXPECT_TRUE(jwt.header.IsObject() && jwt.header.HasMember("x5t#S256"));
  config.client_certificate_path.clear();
  EXPECT_EQ(Field(FetchBody(*Make(config)), "client_assertion"), "eyJfed");
}

TEST_F(CredentialSourcesTest, NoCredentialNamesEveryVariable) {
  auto made = MakeTokenCredential(Base(), transport_, &clock_);
  ASSERT_EQ(made.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Reason(made.status()), "CREDENTIALS_MISSING");
  for (const char* name : {"AZURE_CLIENT_SECRET", "client secret file",
                           "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_FEDERATED_TOKEN_FILE"}) {
    EXPECT_THAT(Message(made.status()), HasSubstr(name));
  }
  EXPECT_THAT(Message(made.status()), Not(HasSubstr("AZURE_TENANT_ID")));
}

}  // namespace
}  // namespace rollcall::graph
