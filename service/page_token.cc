#include "service/page_token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/error_details.h"

namespace rollcall::service {
namespace {

constexpr uint8_t kVersion = 1;
constexpr std::size_t kMacBytes = 16;
constexpr std::size_t kTokenBytes = 1 + 4 + kMacBytes;
constexpr std::size_t kMaxKeyFileBytes = 64 << 10;
// Separates these MACs from any other use of the same key.
constexpr absl::string_view kContext = "rollcall.v1 ListAttendanceRecords page token";

absl::Status InvalidToken() {
  common::ErrorDetails details;
  details.reason = std::string(common::reason::kInvalidPageToken);
  details.metadata[std::string(common::meta::kField)] = "page_token";
  return common::MakeError(
      absl::StatusCode::kInvalidArgument,
      "page_token was not issued by this service for this report (altered, made up, or from "
      "a request for another report); start again with an empty page_token",
      details);
}

void PutOffset(uint32_t offset, char* out) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>(offset >> (24 - 8 * i));
}

uint32_t GetOffset(const char* in) {
  uint32_t offset = 0;
  for (int i = 0; i < 4; ++i) offset = (offset << 8) | static_cast<uint8_t>(in[i]);
  return offset;
}

}  // namespace

absl::StatusOr<PageTokenSigner> PageTokenSigner::FromKey(std::string key) {
  if (key.size() < kMinKeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the page token key is ", key.size(), " bytes long; at least ",
                     kMinKeyBytes, " are needed (e.g. `openssl rand -base64 48`)"));
  }
  return PageTokenSigner(std::move(key));
}

absl::StatusOr<PageTokenSigner> PageTokenSigner::FromFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_token_key_file: cannot read ", path));
  }
  std::string key;
  char buffer[4096];
  while (in.read(buffer, sizeof(buffer)) || in.gcount() > 0) {
    key.append(buffer, static_cast<std::size_t>(in.gcount()));
    if (key.size() > kMaxKeyFileBytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "page_token_key_file: ", path, " is larger than ", kMaxKeyFileBytes, " bytes"));
    }
  }
  if (in.bad()) {
    return absl::InvalidArgumentError(absl::StrCat("page_token_key_file: cannot read ", path));
  }
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) key.pop_back();
  absl::StatusOr<PageTokenSigner> signer = FromKey(std::move(key));
  if (!signer.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_token_key_file ", path, ": ", signer.status().message()));
  }
  return signer;
}

PageTokenSigner PageTokenSigner::Random() {
  std::string key(kMinKeyBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), static_cast<int>(key.size())) !=
      1) {
    // No randomness at all: nothing safe to sign with.
    std::fprintf(stderr, "rollcall: OpenSSL's RAND_bytes failed\n");
    std::abort();
  }
  return PageTokenSigner(std::move(key));
}

std::string PageTokenSigner::Mac(uint8_t version, uint32_t offset,
                                 absl::string_view binding) const {
  char header[5];
  header[0] = static_cast<char>(version);
  PutOffset(offset, header + 1);
  // Each part length-prefixed by the layout (fixed context and header), so no two inputs
  // share a MAC input.
  const std::string input =
      absl::StrCat(kContext, absl::string_view("\0", 1), absl::string_view(header, 5), binding);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_size = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &mac_size);
  return std::string(reinterpret_cast<const char*>(mac), mac_size);
}

std::string PageTokenSigner::Mint(absl::string_view binding, uint32_t offset) const {
  std::string raw(kTokenBytes, '\0');
  raw[0] = static_cast<char>(kVersion);
  PutOffset(offset, raw.data() + 1);
  const std::string mac = Mac(kVersion, offset, binding);
  raw.replace(5, kMacBytes, mac, 0, kMacBytes);
  return absl::WebSafeBase64Escape(raw);
}

absl::StatusOr<uint32_t> PageTokenSigner::Open(absl::string_view binding,
                                               absl::string_view token) const {
  // A valid token is exactly 28 characters; refuse anything else before decoding it.
  std::string raw;
  if (token.size() != (kTokenBytes * 4 + 2) / 3 || !absl::WebSafeBase64Unescape(token, &raw) ||
      raw.size() != kTokenBytes || static_cast<uint8_t>(raw[0]) != kVersion) {
    return InvalidToken();
  }
  const uint32_t offset = GetOffset(raw.data() + 1);
  const std::string mac = Mac(kVersion, offset, binding);
  if (CRYPTO_memcmp(mac.data(), raw.data() + 5, kMacBytes) != 0) return InvalidToken();
  // Only the canonical spelling: base64 has other spellings of the same bytes (the unused
  // low bits of the last character), which would make two tokens of one page.
  if (absl::WebSafeBase64Escape(raw) != token) return InvalidToken();
  return offset;
}

}  // namespace rollcall::service
