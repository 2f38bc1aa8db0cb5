#pragma once
// The identity platform's token-endpoint bodies: a successful token response and an OAuth error
// response. Used by ClientCredentialsGrant (every way to authenticate: the endpoint answers in
// these shapes). Pure functions, thread-safe; messages never quote a token.

#include <cstddef>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace rollcall::graph {

struct TokenResponse {
  std::string access_token;
  std::string token_type;
  absl::Duration expires_in;  // string or number in the body; 600 s when absent (as MSAL)
  // When the identity platform suggests refreshing (MSAL's `refresh_in`), if it sent one.
  std::optional<absl::Duration> refresh_in;
};
// The largest access token accepted (an app-only Graph token is a few KiB).
inline constexpr std::size_t kMaxAccessTokenBytes = 16 * 1024;
// INVALID_ARGUMENT naming the property at fault (never its value); an access_token that is
// empty, larger than kMaxAccessTokenBytes or holds a byte outside visible ASCII is refused.
absl::StatusOr<TokenResponse> ParseTokenResponse(absl::string_view json);

struct TokenErrorBody {
  std::string error;              // e.g. invalid_client
  std::string error_description;  // starts with "AADSTSnnnn: ..."
  std::string aadsts_code;        // "AADSTS7000215", from error_codes[0] or the description
  std::string trace_id;
  std::string correlation_id;
};
// False when `json` is not an OAuth error body (an object with a string "error").
bool ParseTokenErrorBody(absl::string_view json, TokenErrorBody* out);

}  // namespace rollcall::graph
