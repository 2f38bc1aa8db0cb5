#pragma once
// Page tokens of ListAttendanceRecords: opaque to clients, tamper-evident, and the same on
// every replica that shares the signing key.
//
// A token names where the next page starts (an offset into the report's records, in Graph's
// order) and is bound to the report it was minted for: HMAC-SHA256 (OpenSSL) over a version,
// the offset and the report's cache key, under a key every replica reads from the same file
// (page_token_key_file). So a token altered by a client, made up, replayed against another
// report or minted under another key is refused, and nothing of a token ever reaches a Graph
// URL: the offset indexes records Rollcall already holds.
//
// Layout, base64url without padding (28 characters): version (1 byte, 1) | offset (4 bytes,
// big-endian) | the first 16 bytes of the MAC.
//
// Thread-safe: immutable once built.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace rollcall::service {

class PageTokenSigner {
 public:
  // The shortest key accepted: the MAC's own strength (SHA-256's block is 64 bytes; 32 bytes of
  // randomness is what RFC 2104 asks for a 256-bit MAC).
  static constexpr std::size_t kMinKeyBytes = 32;

  // Signs with `key` (at least kMinKeyBytes). INVALID_ARGUMENT otherwise; the message never
  // shows the key.
  static absl::StatusOr<PageTokenSigner> FromKey(std::string key);
  // Signs with the contents of the file at `path`, trailing CR and LF removed (so a key written
  // by `openssl rand -base64 48 > key` or a Kubernetes Secret works either way).
  // INVALID_ARGUMENT when it cannot be read, is larger than 64 KiB or shorter than
  // kMinKeyBytes; the message names the path and never the contents.
  static absl::StatusOr<PageTokenSigner> FromFile(const std::string& path);
  // A random key from OpenSSL's CSPRNG: tokens work on this process alone.
  static PageTokenSigner Random();

  // The token for the page that starts at record `offset` of the report whose cache key is
  // `binding`.
  std::string Mint(absl::string_view binding, uint32_t offset) const;

  // The offset `token` was minted with, if it was minted by this key for `binding`; else
  // INVALID_ARGUMENT (reason INVALID_PAGE_TOKEN, metadata field=page_token), the same error
  // whatever is wrong with it, so that probing learns nothing.
  absl::StatusOr<uint32_t> Open(absl::string_view binding, absl::string_view token) const;

 private:
  explicit PageTokenSigner(std::string key) : key_(std::move(key)) {}

  // The 32-byte HMAC-SHA256 of version | offset | binding.
  std::string Mac(uint8_t version, uint32_t offset, absl::string_view binding) const;

  std::string key_;
};

}  // namespace rollcall::service
