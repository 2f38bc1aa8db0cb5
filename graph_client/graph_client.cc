#include "graph_client/graph_client.h"

#include <atomic>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/error_details.h"
#include "graph_client/json_mapping.h"
#include "graph_client/retry_after.h"
#include "graph_client/url_encoding.h"

namespace rollcall::graph {
namespace {

// attendanceRecords@odata.nextLink pages followed at most, so a body that links to itself
// cannot keep a call going until its deadline.
constexpr int kMaxRecordPages = 1000;

constexpr absl::string_view kForbiddenHint =
    " Rollcall's app needs the OnlineMeetingArtifact.Read.All application permission with admin "
    "consent, and a Teams application access policy (New-CsApplicationAccessPolicy, "
    "Grant-CsApplicationAccessPolicy) that covers the user; the user must be the meeting's "
    "organizer (or a co-organizer). Policy changes can take 30 minutes to apply.";

// A random (version 4) UUID for Graph's client-request-id header.
std::string NewClientRequestId() {
  thread_local std::mt19937_64 random = [] {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device(), device(), device()};
    return std::mt19937_64(seed);
  }();
  uint64_t high = random();
  uint64_t low = random();
  high = (high & ~uint64_t{0xF000}) | uint64_t{0x4000};                  // version 4
  low = (low & ~(uint64_t{0x3} << 62)) | (uint64_t{0x2} << 62);          // variant 10xx
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  id.reserve(36);
  for (int i = 0; i < 32; ++i) {
    if (i == 8 || i == 12 || i == 16 || i == 20) id.push_back('-');
    const uint64_t word = i < 16 ? high : low;
    const int shift = 60 - 4 * (i % 16);
    id.push_back(kHex[(word >> shift) & 0xF]);
  }
  return id;
}

// A missing Content-Type is given the benefit of the doubt; any other must be JSON.
bool IsJsonContentType(const HttpResponse& response) {
  const std::optional<std::string> content_type = response.Header("content-type");
  if (!content_type.has_value()) return true;
  const absl::string_view media_type =
      absl::string_view(*content_type).substr(0, content_type->find(';'));
  const std::string media = absl::AsciiStrToLower(absl::StripAsciiWhitespace(media_type));
  return media == "application/json" || absl::EndsWith(media, "+json");
}

// Statuses after which the same GET is tried again (with transport failures before any
// response byte). Graph's SDKs retry exactly these.
bool IsRetryableHttpStatus(long status) { return status == 429 || status == 503 || status == 504; }

class GraphClientImpl final : public GraphClient {
 public:
  GraphClientImpl(const GraphClientOptions& options, std::shared_ptr<HttpTransport> transport,
                  std::shared_ptr<TokenCredential> credential, const common::Clock* clock)
      : base_url_(StripTrailingSlashes(options.base_url)),
        origin_(UrlOrigin(base_url_)),
        transport_(std::move(transport)),
        credential_(std::move(credential)),
        clock_(clock),
        retry_(options.retry, clock) {}

  using GraphClient::GetAttendanceReport;

  absl::Status GetAttendanceReport(const ReportRef& ref, bool with_records, absl::Time deadline,
                                   rollcall::v1::MeetingAttendanceReport* report) override {
    // Fetch clears *report when it starts filling it (ParseAttendanceReport); an error at any
    // step leaves it empty.
    absl::Status status = Fetch(ref, with_records, deadline, report);
    if (!status.ok()) report->Clear();
    return status;
  }

  GraphClientStats Stats() const override {
    GraphClientStats stats;
    stats.http_requests = counters_.http_requests.load(std::memory_order_relaxed);
    stats.retries = counters_.retries.load(std::memory_order_relaxed);
    stats.throttled = counters_.throttled.load(std::memory_order_relaxed);
    stats.server_errors = counters_.server_errors.load(std::memory_order_relaxed);
    stats.transport_errors = counters_.transport_errors.load(std::memory_order_relaxed);
    stats.bad_responses = counters_.bad_responses.load(std::memory_order_relaxed);
    stats.token_refreshes = counters_.token_refreshes.load(std::memory_order_relaxed);
    return stats;
  }

 private:
  absl::Status Fetch(const ReportRef& ref, bool with_records, absl::Time deadline,
                     rollcall::v1::MeetingAttendanceReport* report) {
    const std::pair<const char*, const std::string*> ids[] = {
        {"user_id", &ref.user_id}, {"meeting_id", &ref.meeting_id}, {"report_id", &ref.report_id}};
    for (const auto& [field, value] : ids) {
      if (!value->empty()) continue;
      return common::MakeError(absl::StatusCode::kInvalidArgument, absl::StrCat(field, " is empty"),
                       {std::string(common::reason::kInvalidId), {{std::string(common::meta::kField), field}},
                        std::nullopt});
    }
    const std::string url = absl::StrCat(
        base_url_, "/users/", EncodePathSegment(ref.user_id), "/onlineMeetings/",
        EncodePathSegment(ref.meeting_id), "/attendanceReports/",
        EncodePathSegment(ref.report_id), with_records ? "?$expand=attendanceRecords" : "");

    absl::StatusOr<Exchange> exchange = Get(url, deadline, "a meetingAttendanceReport");
    if (!exchange.ok()) return exchange.status();
    std::string next_link;
    const absl::Status parsed_report =
        ParseAttendanceReport(exchange->response.body, report, &next_link);
    if (!parsed_report.ok()) {
      return BadBody(*exchange, "a meetingAttendanceReport", parsed_report);
    }

    for (int pages = 0; !next_link.empty(); ++pages) {
      if (pages == kMaxRecordPages) {
        return BadResponse(*exchange,
                           absl::StrCat("Graph's attendanceRecords@odata.nextLink chain is "
                                        "longer than ", kMaxRecordPages, " pages"));
      }
      // The token goes only where the base URL points: never to a host a body names.
      if (!IsUrlUnderOrigin(next_link, origin_)) {
        return BadResponse(
            *exchange,
            absl::StrCat("Graph returned an attendanceRecords@odata.nextLink outside ", origin_,
                         " (\"", absl::CHexEscape(UrlOrigin(next_link)),
                         "\"); refusing to follow it"));
      }
      exchange = Get(next_link, deadline, "an attendanceRecord page");
      if (!exchange.ok()) return exchange.status();
      absl::Status parsed =
          ParseAttendanceRecordsPage(exchange->response.body, report, &next_link);
      if (!parsed.ok()) return BadBody(*exchange, "an attendanceRecord page", parsed);
    }
    return absl::OkStatus();
  }

  struct Exchange {
    HttpResponse response;
    std::string client_request_id;
  };

  // GraphClientStats as counters; each is only ever incremented.
  struct Counters {
    std::atomic<uint64_t> http_requests{0};
    std::atomic<uint64_t> retries{0};
    std::atomic<uint64_t> throttled{0};
    std::atomic<uint64_t> server_errors{0};
    std::atomic<uint64_t> transport_errors{0};
    std::atomic<uint64_t> bad_responses{0};
    std::atomic<uint64_t> token_refreshes{0};
  };

  static void Increment(std::atomic<uint64_t>& counter) {
    counter.fetch_add(1, std::memory_order_relaxed);
  }

  // One authenticated GET with its retries: a 200 with a JSON body, or the error the last
  // attempt maps to. `expected` names what the body should be, for error messages.
  //
  // Attempts repeat while they fail with a retryable status (429, 503, 504) or a transport
  // failure before any response byte, and retry_ allows another before `deadline`. A 401 is
  // repeated once, at once, with a token fetched anew (not counted against max_attempts).
  absl::StatusOr<Exchange> Get(const std::string& url, absl::Time deadline,
                               absl::string_view expected) {
    Exchange exchange;
    exchange.client_request_id = NewClientRequestId();  // the same for every attempt
    bool token_renewed = false;
    int requests_sent = 0;
    for (int attempt = 1;;) {
      // Each attempt asks again: after a wait the cached token may be due for refresh, and
      // after a 401 it has been dropped.
      absl::StatusOr<AccessToken> token = credential_->GetToken(deadline);
      if (!token.ok()) return token.status();

      HttpRequest request;
      request.method = "GET";
      request.url = url;
      request.headers = {{"Authorization", absl::StrCat("Bearer ", token->token)},
                         {"Accept", "application/json"},
                         {"client-request-id", exchange.client_request_id}};
      if (requests_sent > 0) {
        request.headers.emplace_back("Retry-Attempt", absl::StrCat(requests_sent));
        Increment(counters_.retries);
      }
      request.deadline = deadline;
      ++requests_sent;
      Increment(counters_.http_requests);
      absl::StatusOr<HttpResponse> response = transport_->Send(request);

      if (!response.ok()) {
        absl::Status error = TransportError(response.status());
        if (!IsRetryableBeforeResponse(response.status()) ||
            !retry_.WaitBeforeRetry(attempt, std::nullopt, deadline)) {
          return error;
        }
        ++attempt;
        continue;
      }

      exchange.response = *std::move(response);
      const long status = exchange.response.status;
      if (status == 429) Increment(counters_.throttled);
      if (status >= 500 && status <= 599) Increment(counters_.server_errors);
      if (status == 200) {
        if (!IsJsonContentType(exchange.response)) {
          return BadBody(exchange, expected,
                         absl::InvalidArgumentError(absl::StrCat(
                             "Content-Type ", *exchange.response.Header("content-type"))));
        }
        return exchange;
      }
      if (status == 401 && !token_renewed) {
        // Graph refused a token we took for valid (revoked, or our clock is off): drop it and,
        // time permitting, try once more with a new one. A second 401 is the caller's error;
        // that token stays cached, so the next call starts with it rather than fetch yet
        // another.
        credential_->Invalidate(token->token);
        token_renewed = true;
        if (retry_.Fits(absl::ZeroDuration(), deadline)) {
          Increment(counters_.token_refreshes);
          continue;
        }
      }
      const std::optional<absl::Duration> retry_after = RetryAfterOf(exchange.response);
      absl::Status error = GraphError(exchange, retry_after);
      if (!IsRetryableHttpStatus(status) ||
          !retry_.WaitBeforeRetry(attempt, retry_after, deadline)) {
        return error;
      }
      ++attempt;
    }
  }

  // How long Graph asked us to wait, if it did. An HTTP-date counts from the response's own
  // Date when it has one, so the wait does not depend on how far our clock is from Graph's;
  // otherwise from the clock's now.
  std::optional<absl::Duration> RetryAfterOf(const HttpResponse& response) const {
    const std::optional<std::string> header = response.Header("retry-after");
    if (!header.has_value()) return std::nullopt;
    absl::Time now = clock_->Now();
    if (auto date = response.Header("date")) {
      if (auto t = ParseHttpDate(*date)) now = *t;
    }
    return ParseRetryAfter(*header, now);
  }

  // What Graph said about an exchange, for ErrorInfo metadata: its error body when it sent
  // one, else its headers.
  static common::ErrorDetails GraphDetails(const Exchange& exchange, absl::string_view reason,
                                   const GraphErrorBody& body) {
    const HttpResponse& response = exchange.response;
    common::ErrorDetails details;
    details.reason = std::string(reason);
    auto& metadata = details.metadata;
    metadata[std::string(common::meta::kHttpStatus)] = absl::StrCat(response.status);
    if (!body.code.empty()) metadata[std::string(common::meta::kGraphCode)] = body.code;
    std::string request_id = body.request_id;
    if (request_id.empty()) request_id = response.Header("request-id").value_or("");
    if (!request_id.empty()) metadata[std::string(common::meta::kGraphRequestId)] = request_id;
    metadata[std::string(common::meta::kGraphClientRequestId)] =
        body.client_request_id.empty() ? exchange.client_request_id : body.client_request_id;
    std::string date = body.date;
    if (date.empty()) date = response.Header("date").value_or("");
    if (!date.empty()) metadata[std::string(common::meta::kGraphDate)] = date;
    return details;
  }

  // A 200 whose body is not what Graph documents. Counted in bad_responses.
  absl::Status BadBody(const Exchange& exchange, absl::string_view expected,
                       const absl::Status& why) {
    return BadResponse(exchange, absl::StrCat("Graph returned a body that is not ", expected,
                                              ": ", why.message()));
  }

  // INTERNAL GRAPH_BAD_RESPONSE about `exchange`. Counted in bad_responses.
  absl::Status BadResponse(const Exchange& exchange, absl::string_view message) {
    Increment(counters_.bad_responses);
    return common::MakeError(absl::StatusCode::kInternal, message,
                     GraphDetails(exchange, common::reason::kGraphBadResponse, {}));
  }

  // A non-200 answer from Graph as a canonical status with ErrorDetails; RetryInfo holds
  // `retry_after`, Graph's own delay, uncapped.
  static absl::Status GraphError(const Exchange& exchange,
                                 std::optional<absl::Duration> retry_after) {
    const HttpResponse& response = exchange.response;
    GraphErrorBody body;
    const bool has_body = ParseGraphErrorBody(response.body, &body);
    const std::string said =
        has_body ? absl::StrCat("HTTP ", response.status, " (", body.code, ": ", body.message, ")")
                 : absl::StrCat("HTTP ", response.status, " (no Graph error body)");

    const auto error = [&](absl::StatusCode code, absl::string_view reason,
                           absl::string_view message) {
      common::ErrorDetails details = GraphDetails(exchange, reason, body);
      details.retry_after = retry_after;
      return common::MakeError(code, message, details);
    };
    const long status = response.status;
    if (status == 400) {
      return error(absl::StatusCode::kInvalidArgument, common::reason::kGraphBadRequest,
                   absl::StrCat("Graph rejected the request: ", said));
    }
    if (status == 401) {
      return error(absl::StatusCode::kFailedPrecondition, common::reason::kGraphUnauthorized,
                   absl::StrCat("Graph did not accept Rollcall's access token: ", said));
    }
    if (status == 403) {
      return error(absl::StatusCode::kPermissionDenied, common::reason::kGraphForbidden,
                   absl::StrCat("Graph denied access to the attendance report: ", said, ".",
                                kForbiddenHint));
    }
    if (status == 404) {
      return error(absl::StatusCode::kNotFound, common::reason::kReportNotFound,
                   absl::StrCat("Graph found no such user, meeting or attendance report: ",
                                said));
    }
    if (status == 429) {
      return error(absl::StatusCode::kResourceExhausted, common::reason::kGraphThrottled,
                   absl::StrCat("Graph throttled the request: ", said));
    }
    if (status >= 500 && status <= 599) {
      return error(absl::StatusCode::kUnavailable, common::reason::kGraphUnavailable,
                   absl::StrCat("Graph is unavailable: ", said));
    }
    return error(absl::StatusCode::kUnknown, common::reason::kGraphError,
                 absl::StrCat("Graph answered with an unexpected status: ", said));
  }

  // A transport failure, counted: an oversized body is a bad response; a body cut short is
  // UNAVAILABLE with its own message; the code stays DEADLINE_EXCEEDED when time ran out;
  // anything else means Graph could not be reached.
  absl::Status TransportError(const absl::Status& status) {
    if (status.code() == absl::StatusCode::kResourceExhausted) {
      Increment(counters_.bad_responses);
      return common::MakeError(absl::StatusCode::kInternal,
                       absl::StrCat("Graph's response is too large: ", status.message()),
                       {std::string(common::reason::kGraphBadResponse), {}, std::nullopt});
    }
    Increment(counters_.transport_errors);
    if (GetTransportFailure(status) == TransportFailure::kTruncatedBody) {
      return common::MakeError(absl::StatusCode::kUnavailable,
                       absl::StrCat("Graph closed the connection before the whole body "
                                    "arrived: ", status.message()),
                       {std::string(common::reason::kGraphUnavailable), {}, std::nullopt});
    }
    const absl::StatusCode code = status.code() == absl::StatusCode::kDeadlineExceeded
                                      ? absl::StatusCode::kDeadlineExceeded
                                      : absl::StatusCode::kUnavailable;
    return common::MakeError(code, absl::StrCat("could not reach Graph: ", status.message()),
                     {std::string(common::reason::kGraphUnavailable), {}, std::nullopt});
  }

  const std::string base_url_;
  const std::string origin_;
  const std::shared_ptr<HttpTransport> transport_;
  const std::shared_ptr<TokenCredential> credential_;
  const common::Clock* const clock_;
  const RetryPolicy retry_;
  Counters counters_;
};

}  // namespace

std::unique_ptr<GraphClient> MakeGraphClient(const GraphClientOptions& options,
                                             std::shared_ptr<HttpTransport> transport,
                                             std::shared_ptr<TokenCredential> credential,
                                             const common::Clock* clock) {
  return std::make_unique<GraphClientImpl>(options, std::move(transport), std::move(credential),
                                           clock != nullptr ? clock : common::SystemClock());
}

std::string EncodePathSegment(absl::string_view segment) {
  // "." and ".." are dot-segments: a URL parser (libcurl's among them) would resolve them and
  // climb the path. Encoded dots are the same characters to Graph but no longer a dot-segment.
  if (segment == "." || segment == "..") return segment.size() == 1 ? "%2E" : "%2E%2E";
  return PercentEncode(segment);
}

}  // namespace rollcall::graph
