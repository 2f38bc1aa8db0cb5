// GraphClient over the Graph stub stack: URLs, nextLink pages, body and error mapping.

#include "graph_client/graph_client.h"

#include <cstddef>
#include <initializer_list>
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
#include "graph_client/trace_context.h"
#include "graph_client/url_encoding.h"

namespace rollcall::graph {
namespace {

// @odata.nextLink pages followed at most after the first body, so a body that links to itself
// cannot keep a call going until its deadline.
constexpr int kMaxPages = 1000;

// Endpoint names for metrics (GraphCallRecord::endpoint).
constexpr absl::string_view kReportEndpoint = "attendance_report";
constexpr absl::string_view kRecordsPageEndpoint = "attendance_records_page";
constexpr absl::string_view kReportsListEndpoint = "attendance_reports_list";
constexpr absl::string_view kMeetingLookupEndpoint = "online_meeting_lookup";

// A 403 on a webinar's or town hall's reports. Graph's pages for the /solutions/virtualEvents
// paths name the artifact permission (or its resource-specific form for these events) and the
// organizer rule, and no application access policy.
constexpr absl::string_view kVirtualEventForbiddenHint =
    "Rollcall's app needs the OnlineMeetingArtifact.Read.All application permission with admin "
    "consent (or OnlineMeetingArtifact.Read.Chat granted by resource-specific consent, which "
    "covers webinar and town hall reports); Graph lets only the event's organizer or a "
    "co-organizer read its attendance reports.";

// A 403 on the join-link lookup: another permission than the reports'.
constexpr absl::string_view kOnlineMeetingsForbiddenHint =
    "Looking a meeting up by its join link needs the OnlineMeetings.Read.All application "
    "permission with admin consent (OnlineMeetingArtifact.Read.All covers only reports), and a "
    "Teams application access policy (New-CsApplicationAccessPolicy, "
    "Grant-CsApplicationAccessPolicy) that covers the user. Policy changes can take 30 minutes "
    "to apply.";

// What differs between the owners of attendance reports: where Graph keeps them, the request
// fields that name their IDs (for INVALID_ID), and how a 403 or 404 on them reads.
struct SourceShape {
  absl::string_view collection;     // before the owner's ID
  absl::string_view children;       // between the owner's ID and the meeting's
  absl::string_view owner_field;    // the request field of ReportRef::user_id
  absl::string_view meeting_field;  // ... and of ReportRef::meeting_id
  GraphCallWording report;          // GET one report
  GraphCallWording reports;         // list the reports
};

constexpr SourceShape kOnlineMeetingShape = {
    "/users/", "/onlineMeetings/", "user_id", "meeting_id", kAttendanceReportWording,
    {"the meeting's attendance reports", common::reason::kMeetingNotFound,
     "no such user or meeting", kMeetingArtifactsForbiddenHint}};

constexpr SourceShape kWebinarShape = {
    "/solutions/virtualEvents/webinars/", "/sessions/", "virtual_event_session.event_id",
    "virtual_event_session.session_id",
    {"the webinar session's attendance report", common::reason::kReportNotFound,
     "no such webinar, session or attendance report", kVirtualEventForbiddenHint},
    {"the webinar session's attendance reports", common::reason::kMeetingNotFound,
     "no such webinar or session", kVirtualEventForbiddenHint}};

constexpr SourceShape kTownHallShape = {
    "/solutions/virtualEvents/townhalls/", "/sessions/", "virtual_event_session.event_id",
    "virtual_event_session.session_id",
    {"the town hall session's attendance report", common::reason::kReportNotFound,
     "no such town hall, session or attendance report", kVirtualEventForbiddenHint},
    {"the town hall session's attendance reports", common::reason::kMeetingNotFound,
     "no such town hall or session", kVirtualEventForbiddenHint}};

// A 403 or 404 on /me: Graph lets only a meeting's organizer read its attendance reports.
constexpr absl::string_view kMeForbiddenHint =
    "Only the meeting's organizer can read its attendance reports, and the signed-in user is "
    "not this meeting's organizer (or the delegated permission OnlineMeetingArtifact.Read.All "
    "is missing from the user's token).";

constexpr SourceShape kMeShape = {
    "/me", "/onlineMeetings/", "user_id", "meeting_id",
    {"the signed-in user's meeting's attendance report", common::reason::kReportNotFound,
     "no such meeting or attendance report of the signed-in user (only the meeting's organizer "
     "can read its attendance reports)",
     kMeForbiddenHint},
    {"the signed-in user's meeting's attendance reports", common::reason::kMeetingNotFound,
     "no such meeting of the signed-in user (only the meeting's organizer can read its "
     "attendance reports)",
     kMeForbiddenHint}};

// INVALID_ARGUMENT INVALID_ID naming the first empty ID ({request field, value}), else OK. An
// empty segment would make Graph read another path (or list, not get), so none is sent.
absl::Status RequireIds(
    std::initializer_list<std::pair<absl::string_view, absl::string_view>> ids) {
  for (const auto& [field, value] : ids) {
    if (!value.empty()) continue;
    return common::MakeError(
        absl::StatusCode::kInvalidArgument, absl::StrCat(field, " is empty"),
        {std::string(common::reason::kInvalidId),
         {{std::string(common::meta::kField), std::string(field)}},
         std::nullopt});
  }
  return absl::OkStatus();
}

// The source's shape, or INVALID_ARGUMENT for a ReportSource outside the enum (never read as
// some default source: that would read another path).
absl::StatusOr<const SourceShape*> CheckSource(ReportSource source) {
  switch (source) {
    case ReportSource::kOnlineMeeting:
      return &kOnlineMeetingShape;
    case ReportSource::kWebinar:
      return &kWebinarShape;
    case ReportSource::kTownHall:
      return &kTownHallShape;
    case ReportSource::kMe:
      return &kMeShape;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown ReportSource ", static_cast<int>(source)));
}

// The shape of a meeting's source once its IDs are known not to be empty: INVALID_ARGUMENT
// otherwise (INVALID_ID naming the source's request field).
absl::StatusOr<const SourceShape*> ShapeFor(ReportSource source, absl::string_view owner_id,
                                            absl::string_view meeting_id) {
  absl::StatusOr<const SourceShape*> shape = CheckSource(source);
  if (!shape.ok()) return shape;
  absl::Status ids =
      source == ReportSource::kMe
          ? RequireIds({{(*shape)->meeting_field, meeting_id}})
          : RequireIds({{(*shape)->owner_field, owner_id}, {(*shape)->meeting_field, meeting_id}});
  if (!ids.ok()) return ids;
  return shape;
}

// "/users/{user}/onlineMeetings/{meeting}/attendanceReports" or the session's, each ID one
// percent-encoded segment.
std::string ReportsPath(const SourceShape& shape, absl::string_view owner_id,
                        absl::string_view meeting_id) {
  if (&shape == &kMeShape) {
    return absl::StrCat(shape.collection, shape.children, EncodePathSegment(meeting_id),
                        "/attendanceReports");
  }
  return absl::StrCat(shape.collection, EncodePathSegment(owner_id), shape.children,
                      EncodePathSegment(meeting_id), "/attendanceReports");
}

// One paged read: the first GET, then every @odata.nextLink page its bodies name.
struct PagedRead {
  std::string url;
  absl::string_view first_endpoint;
  absl::string_view page_endpoint;
  // What the first body and the pages after it must be, and the link's name, for messages.
  absl::string_view first_expected;
  absl::string_view page_expected;
  absl::string_view link_name;
  const GraphCallWording* wording = nullptr;
  // Bound on the bodies together (REPORT_TOO_LARGE beyond), or none.
  std::optional<std::size_t> max_bytes;
  // What the parsers may build (REPORT_TOO_LARGE beyond), and what the bounds speak of.
  LoadBudget* budget = nullptr;
  absl::string_view subject;
  absl::Time deadline;
};

class GraphClientImpl final : public GraphClient {
 public:
  GraphClientImpl(const GraphClientOptions& options, std::shared_ptr<GraphStub> stub,
                  std::shared_ptr<GraphCounters> counters, const common::Clock* clock)
      : base_url_(StripTrailingSlashes(options.base_url)),
        origin_(UrlOrigin(base_url_)),
        max_report_bytes_(options.max_report_bytes),
        max_report_records_(options.max_report_records),
        max_report_memory_(options.max_report_memory),
        stub_(std::move(stub)),
        counters_(std::move(counters)),
        clock_(clock) {}

  using GraphClient::GetAttendanceReport;

  absl::Status GetAttendanceReport(const ReportRef& ref, bool with_records, absl::Time deadline,
                                   rollcall::v1::MeetingAttendanceReport* report) override {
    // ParseAttendanceReport clears *report when it starts filling it; an error at any step
    // leaves it empty.
    absl::Status status = FetchReport(ref, with_records, deadline, report);
    if (!status.ok()) report->Clear();
    return status;
  }

  absl::Status ListAttendanceReports(const MeetingRef& ref, absl::Time deadline,
                                     rollcall::v1::ListAttendanceReportsResponse* out) override {
    out->clear_reports();
    absl::Status status = FetchReports(ref, deadline, out);
    if (!status.ok()) out->clear_reports();
    return status;
  }

  absl::Status FindOnlineMeeting(absl::string_view user_id, absl::string_view join_web_url,
                                 absl::Time deadline,
                                 rollcall::v1::OnlineMeeting* meeting) override {
    meeting->Clear();
    absl::Status status = FetchMeeting(user_id, join_web_url, deadline, meeting);
    if (!status.ok()) meeting->Clear();
    return status;
  }

  GraphClientStats Stats() const override { return counters_->Snapshot(); }

 private:
  // A 200 from Graph with a JSON body, and the client-request-id it was asked with.
  struct Exchange {
    HttpResponse response;
    std::string client_request_id;
  };

  absl::Status FetchReport(const ReportRef& ref, bool with_records, absl::Time deadline,
                           rollcall::v1::MeetingAttendanceReport* report) {
    absl::StatusOr<const SourceShape*> shape = ShapeFor(ref.source, ref.user_id, ref.meeting_id);
    if (!shape.ok()) return shape.status();
    absl::Status ids = RequireIds({{"report_id", ref.report_id}});
    if (!ids.ok()) return ids;

    PagedRead read;
    read.url = absl::StrCat(base_url_, ReportsPath(**shape, ref.user_id, ref.meeting_id), "/",
                            EncodePathSegment(ref.report_id),
                            with_records ? "?$expand=attendanceRecords" : "");
    read.first_endpoint = kReportEndpoint;
    read.page_endpoint = kRecordsPageEndpoint;
    read.first_expected = "a meetingAttendanceReport";
    read.page_expected = "an attendanceRecord page";
    read.link_name = "attendanceRecords@odata.nextLink";
    read.wording = &(*shape)->report;
    read.max_bytes = max_report_bytes_;
    LoadBudget budget = Budget();
    read.budget = &budget;
    read.subject = "the attendance report";
    read.deadline = deadline;
    return ReadPages(
               read,
               [&](absl::string_view body, std::string* next_link) {
                 return ParseAttendanceReport(body, report, next_link, &budget);
               },
               [&](absl::string_view body, std::string* next_link) {
                 return ParseAttendanceRecordsPage(body, report, next_link, &budget);
               })
        .status();
  }

  absl::Status FetchReports(const MeetingRef& ref, absl::Time deadline,
                            rollcall::v1::ListAttendanceReportsResponse* out) {
    absl::StatusOr<const SourceShape*> shape = ShapeFor(ref.source, ref.user_id, ref.meeting_id);
    if (!shape.ok()) return shape.status();

    PagedRead read;
    read.url = absl::StrCat(base_url_, ReportsPath(**shape, ref.user_id, ref.meeting_id));
    read.first_endpoint = read.page_endpoint = kReportsListEndpoint;
    read.first_expected = read.page_expected = "a meetingAttendanceReport collection";
    read.link_name = "@odata.nextLink";
    read.wording = &(*shape)->reports;
    LoadBudget budget = Budget();
    read.budget = &budget;
    read.subject = "the meeting's list of attendance reports";
    read.deadline = deadline;
    const auto parse = [&](absl::string_view body, std::string* next_link) {
      return ParseAttendanceReportsPage(body, out->mutable_reports(), next_link, &budget);
    };
    return ReadPages(read, parse, parse).status();
  }

  absl::Status FetchMeeting(absl::string_view user_id, absl::string_view join_web_url,
                            absl::Time deadline, rollcall::v1::OnlineMeeting* meeting) {
    absl::Status ids = RequireIds({{"user_id", user_id}, {"join_web_url", join_web_url}});
    if (!ids.ok()) return ids;

    // The user's ID and the organizer rule, never the link: a join link lets anyone who holds
    // it into the meeting, so it stays out of messages and logs.
    const std::string not_found =
        absl::StrCat("no meeting of user \"", absl::CHexEscape(user_id),
                     "\" with that join link (user_id must be the meeting's organizer)");
    const GraphCallWording wording = {"the user's online meetings",
                                      common::reason::kMeetingNotFound, not_found,
                                      kOnlineMeetingsForbiddenHint};
    PagedRead read;
    read.url = absl::StrCat(base_url_, "/users/", EncodePathSegment(user_id),
                            "/onlineMeetings?$filter=JoinWebUrl%20eq%20'",
                            JoinWebUrlLiteral(join_web_url), "'");
    read.first_endpoint = read.page_endpoint = kMeetingLookupEndpoint;
    read.first_expected = read.page_expected = "an onlineMeeting collection";
    read.link_name = "@odata.nextLink";
    read.wording = &wording;
    LoadBudget budget = Budget();
    read.budget = &budget;
    read.subject = "the user's list of online meetings";
    read.deadline = deadline;
    google::protobuf::RepeatedPtrField<rollcall::v1::OnlineMeeting> meetings(
        meeting->GetArena());
    const auto parse = [&](absl::string_view body, std::string* next_link) {
      return ParseOnlineMeetingsPage(body, &meetings, next_link, &budget);
    };
    absl::StatusOr<Exchange> last = ReadPages(read, parse, parse);
    if (!last.ok()) return last.status();

    if (meetings.empty()) {
      return common::MakeError(
          absl::StatusCode::kNotFound,
          absl::StrCat("Graph found ", not_found, ": its answer lists no meeting"),
          GraphDetails(last->response, last->client_request_id,
                       common::reason::kMeetingNotFound));
    }
    // Graph documents exactly one meeting per join link. Two would leave the caller's meeting
    // ID a guess, and a wrong ID reads another meeting's attendance: refused, not picked.
    if (meetings.size() > 1) {
      return BadResponse(*last, absl::StrCat("Graph returned ", meetings.size(),
                                             " meetings for one join link, where it documents "
                                             "exactly one; refusing to pick one"));
    }
    if (meetings[0].id().empty()) {
      return BadResponse(*last, "Graph returned a meeting without an id for the join link");
    }
    meeting->Swap(&meetings[0]);
    return absl::OkStatus();
  }

  // Reads `read`: its first GET mapped by `parse_first`, then each page its @odata.nextLink
  // names (only under the base URL's origin, at most kMaxPages) mapped by `parse_page`; each
  // parser is (body, &next_link) -> Status, an error being a body that is not what it should
  // be. Returns the last exchange.
  template <typename ParseFirst, typename ParsePage>
  absl::StatusOr<Exchange> ReadPages(const PagedRead& read, ParseFirst parse_first,
                                     ParsePage parse_page) {
    std::string url = read.url;
    std::size_t bytes = 0;
    for (int page = 0;; ++page) {
      const bool first = page == 0;
      const absl::string_view expected = first ? read.first_expected : read.page_expected;
      absl::StatusOr<Exchange> exchange =
          Get(url, first ? read.first_endpoint : read.page_endpoint, read.deadline, expected,
              *read.wording);
      if (!exchange.ok()) return exchange.status();
      bytes += exchange->response.body.size();
      if (read.max_bytes.has_value() && bytes > *read.max_bytes) {
        return ReportTooLarge(*exchange, bytes, page + 1, *read.max_bytes);
      }
      std::string next_link;
      const absl::Status parsed = first ? parse_first(exchange->response.body, &next_link)
                                        : parse_page(exchange->response.body, &next_link);
      if (!parsed.ok()) {
        if (read.budget != nullptr && read.budget->exceeded != LoadBudget::Exceeded::kNone) {
          return BeyondBudget(*exchange, *read.budget, read.subject, parsed);
        }
        return BadBody(*exchange, expected, parsed);
      }
      if (next_link.empty()) return exchange;
      if (page == kMaxPages) {
        return BadResponse(*exchange, absl::StrCat("Graph's ", read.link_name,
                                                   " chain is longer than ", kMaxPages,
                                                   " pages"));
      }
      // The token goes only where the base URL points: never to a host a body names.
      if (!IsUrlUnderOrigin(next_link, origin_)) {
        return BadResponse(
            *exchange,
            absl::StrCat("Graph returned an ", read.link_name, " outside ", origin_, " (\"",
                         absl::CHexEscape(UrlOrigin(next_link)), "\"); refusing to follow it"));
      }
      url = std::move(next_link);
    }
  }

  // One GET through the stub stack (with its retries and token handling): a 200 with a JSON
  // body, or the error its final answer maps to in `wording`'s words. `expected` names what
  // the body should be, for error messages.
  absl::StatusOr<Exchange> Get(const std::string& url, absl::string_view endpoint,
                               absl::Time deadline, absl::string_view expected,
                               const GraphCallWording& wording) {
    GraphRequest request;
    request.url = url;
    request.endpoint = endpoint;
    request.client_request_id = NewClientRequestId();
    request.deadline = deadline;
    // The caller's trace goes on to Graph with the request made for it.
    if (const absl::string_view traceparent = CurrentTraceparent(); !traceparent.empty()) {
      request.headers.emplace_back("traceparent", std::string(traceparent));
    }
    GraphContext context;
    absl::StatusOr<HttpResponse> response = stub_->Get(context, request);
    if (!response.ok()) return ForCaller(response.status());

    Exchange exchange{*std::move(response), std::move(request.client_request_id)};
    const HttpResponse& answer = exchange.response;
    if (answer.status != 200) {
      return GraphHttpError(answer, exchange.client_request_id,
                            RetryAfterOf(answer, clock_->Now()), wording, context.token_backoff);
    }
    if (!IsJsonContentType(answer)) {
      return BadBody(exchange, expected,
                     absl::InvalidArgumentError(
                         absl::StrCat("Content-Type ", *answer.Header("content-type"))));
    }
    return exchange;
  }

  // FAILED_PRECONDITION REPORT_TOO_LARGE: a report's pages passed max_report_bytes. Not a bad
  // response (Graph sent what it documents), and a retry would fetch as much again.
  static absl::Status ReportTooLarge(const Exchange& exchange, std::size_t bytes, int pages,
                                     std::size_t max_bytes) {
    return common::MakeError(
        absl::StatusCode::kFailedPrecondition,
        absl::StrCat("the attendance report is larger than max_report_bytes (", max_bytes,
                     " bytes): its first ", pages, pages == 1 ? " page holds " : " pages hold ",
                     bytes, " bytes; raise max_report_bytes to serve reports this large"),
        GraphDetails(exchange.response, exchange.client_request_id,
                     common::reason::kReportTooLarge));
  }

  LoadBudget Budget() const {
    LoadBudget budget;
    budget.max_records = max_report_records_;
    budget.max_memory = max_report_memory_;
    return budget;
  }

  // FAILED_PRECONDITION REPORT_TOO_LARGE: reading `subject` passed max_report_records or
  // max_report_memory (`why` says which, and where). Like max_report_bytes: the deployment's
  // bound, not a bad response, and a retry would read as much again.
  static absl::Status BeyondBudget(const Exchange& exchange, const LoadBudget& budget,
                                   absl::string_view subject, const absl::Status& why) {
    const bool records = budget.exceeded == LoadBudget::Exceeded::kRecords;
    const absl::string_view setting = records ? "max_report_records" : "max_report_memory";
    const std::string bound = records ? absl::StrCat(budget.max_records)
                                      : absl::StrCat(budget.max_memory, " bytes");
    return common::MakeError(
        absl::StatusCode::kFailedPrecondition,
        absl::StrCat(subject, " is larger than ", setting, " (", bound, ") allows: ",
                     why.message(), "; reading stopped there. Raise ", setting,
                     " to serve it"),
        GraphDetails(exchange.response, exchange.client_request_id,
                     common::reason::kReportTooLarge));
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
  const std::size_t max_report_bytes_;
  const int64_t max_report_records_;
  const std::size_t max_report_memory_;
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
