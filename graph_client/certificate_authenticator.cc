#include "graph_client/certificate_authenticator.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/error_details.h"
#include "graph_client/client_authenticators.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace rollcall::graph {
namespace {

constexpr absl::string_view kPathVariable = "AZURE_CLIENT_CERTIFICATE_PATH";
constexpr absl::string_view kPasswordVariable = "AZURE_CLIENT_CERTIFICATE_PASSWORD";
constexpr std::size_t kMaxPemBytes = 1024 * 1024;

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Free {
  void operator()(X509* x509) const { X509_free(x509); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* pkey) const { EVP_PKEY_free(pkey); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

absl::Status Missing(std::string message) {
  ERR_clear_error();  // OpenSSL's queue says nothing a caller needs; don't leave it behind
  return common::MakeError(absl::StatusCode::kFailedPrecondition, std::move(message),
                           {std::string(common::reason::kCredentialsMissing), {}, std::nullopt});
}

BioPtr MemoryBio(const std::string& pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// Hands OpenSSL the passphrase; fails (no passphrase) when none is configured.
int PassphraseCallback(char* buffer, int size, int /*rwflag*/, void* user) {
  const std::string& passphrase = *static_cast<const std::string*>(user);
  if (passphrase.empty() || passphrase.size() > static_cast<std::size_t>(size)) return -1;
  std::memcpy(buffer, passphrase.data(), passphrase.size());
  return static_cast<int>(passphrase.size());
}

std::string Base64Url(absl::string_view bytes) { return absl::WebSafeBase64Escape(bytes); }

std::string Digest(const EVP_MD* md, const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), out, &length, md, nullptr);
  return std::string(reinterpret_cast<const char*>(out), length);
}

std::string HeaderJson(AssertionAlgorithm algorithm, const std::string& der) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartObject();
  writer.Key("alg");
  writer.String(algorithm == AssertionAlgorithm::kPs256 ? "PS256" : "RS256");
  writer.Key("typ");
  writer.String("JWT");
  if (algorithm == AssertionAlgorithm::kPs256) {
    writer.Key("x5t#S256");
    writer.String(Base64Url(Digest(EVP_sha256(), der)).c_str());
  } else {
    writer.Key("x5t");
    writer.String(Base64Url(Digest(EVP_sha1(), der)).c_str());
  }
  writer.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

// A random (version 4) UUID.
absl::StatusOr<std::string> RandomUuid() {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof(b)) != 1) {
    ERR_clear_error();
    return absl::InternalError("no random bytes for the assertion's jti");
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
  return absl::StrFormat("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                         b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
                         b[12], b[13], b[14], b[15]);
}

}  // namespace

struct CertificateAuthenticator::Key {
  PkeyPtr pkey;
};

absl::StatusOr<std::unique_ptr<CertificateAuthenticator>> CertificateAuthenticator::Create(
    const TokenCredentialConfig& config, const common::Clock* clock) {
  const std::string& path = config.client_certificate_path;
  absl::StatusOr<std::string> pem = ReadCredentialFile(kPathVariable, path, kMaxPemBytes);
  if (!pem.ok()) return Missing(std::string(pem.status().message()));
  const std::string where = absl::StrCat(kPathVariable, " (", path, ")");

  BioPtr cert_bio = MemoryBio(*pem);
  X509Ptr certificate(
      cert_bio ? PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (certificate == nullptr) {
    return Missing(absl::StrCat(where, " holds no PEM certificate (-----BEGIN CERTIFICATE-----)"));
  }

  const bool has_key = absl::StrContains(*pem, "PRIVATE KEY-----");
  if (!has_key) {
    return Missing(absl::StrCat(where, " holds no private key: it must hold the certificate "
                                       "and its private key, both PEM"));
  }
  const bool encrypted = absl::StrContains(*pem, "-----BEGIN ENCRYPTED PRIVATE KEY-----") ||
                         absl::StrContains(*pem, "Proc-Type: 4,ENCRYPTED");
  std::string passphrase = config.client_certificate_password;
  BioPtr key_bio = MemoryBio(*pem);
  PkeyPtr pkey(key_bio ? PEM_read_bio_PrivateKey(key_bio.get(), nullptr, PassphraseCallback,
                                                 &passphrase)
                       : nullptr);
  if (pkey == nullptr) {
    if (encrypted && passphrase.empty()) {
      return Missing(absl::StrCat("the private key in ", where, " is encrypted: set ",
                                  kPasswordVariable));
    }
    if (encrypted) {
      return Missing(absl::StrCat("cannot decrypt the private key in ", where, ": check ",
                                  kPasswordVariable));
    }
    return Missing(absl::StrCat("cannot read the private key in ", where));
  }
  if (EVP_PKEY_get_base_id(pkey.get()) != EVP_PKEY_RSA) {
    return Missing(absl::StrCat("the private key in ", where,
                                " is not an RSA key: Entra ID's client assertions are signed "
                                "with RSA (PS256 or RS256)"));
  }
  if (X509_check_private_key(certificate.get(), pkey.get()) != 1) {
    return Missing(absl::StrCat("the private key in ", where,
                                " does not belong to its certificate"));
  }

  unsigned char* der_bytes = nullptr;
  const int der_length = i2d_X509(certificate.get(), &der_bytes);
  if (der_length <= 0) return Missing(absl::StrCat("cannot encode the certificate in ", where));
  const std::string der(reinterpret_cast<const char*>(der_bytes),
                        static_cast<std::size_t>(der_length));
  OPENSSL_free(der_bytes);

  auto key = std::make_unique<Key>();
  key->pkey = std::move(pkey);
  return std::unique_ptr<CertificateAuthenticator>(new CertificateAuthenticator(
      std::move(key), Base64Url(HeaderJson(config.assertion_algorithm, der)),
      TokenEndpointUrl(config), config.client_id, config.assertion_algorithm, clock));
}

CertificateAuthenticator::CertificateAuthenticator(std::unique_ptr<Key> key,
                                                   std::string header_b64, std::string audience,
                                                   std::string client_id,
                                                   AssertionAlgorithm algorithm,
                                                   const common::Clock* clock)
    : key_(std::move(key)),
      header_b64_(std::move(header_b64)),
      audience_(std::move(audience)),
      client_id_(std::move(client_id)),
      algorithm_(algorithm),
      clock_(clock) {}

CertificateAuthenticator::~CertificateAuthenticator() = default;

absl::StatusOr<std::string> CertificateAuthenticator::MakeAssertion() const {
  absl::StatusOr<std::string> jti = RandomUuid();
  if (!jti.ok()) return jti.status();
  const std::int64_t now = absl::ToUnixSeconds(clock_->Now());

  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartObject();
  writer.Key("aud");
  writer.String(audience_.data(), static_cast<rapidjson::SizeType>(audience_.size()));
  writer.Key("iss");
  writer.String(client_id_.data(), static_cast<rapidjson::SizeType>(client_id_.size()));
  writer.Key("sub");
  writer.String(client_id_.data(), static_cast<rapidjson::SizeType>(client_id_.size()));
  writer.Key("jti");
  writer.String(jti->data(), static_cast<rapidjson::SizeType>(jti->size()));
  writer.Key("nbf");
  writer.Int64(now);
  writer.Key("iat");
  writer.Int64(now);
  writer.Key("exp");
  writer.Int64(now + absl::ToInt64Seconds(kAssertionLifetime));
  writer.EndObject();

  const std::string signing_input = absl::StrCat(
      header_b64_, ".", Base64Url(absl::string_view(buffer.GetString(), buffer.GetSize())));

  MdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pkey_ctx = nullptr;  // owned by ctx
  bool ok = ctx != nullptr && EVP_DigestSignInit(ctx.get(), &pkey_ctx, EVP_sha256(), nullptr,
                                                 key_->pkey.get()) == 1;
  if (ok && algorithm_ == AssertionAlgorithm::kPs256) {
    ok = EVP_PKEY_CTX_set_rsa_padding(pkey_ctx, RSA_PKCS1_PSS_PADDING) == 1 &&
         EVP_PKEY_CTX_set_rsa_mgf1_md(pkey_ctx, EVP_sha256()) == 1 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pkey_ctx, 32) == 1;
  } else if (ok) {
    ok = EVP_PKEY_CTX_set_rsa_padding(pkey_ctx, RSA_PKCS1_PADDING) == 1;
  }
  std::size_t length = 0;
  const auto* input = reinterpret_cast<const unsigned char*>(signing_input.data());
  ok = ok && EVP_DigestSign(ctx.get(), nullptr, &length, input, signing_input.size()) == 1;
  std::string signature(length, '\0');
  ok = ok && EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()),
                            &length, input, signing_input.size()) == 1;
  if (!ok) {
    ERR_clear_error();
    return absl::InternalError("could not sign the client assertion with the certificate's key");
  }
  signature.resize(length);
  return absl::StrCat(signing_input, ".", Base64Url(signature));
}

absl::StatusOr<ClientAuthentication> CertificateAuthenticator::Authenticate() {
  absl::StatusOr<std::string> assertion = MakeAssertion();
  if (!assertion.ok()) return assertion.status();
  return AssertionAuthentication(*std::move(assertion));
}

}  // namespace rollcall::graph
