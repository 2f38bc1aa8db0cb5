// GraphClient over the Graph stub stack: URLs, nextLink pages, body and error mapping.

#include "graph_client/graph_client.h"

#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/error_details.h"
#include "graph_client/graph_counters.h"
#include "graph_client/graph_errors.h"
#include "graph_client/graph_stub.h"
#include "graph_client/graph_stub_factory.h"
#include "graph_client/json_mapping.h"
#include "graph_client/retry_after.h"
#include "graph_client/url_encoding.h"

namespace rollcall::graph {
namespace {

// attendanceRecords@odata.nextLink pages followed at most, so a body that links to itself
// cannot keep a call going until its deadline.
constexpr int kMaxRecordPages = 1000;

// Endpoint names for metrics (GraphCallRecord::endpoint).
constexpr absl::string_view kReportEndpoint = "attendance_report";
constexpr absl::string_view kRecordsPageEndpoint = "attendance_records_page";

class GraphClientImpl final : public GraphClient {
 public:
  GraphClientImpl(const GraphClientOptions& options, std::shared_ptr<GraphStub> stub,
                  std::shared_ptr<GraphCounters> counters, const common::Clock* clock)
      : base_url_(StripTrailingSlashes(options.base_url)),
        origin_(UrlOrigin(base_url_)),
        stub_(std::move(stub)),
        counters_(std::move(counters)),
        clock_(clock) {}

  using GraphClient::GetAttendanceReport;

  absl::Status GetAttendanceReport(const ReportRef& ref, bool with_records, absl::Time deadline,
                                   rollcall::v1::MeetingAttendanceReport* report) override {
    // Fetch clears *report when it starts filling it (ParseAttendanceReport); an error at any
    // step leaves it empty.
    absl::Status status = Fetch(ref, with_records, deadline, report);
    if (!status.ok()) report->Clear();
    return status;
  }

  absl::Status ListAttendanceReports(const MeetingRef&, absl::Time,
                                     rollcall::v1::ListAttendanceReportsResponse* out) override {
    out->clear_reports();
    return absl::UnimplementedError("ListAttendanceReports: not yet");
  }

  absl::Status FindOnlineMeeting(absl::string_view, absl::string_view, absl::Time,
                                 rollcall::v1::OnlineMeeting* meeting) override {
    meeting->Clear();
    return absl::UnimplementedError("FindOnlineMeeting: not yet");
  }

  GraphClientStats Stats() const override { return counters_->Snapshot(); }

 private:
  // A 200 from Graph with a JSON body, and the client-request-id it was asked with.
  struct Exchange {
    HttpResponse response;
    std::string client_request_id;
  };

  absl::Status Fetch(const ReportRef& ref, bool with_records, absl::Time deadline,
                     rollcall::v1::MeetingAttendanceReport* report) {
    const std::pair<const char*, const std::string*> ids[] = {
        {"user_id", &ref.user_id}, {"meeting_id", &ref.meeting_id}, {"report_id", &ref.report_id}};
    for (const auto& [field, value] : ids) {
      if (!value->empty()) continue;
      return common::MakeError(
          absl::StatusCode::kInvalidArgument, absl::StrCat(field, " is empty"),
          {std::string(common::reason::kInvalidId), {{std::string(common::meta::kField), field}},
           std::nullopt});
    }
    const std::string url = absl::StrCat(
        base_url_, "/users/", EncodePathSegment(ref.user_id), "/onlineMeetings/",
        EncodePathSegment(ref.meeting_id), "/attendanceReports/",
        EncodePathSegment(ref.report_id), with_records ? "?$expand=attendanceRecords" : "");

    absl::StatusOr<Exchange> exchange =
        Get(url, kReportEndpoint, deadline, "a meetingAttendanceReport");
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
      exchange = Get(next_link, kRecordsPageEndpoint, deadline, "an attendanceRecord page");
      if (!exchange.ok()) return exchange.status();
      absl::Status parsed =
          ParseAttendanceRecordsPage(exchange->response.body, report, &next_link);
      if (!parsed.ok()) return BadBody(*exchange, "an attendanceRecord page", parsed);
    }
    return absl::OkStatus();
  }

  // One GET through the stub stack (with its retries and token handling): a 200 with a JSON
  // body, or the error its final answer maps to. `expected` names what the body should be, for
  // error messages.
  absl::StatusOr<Exchange> Get(const std::string& url, absl::string_view endpoint,
                               absl::Time deadline, absl::string_view expected) {
    GraphRequest request;
    request.url = url;
    request.endpoint = endpoint;
    request.client_request_id = NewClientRequestId();
    request.deadline = deadline;
    absl::StatusOr<HttpResponse> response = stub_->Get(request);
    if (!response.ok()) return ForCaller(response.status());

    Exchange exchange{*std::move(response), std::move(request.client_request_id)};
    const HttpResponse& answer = exchange.response;
    if (answer.status != 200) {
      return GraphHttpError(answer, exchange.client_request_id,
                            RetryAfterOf(answer, clock_->Now()));
    }
    if (!IsJsonContentType(answer)) {
      return BadBody(exchange, expected,
                     absl::InvalidArgumentError(
                         absl::StrCat("Content-Type ", *answer.Header("content-type"))));
    }
    return exchange;
  }

  // A 200 whose body is not what Graph documents. Counted in bad_responses.
  absl::Status BadBody(const Exchange& exchange, absl::string_view expected,
                       const absl::Status& why) {
    return BadResponse(exchange, absl::StrCat("Graph returned a body that is not ", expected,
                                              ": ", why.message()));
  }

  // INTERNAL GRAPH_BAD_RESPONSE about `exchange`. Counted in bad_responses.
  absl::Status BadResponse(const Exchange& exchange, absl::string_view message) {
    GraphCounters::Increment(counters_->bad_responses);
    return common::MakeError(absl::StatusCode::kInternal, message,
                             GraphDetails(exchange.response, exchange.client_request_id,
                                          common::reason::kGraphBadResponse));
  }

  const std::string base_url_;
  const std::string origin_;
  const std::shared_ptr<GraphStub> stub_;
  const std::shared_ptr<GraphCounters> counters_;
  const common::Clock* const clock_;
};

}  // namespace

std::unique_ptr<GraphClient> MakeGraphClient(const GraphClientOptions& options,
                                             std::shared_ptr<HttpTransport> transport,
                                             std::shared_ptr<TokenCredential> credential,
                                             const common::Clock* clock) {
  if (clock == nullptr) clock = common::SystemClock();
  auto counters = std::make_shared<GraphCounters>();
  GraphStubOptions stub_options;
  stub_options.retry = options.retry;
  stub_options.observer = options.observer;
  stub_options.counters = counters;
  std::shared_ptr<GraphStub> stub =
      MakeGraphStub(stub_options, std::move(transport), std::move(credential), clock);
  return std::make_unique<GraphClientImpl>(options, std::move(stub), std::move(counters), clock);
}

std::string EncodePathSegment(absl::string_view segment) {
  // "." and ".." are dot-segments: a URL parser (libcurl's among them) would resolve them and
  // climb the path. Encoded dots are the same characters to Graph but no longer a dot-segment.
  if (segment == "." || segment == "..") return segment.size() == 1 ? "%2E" : "%2E%2E";
  return PercentEncode(segment);
}

}  // namespace rollcall::graph
