#pragma once
// Keys and self-signed certificates made at test time with OpenSSL (no private key is
// committed), written as the PEM files a client certificate credential reads.

#include <memory>
#include <string>

#include <openssl/evp.h>
#include <openssl/x509.h>

namespace rollcall::testing {

struct PkeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct X509Deleter {
  void operator()(X509* certificate) const { X509_free(certificate); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
using X509Ptr = std::unique_ptr<X509, X509Deleter>;

PkeyPtr MakeRsaKey(int bits = 2048);
PkeyPtr MakeEcKey();
// Self-signed by `key`, CN=rollcall-test, valid for a day.
X509Ptr MakeCertificate(EVP_PKEY* key);
std::string CertificatePem(X509* certificate);
// PKCS#8; encrypted with AES-256-CBC when `passphrase` is not empty.
std::string PrivateKeyPem(EVP_PKEY* key, const std::string& passphrase = "");
// The certificate's DER encoding.
std::string CertificateDer(X509* certificate);

// A fresh directory under the test's temporary directory.
std::string MakeTempDir();
void WriteFile(const std::string& path, const std::string& contents);

}  // namespace rollcall::testing
