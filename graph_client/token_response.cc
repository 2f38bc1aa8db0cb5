#include "graph_client/token_response.h"

#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "graph_client/json_reader.h"

namespace rollcall::graph {
namespace {

namespace rj = rapidjson;

// Seconds from a number or a numeric string (the identity platform has sent both).
absl::StatusOr<absl::Duration> ReadSeconds(const rj::Value& value, absl::string_view name) {
  constexpr double kMaxSeconds = 366.0 * 24 * 3600;
  double seconds = 0;
  if (value.IsNumber()) {
    seconds = value.GetDouble();
  } else if (!value.IsString() || !absl::SimpleAtod(json::AsView(value), &seconds)) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": expected a number of seconds"));
  }
  if (!std::isfinite(seconds) || seconds <= 0 || seconds > kMaxSeconds) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": out of range"));
  }
  return absl::Seconds(seconds);
}

}  // namespace

absl::StatusOr<TokenResponse> ParseTokenResponse(absl::string_view json) {
  json::ParsedJson parsed;
  absl::Status status = json::Parse(json, &parsed);
  const rj::Document& doc = parsed.doc;
  if (!status.ok()) return status;
  if (!doc.IsObject()) return absl::InvalidArgumentError("token response: expected an object");

  TokenResponse token;
  // Messages name fields only: the body holds the access token.
  const rj::Value* access_token = json::FindMember(doc, "access_token");
  if (access_token == nullptr || !access_token->IsString() ||
      access_token->GetStringLength() == 0) {
    return absl::InvalidArgumentError("access_token: missing or not a non-empty string");
  }
  // It goes into an Authorization header: no control characters or spaces, and a bounded size.
  const absl::string_view value = json::AsView(*access_token);
  if (value.size() > kMaxAccessTokenBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("access_token: larger than ", kMaxAccessTokenBytes, " bytes"));
  }
  for (const char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte >= 0x7f) {
      return absl::InvalidArgumentError(
          "access_token: holds a control character, a space or a non-ASCII byte");
    }
  }
  token.access_token = std::string(value);

  const rj::Value* token_type = json::FindMember(doc, "token_type");
  if (token_type != nullptr && !token_type->IsNull()) {
    if (!token_type->IsString() || !absl::EqualsIgnoreCase(json::AsView(*token_type), "Bearer")) {
      return absl::InvalidArgumentError("token_type: expected \"Bearer\"");
    }
  }
  token.token_type = "Bearer";

  token.expires_in = absl::Seconds(600);  // MSAL's default when expires_in is absent
  if (const rj::Value* expires_in = json::FindMember(doc, "expires_in");
      expires_in != nullptr && !expires_in->IsNull()) {
    absl::StatusOr<absl::Duration> seconds = ReadSeconds(*expires_in, "expires_in");
    if (!seconds.ok()) return seconds.status();
    token.expires_in = *seconds;
  }
  if (const rj::Value* refresh_in = json::FindMember(doc, "refresh_in");
      refresh_in != nullptr && !refresh_in->IsNull()) {
    absl::StatusOr<absl::Duration> seconds = ReadSeconds(*refresh_in, "refresh_in");
    if (!seconds.ok()) return seconds.status();
    token.refresh_in = *seconds;
  }
  return token;
}

bool ParseTokenErrorBody(absl::string_view json, TokenErrorBody* out) {
  json::ParsedJson parsed;
  if (!json::Parse(json, &parsed).ok() || !parsed.doc.IsObject()) return false;
  const rj::Document& doc = parsed.doc;
  const rj::Value* error = json::FindMember(doc, "error");
  if (error == nullptr || !error->IsString()) return false;

  TokenErrorBody body;
  body.error = std::string(json::AsView(*error));
  body.error_description = json::StringMember(doc, "error_description");
  body.trace_id = json::StringMember(doc, "trace_id");
  body.correlation_id = json::StringMember(doc, "correlation_id");

  const rj::Value* codes = json::FindMember(doc, "error_codes");
  if (codes != nullptr && codes->IsArray() && !codes->Empty() && (*codes)[0].IsUint64()) {
    body.aadsts_code = absl::StrCat("AADSTS", (*codes)[0].GetUint64());
  } else if (absl::StartsWith(body.error_description, "AADSTS")) {
    std::size_t end = 6;
    while (end < body.error_description.size() &&
           absl::ascii_isdigit(static_cast<unsigned char>(body.error_description[end]))) {
      ++end;
    }
    if (end > 6) body.aadsts_code = body.error_description.substr(0, end);
  }
  *out = std::move(body);
  return true;
}

}  // namespace rollcall::graph
