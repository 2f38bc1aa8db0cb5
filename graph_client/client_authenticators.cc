#include "graph_client/client_authenticators.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/error_details.h"

namespace rollcall::graph {
namespace {

constexpr absl::string_view kFederatedTokenVariable = "AZURE_FEDERATED_TOKEN_FILE";
constexpr absl::string_view kSecretFileVariable = "the client secret file";

absl::Status CredentialsMissing(absl::StatusCode code, std::string message) {
  absl::Status error = common::MakeError(
      code, std::move(message),
      {std::string(common::reason::kCredentialsMissing), {}, std::nullopt});
  return code == absl::StatusCode::kUnavailable ? MarkTransient(std::move(error)) : error;
}

// `text` without trailing CR and LF (what an editor or `echo` adds to a secret file).
absl::string_view WithoutTrailingNewlines(absl::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  return text;
}

}  // namespace

absl::StatusOr<std::string> ReadCredentialFile(absl::string_view variable, const std::string& path,
                                               std::size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int error = errno;
    const std::string what =
        absl::StrCat("cannot read ", variable, " (", path, "): ", std::strerror(error));
    return error == ENOENT ? absl::NotFoundError(what) : absl::UnavailableError(what);
  }
  std::string contents(max_bytes + 1, '\0');
  in.read(contents.data(), static_cast<std::streamsize>(contents.size()));
  if (in.bad()) {
    return absl::UnavailableError(absl::StrCat("cannot read ", variable, " (", path, ")"));
  }
  contents.resize(static_cast<std::size_t>(in.gcount()));
  if (contents.size() > max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(variable, " (", path, ") is larger than ",
                                                   max_bytes, " bytes"));
  }
  return contents;
}

ClientAuthentication AssertionAuthentication(std::string assertion) {
  ClientAuthentication authentication;
  authentication.form_fields =
      absl::StrCat(FormField("client_assertion_type", kJwtBearerAssertionType), "&",
                   FormField("client_assertion", assertion));
  authentication.secrets.push_back(std::move(assertion));
  return authentication;
}

// --- ClientSecretAuthenticator ----------------------------------------------------------------

namespace {
ClientAuthentication SecretAuthentication(std::string secret) {
  ClientAuthentication authentication;
  authentication.form_fields = FormField("client_secret", secret);
  authentication.secrets.push_back(std::move(secret));
  return authentication;
}
}  // namespace

ClientSecretAuthenticator::ClientSecretAuthenticator(std::string secret)
    : authentication_(SecretAuthentication(std::move(secret))) {}

absl::StatusOr<ClientAuthentication> ClientSecretAuthenticator::Authenticate() {
  return authentication_;
}

// --- ClientSecretFileAuthenticator ------------------------------------------------------------

absl::StatusOr<std::unique_ptr<ClientSecretFileAuthenticator>>
ClientSecretFileAuthenticator::Create(std::string path) {
  std::unique_ptr<ClientSecretFileAuthenticator> authenticator(
      new ClientSecretFileAuthenticator(std::move(path)));
  common::MutexLock lock(&authenticator->mu_);
  absl::Status status = authenticator->Refresh(absl::StatusCode::kFailedPrecondition);
  if (!status.ok()) return status;
  return authenticator;
}

absl::Status ClientSecretFileAuthenticator::Refresh(absl::StatusCode code) {
  struct stat info {};
  if (::stat(path_.c_str(), &info) != 0) {
    const int error = errno;
    identity_ = FileIdentity{};
    secret_.clear();
    return CredentialsMissing(code, absl::StrCat("cannot read ", kSecretFileVariable, " (", path_,
                                                 "): ", std::strerror(error)));
  }
  FileIdentity identity;
  identity.device = static_cast<std::uint64_t>(info.st_dev);
  identity.inode = static_cast<std::uint64_t>(info.st_ino);
  identity.size = static_cast<std::int64_t>(info.st_size);
  identity.mtime_ns = static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1000000000 +
                      static_cast<std::int64_t>(info.st_mtim.tv_nsec);
  if (identity == identity_ && !secret_.empty()) return absl::OkStatus();

  identity_ = FileIdentity{};
  secret_.clear();
  absl::StatusOr<std::string> contents =
      ReadCredentialFile(kSecretFileVariable, path_, kMaxCredentialFileBytes);
  if (!contents.ok()) return CredentialsMissing(code, std::string(contents.status().message()));
  absl::string_view secret = WithoutTrailingNewlines(*contents);
  if (secret.empty()) {
    return CredentialsMissing(
        code, absl::StrCat(kSecretFileVariable, " (", path_, ") is empty: it must hold the "
                                                             "client secret's value"));
  }
  secret_ = std::string(secret);
  identity_ = identity;
  return absl::OkStatus();
}

absl::StatusOr<ClientAuthentication> ClientSecretFileAuthenticator::Authenticate() {
  common::MutexLock lock(&mu_);
  absl::Status status = Refresh(absl::StatusCode::kUnavailable);
  if (!status.ok()) return status;
  return SecretAuthentication(secret_);
}

// --- FederatedTokenAuthenticator --------------------------------------------------------------

absl::StatusOr<ClientAuthentication> FederatedTokenAuthenticator::Authenticate() {
  absl::StatusOr<std::string> contents =
      ReadCredentialFile(kFederatedTokenVariable, path_, kMaxCredentialFileBytes);
  if (!contents.ok()) {
    return CredentialsMissing(absl::StatusCode::kUnavailable,
                              std::string(contents.status().message()));
  }
  absl::string_view token = absl::StripAsciiWhitespace(*contents);
  if (token.empty()) {
    return CredentialsMissing(absl::StatusCode::kUnavailable,
                              absl::StrCat(kFederatedTokenVariable, " (", path_,
                                           ") is empty: the service account token has not "
                                           "been written yet"));
  }
  return AssertionAuthentication(std::string(token));
}

}  // namespace rollcall::graph
