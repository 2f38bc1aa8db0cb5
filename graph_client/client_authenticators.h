#pragma once
// The ClientAuthenticators of a client secret, a client secret file and a federated token
// (workload identity). The certificate's is in certificate_authenticator.h.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/mutex.h"
#include "graph_client/client_credentials_grant.h"

namespace rollcall::graph {

// The largest secret, federated token or secret file read (a service account token is ~1 KiB).
inline constexpr std::size_t kMaxCredentialFileBytes = 16 * 1024;

// The contents of `path`, at most `max_bytes`. `variable` names the setting in messages
// ("AZURE_FEDERATED_TOKEN_FILE"); messages hold the path and the OS's reason, never contents.
// Errors: NOT_FOUND (no such file), INVALID_ARGUMENT (larger than max_bytes), UNAVAILABLE
// (another read error). Callers wrap them with their own code and reason.
absl::StatusOr<std::string> ReadCredentialFile(absl::string_view variable, const std::string& path,
                                               std::size_t max_bytes);

// client_secret=<secret>. Immutable.
class ClientSecretAuthenticator final : public ClientAuthenticator {
 public:
  explicit ClientSecretAuthenticator(std::string secret);
  absl::StatusOr<ClientAuthentication> Authenticate() override;
  CredentialKind kind() const override { return CredentialKind::kSecret; }

 private:
  const ClientAuthentication authentication_;
};

// client_secret=<the file's contents without trailing CR/LF>. Each Authenticate stats the file
// and re-reads it when its inode, size or modification time changed (a rotated Kubernetes
// Secret is picked up without a restart). Thread-safe.
class ClientSecretFileAuthenticator final : public ClientAuthenticator {
 public:
  // Reads the file once. FAILED_PRECONDITION CREDENTIALS_MISSING naming the file when it cannot
  // be read, is empty (after trimming) or larger than kMaxCredentialFileBytes.
  static absl::StatusOr<std::unique_ptr<ClientSecretFileAuthenticator>> Create(std::string path);

  // A file that can no longer be read (or now is empty, too large): UNAVAILABLE
  // CREDENTIALS_MISSING, marked transient (a Secret being rewritten); the last good secret is
  // not used after its file changed.
  absl::StatusOr<ClientAuthentication> Authenticate() override;
  CredentialKind kind() const override { return CredentialKind::kSecret; }

 private:
  struct FileIdentity {
    std::uint64_t device = 0, inode = 0;
    std::int64_t size = -1, mtime_ns = 0;
    bool operator==(const FileIdentity& other) const {
      return device == other.device && inode == other.inode && size == other.size &&
             mtime_ns == other.mtime_ns;
    }
  };
  explicit ClientSecretFileAuthenticator(std::string path) : path_(std::move(path)) {}
  // Re-reads the file when it changed; `code` is the status code of a failure.
  absl::Status Refresh(absl::StatusCode code) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string path_;
  common::Mutex mu_;
  FileIdentity identity_ ABSL_GUARDED_BY(mu_);
  std::string secret_ ABSL_GUARDED_BY(mu_);
};

// client_assertion_type=jwt-bearer&client_assertion=<the file's contents, trimmed>, read
// afresh for every token request (Kubernetes rewrites the projected token). A file that is
// missing, empty or larger than kMaxCredentialFileBytes: UNAVAILABLE CREDENTIALS_MISSING naming
// AZURE_FEDERATED_TOKEN_FILE, marked transient (the kubelet may be about to write it, so the
// caching credential retries within the caller's deadline). Thread-safe (no state).
class FederatedTokenAuthenticator final : public ClientAuthenticator {
 public:
  explicit FederatedTokenAuthenticator(std::string path) : path_(std::move(path)) {}
  absl::StatusOr<ClientAuthentication> Authenticate() override;
  CredentialKind kind() const override { return CredentialKind::kFederatedToken; }

 private:
  const std::string path_;
};

// The form fields of a JWT client assertion, with the assertion as the secret to redact.
ClientAuthentication AssertionAuthentication(std::string assertion);

}  // namespace rollcall::graph
