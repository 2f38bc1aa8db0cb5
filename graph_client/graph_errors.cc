#include "graph_client/graph_errors.h"

#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/utf8.h"
#include "graph_client/json_reader.h"

namespace rollcall::graph {
namespace {

// What of Graph's error text reaches a caller (README, "Errors"): the message, and each of the
// code, request IDs and date. A few KiB in all, so that any error fits a default client's 8 KiB
// of response metadata, the message and ErrorInfo together.
constexpr std::size_t kMaxMessageBytes = 1024;
constexpr std::size_t kMaxCodeBytes = 128;

namespace rj = rapidjson;

// What a 401 asks the operator to check. Graph answers 401 to a token it does not take: one for
// another resource (the scope), from another tenant or cloud, or revoked.
constexpr absl::string_view kUnauthorizedHint =
    "Check that graph_scope is Graph's (graph_base_url's origin + \"/.default\", e.g. "
    "https://graph.microsoft.com/.default: a token for any other audience is refused), that "
    "AZURE_TENANT_ID is the tenant whose meetings are read and AZURE_CLIENT_ID an app "
    "registered in it, and that the app has its application permissions "
    "(OnlineMeetingArtifact.Read.All; OnlineMeetings.Read.All for join links) with admin "
    "consent.";

// "2023-11-14T22:13:50Z": `t` rounded up to the second, so "not before" stays true.
std::string UtcSeconds(absl::Time t) {
  const absl::Time rounded =
      absl::UnixEpoch() + absl::Ceil(t - absl::UnixEpoch(), absl::Seconds(1));
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", rounded, absl::UTCTimeZone());
}

}  // namespace

bool ParseGraphErrorBody(absl::string_view json, GraphErrorBody* out) {
  json::ParsedJson parsed;
  if (!json::Parse(json, &parsed).ok()) return false;
  const rj::Document& doc = parsed.doc;
  const rj::Value* error = json::FindMember(doc, "error", /*ignore_case=*/true);
  if (error == nullptr || !error->IsObject()) return false;
  GraphErrorBody body;
  // Graph's text goes into a status message and ErrorInfo metadata that clients receive as
  // HTTP/2 headers (gRPC's default limit: 8 KiB for all of them): capped, whatever was sent.
  body.code = common::utf8::Truncate(json::StringMember(*error, "code", true), kMaxCodeBytes);
  body.message =
      common::utf8::Truncate(json::StringMember(*error, "message", true), kMaxMessageBytes);
  // errors.md's JSON says innerError, its table innererror; the SDK model says Date, the
  // service sends date: match all of them case-insensitively.
  if (const rj::Value* inner = json::FindMember(*error, "innererror", true)) {
    body.request_id =
        common::utf8::Truncate(json::StringMember(*inner, "request-id", true), kMaxCodeBytes);
    body.client_request_id = common::utf8::Truncate(
        json::StringMember(*inner, "client-request-id", true), kMaxCodeBytes);
    body.date = common::utf8::Truncate(json::StringMember(*inner, "date", true), kMaxCodeBytes);
  }
  *out = std::move(body);
  return true;
}

common::ErrorDetails GraphDetails(const HttpResponse& response,
                                  absl::string_view client_request_id, absl::string_view reason,
                                  const GraphErrorBody& body) {
  common::ErrorDetails details;
  details.reason = std::string(reason);
  auto& metadata = details.metadata;
  metadata[std::string(common::meta::kHttpStatus)] = absl::StrCat(response.status);
  if (!body.code.empty()) metadata[std::string(common::meta::kGraphCode)] = body.code;
  std::string request_id = body.request_id;
  if (request_id.empty()) {
    request_id = common::utf8::Truncate(response.Header("request-id").value_or(""), kMaxCodeBytes);
  }
  if (!request_id.empty()) metadata[std::string(common::meta::kGraphRequestId)] = request_id;
  metadata[std::string(common::meta::kGraphClientRequestId)] =
      body.client_request_id.empty() ? std::string(client_request_id) : body.client_request_id;
  std::string date = body.date;
  if (date.empty()) {
    date = common::utf8::Truncate(response.Header("date").value_or(""), kMaxCodeBytes);
  }
  if (!date.empty()) metadata[std::string(common::meta::kGraphDate)] = date;
  return details;
}

absl::Status GraphHttpError(const HttpResponse& response, absl::string_view client_request_id,
                            std::optional<absl::Duration> retry_after,
                            const GraphCallWording& wording,
                            const std::optional<TokenBackoff>& token_backoff) {
  GraphErrorBody body;
  const bool has_body = ParseGraphErrorBody(response.body, &body);
  const std::string said =
      has_body ? absl::StrCat("HTTP ", response.status, " (", body.code, ": ", body.message, ")")
               : absl::StrCat("HTTP ", response.status, " (no Graph error body)");

  const auto error = [&](absl::StatusCode code, absl::string_view reason,
                         absl::string_view message) {
    common::ErrorDetails details = GraphDetails(response, client_request_id, reason, body);
    details.retry_after = retry_after;
    return common::MakeError(code, message, details);
  };
  const long status = response.status;
  if (status == 400) {
    return error(absl::StatusCode::kInvalidArgument, common::reason::kGraphBadRequest,
                 absl::StrCat("Graph rejected the request: ", said));
  }
  if (status == 401) {
    // Never the token itself: Graph's error text does not echo it, and nothing else here has it.
    std::string backoff;
    if (token_backoff.has_value()) {
      backoff = absl::StrCat(
          " Graph refused the token fetched to replace a refused one too, so Rollcall keeps it "
          "and will not fetch another token before ",
          UtcSeconds(token_backoff->until), " (a back-off of ",
          absl::FormatDuration(token_backoff->length),
          ", longer each time Graph refuses a new token).");
    }
    return error(absl::StatusCode::kFailedPrecondition, common::reason::kGraphUnauthorized,
                 absl::StrCat("Graph did not accept Rollcall's access token: ", said, ".",
                              backoff, " ", kUnauthorizedHint));
  }
  if (status == 403) {
    return error(absl::StatusCode::kPermissionDenied, common::reason::kGraphForbidden,
                 absl::StrCat("Graph denied access to ", wording.subject, ": ", said, ". ",
                              wording.forbidden_hint));
  }
  if (status == 404) {
    return error(absl::StatusCode::kNotFound, wording.not_found_reason,
                 absl::StrCat("Graph found ", wording.not_found, ": ", said));
  }
  if (status == 429) {
    return error(absl::StatusCode::kResourceExhausted, common::reason::kGraphThrottled,
                 absl::StrCat("Graph throttled the request: ", said));
  }
  if (status >= 500 && status <= 599) {
    return error(absl::StatusCode::kUnavailable, common::reason::kGraphUnavailable,
                 absl::StrCat("Graph is unavailable: ", said));
  }
  if (status >= 300 && status <= 399) {
    // The transport never follows a redirect: the token would go wherever it points.
    return error(absl::StatusCode::kUnknown, common::reason::kGraphError,
                 absl::StrCat("Graph answered with a redirect, which Rollcall does not follow "
                              "(the access token is sent to Graph's own origin only): ",
                              said));
  }
  return error(absl::StatusCode::kUnknown, common::reason::kGraphError,
               absl::StrCat("Graph answered with an unexpected status: ", said));
}

absl::Status GraphTransportError(const absl::Status& transport_status) {
  const TransportFailure failure = GetTransportFailure(transport_status);
  absl::Status error;
  if (transport_status.code() == absl::StatusCode::kResourceExhausted) {
    error = common::MakeError(
        absl::StatusCode::kInternal,
        absl::StrCat("Graph's response is too large: ", transport_status.message()),
        {std::string(common::reason::kGraphBadResponse), {}, std::nullopt});
  } else if (failure == TransportFailure::kTruncatedBody) {
    error = common::MakeError(absl::StatusCode::kUnavailable,
                              absl::StrCat("Graph closed the connection before the whole body "
                                           "arrived: ",
                                           transport_status.message()),
                              {std::string(common::reason::kGraphUnavailable), {}, std::nullopt});
  } else {
    const absl::StatusCode code = transport_status.code() == absl::StatusCode::kDeadlineExceeded
                                      ? absl::StatusCode::kDeadlineExceeded
                                      : absl::StatusCode::kUnavailable;
    error = common::MakeError(code,
                              absl::StrCat("could not reach Graph: ", transport_status.message()),
                              {std::string(common::reason::kGraphUnavailable), {}, std::nullopt});
  }
  if (failure == TransportFailure::kUnclassified) return error;
  return WithTransportFailure(std::move(error), failure);
}

absl::Status ForCaller(absl::Status status) {
  if (status.ok()) return status;
  return WithTransportFailure(std::move(status), TransportFailure::kUnclassified);
}

bool IsJsonContentType(const HttpResponse& response) {
  const std::optional<std::string> content_type = response.Header("content-type");
  if (!content_type.has_value()) return true;
  const absl::string_view media_type =
      absl::string_view(*content_type).substr(0, content_type->find(';'));
  const std::string media = absl::AsciiStrToLower(absl::StripAsciiWhitespace(media_type));
  return media == "application/json" || absl::EndsWith(media, "+json");
}

}  // namespace rollcall::graph
