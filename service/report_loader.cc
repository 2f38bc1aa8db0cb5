#include "service/report_loader.h"

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/error_details.h"
#include "google/protobuf/arena.h"
#include "graph_client/trace_context.h"

namespace rollcall::service {
namespace {

absl::Time ToTime(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

absl::string_view ViewName(bool with_records) { return with_records ? "full" : "basic"; }

}  // namespace

void SetTimestamp(absl::Time time, google::protobuf::Timestamp* ts) {
  const int64_t seconds = absl::ToUnixSeconds(time);
  ts->set_seconds(seconds);
  ts->set_nanos(static_cast<int32_t>((time - absl::FromUnixSeconds(seconds)) /
                                     absl::Nanoseconds(1)));
}

CachedReport SerializeMessage(absl::string_view key, const google::protobuf::MessageLite& response,
                              absl::Time fetch_time, absl::Duration ttl) {
  return CachedReport::Make(
      key, response.ByteSizeLong(),
      [&response](uint8_t* out) { response.SerializeWithCachedSizesToArray(out); }, fetch_time,
      ttl);
}

absl::Status ShuttingDownError() {
  return common::MakeError(absl::StatusCode::kUnavailable,
                          "the server is shutting down; retry on another replica",
                          {std::string(common::reason::kShuttingDown), {}, std::nullopt});
}

absl::Duration ReportTtl(const rollcall::v1::MeetingAttendanceReport& report, absl::Time now,
                         const TtlPolicy& policy) {
  if (!report.has_meeting_end_date_time()) return policy.ttl_recent;
  const absl::Time ended = ToTime(report.meeting_end_date_time());
  return now - ended >= policy.recent_report_age ? policy.ttl : policy.ttl_recent;
}

CachedReport SerializeReport(absl::string_view key, rollcall::v1::MeetingAttendanceReport* report,
                             absl::Time fetch_time, absl::Duration ttl) {
  // The response lives where the report does, so that taking the report in swaps pointers.
  google::protobuf::Arena* const arena = report->GetArena();
  rollcall::v1::GetAttendanceReportResponse local;
  rollcall::v1::GetAttendanceReportResponse* const response =
      arena != nullptr
          ? google::protobuf::Arena::CreateMessage<rollcall::v1::GetAttendanceReportResponse>(arena)
          : &local;
  response->mutable_report()->Swap(report);
  SetTimestamp(fetch_time, response->mutable_graph_fetch_time());
  return CachedReport::Make(
      key, response->ByteSizeLong(),
      [response](uint8_t* out) { response->SerializeWithCachedSizesToArray(out); }, fetch_time,
      ttl);
}

std::string GraphErrorLabel(const std::string& reason) {
  if (reason.empty()) return "UNSPECIFIED";
  static constexpr absl::string_view kKnown[] = {
      common::reason::kReportNotFound,      common::reason::kMeetingNotFound,
      common::reason::kReportTooLarge,      common::reason::kInvalidId,
      common::reason::kGraphBadRequest,     common::reason::kGraphUnauthorized,
      common::reason::kGraphForbidden,      common::reason::kGraphThrottled,
      common::reason::kGraphUnavailable,    common::reason::kGraphError,
      common::reason::kGraphBadResponse,    common::reason::kCredentialsRejected,
      common::reason::kCredentialsMissing,  common::reason::kTokenEndpointError};
  for (absl::string_view known : kKnown) {
    if (reason == known) return reason;
  }
  return "OTHER";
}

ReportLoader::ReportLoader(std::shared_ptr<graph::GraphClient> graph, const TtlPolicy& ttl,
                           const common::Clock* clock, Logger* logger)
    : graph_(std::move(graph)), ttl_(ttl), clock_(clock), logger_(logger) {}

absl::StatusOr<CachedReport> ReportLoader::Run(
    absl::string_view what, std::vector<std::pair<absl::string_view, absl::string_view>> ids,
    absl::Time deadline, const std::function<absl::StatusOr<Fetched>()>& fetch) {
  if (abandoned_.load(std::memory_order_acquire)) return ShuttingDownError();
  const absl::Time start = clock_->Now();
  if (start >= deadline) {
    // The load waited in the executor's queue past the caller's deadline: don't call Graph.
    return absl::DeadlineExceededError("the deadline passed before Graph could be called");
  }
  graph_fetches_.fetch_add(1, std::memory_order_relaxed);
  absl::StatusOr<Fetched> fetched = fetch();
  const double latency_ms = absl::ToDoubleMilliseconds(clock_->Now() - start);
  std::vector<std::string> truncated;
  truncated.reserve(ids.size());
  std::vector<LogField> fields;
  for (const auto& [name, value] : ids) {
    truncated.push_back(TruncateForLog(value));
    fields.emplace_back(name, truncated.back());
  }
  // The caller's trace, when it sent one (the load runs in its trace context).
  const absl::string_view trace_id = graph::TraceIdOf(graph::CurrentTraceparent());

  if (!fetched.ok()) {
    const absl::Status& status = fetched.status();
    graph_errors_.fetch_add(1, std::memory_order_relaxed);
    const common::ErrorDetails details = common::GetErrorDetails(status);
    CountError(details.reason);
    const auto meta = [&details](absl::string_view key) -> std::string {
      const auto it = details.metadata.find(std::string(key));
      return it == details.metadata.end() ? std::string() : it->second;
    };
    const std::string code = absl::StatusCodeToString(status.code());
    const std::string graph_code = meta(common::meta::kGraphCode);
    // What the caller also receives in ErrorInfo, for a support case to cite.
    const std::string request_id = meta(common::meta::kGraphRequestId);
    const std::string client_request_id = meta(common::meta::kGraphClientRequestId);
    int64_t http_status = 0;
    (void)absl::SimpleAtoi(meta(common::meta::kHttpStatus), &http_status);
    const std::string error = TruncateForLog(status.message(), 512);
    fields.insert(fields.end(), {{"call", what},
                                 {"code", code},
                                 {"reason", details.reason},
                                 {"graph_code", graph_code},
                                 {"graph_request_id", request_id},
                                 {"graph_client_request_id", client_request_id},
                                 {"http_status", http_status},
                                 {"error", error},
                                 {"latency_ms", latency_ms}});
    if (!trace_id.empty()) fields.emplace_back("trace_id", trace_id);
    logger_->Warn("graph fetch failed", fields);
    return status;
  }
  fields.emplace_back("call", what);
  for (const auto& [name, value] : fetched->log_fields) fields.emplace_back(name, value);
  for (const auto& [name, count] : fetched->log_counts) fields.emplace_back(name, count);
  fields.emplace_back("bytes", static_cast<int64_t>(fetched->entry.bytes().size()));
  fields.emplace_back("latency_ms", latency_ms);
  if (!trace_id.empty()) fields.emplace_back("trace_id", trace_id);
  logger_->Info("graph fetch", fields);
  return std::move(fetched->entry);
}

absl::StatusOr<CachedReport> ReportLoader::Load(absl::string_view key,
                                                const graph::ReportRef& ref, bool with_records,
                                                absl::Time deadline, graph::GraphClient* graph) {
  if (graph == nullptr) graph = graph_.get();
  return Run(
      "report",
      {{"user_id", ref.user_id},
       {"meeting_id", ref.meeting_id},
       {"report_id", ref.report_id},
       {"view", ViewName(with_records)}},
      deadline, [&]() -> absl::StatusOr<Fetched> {
        // The report is built in an arena and dropped with it once serialized: one allocation
        // per few kilobytes instead of one per record, interval and string.
        google::protobuf::Arena arena;
        auto* const report =
            google::protobuf::Arena::CreateMessage<rollcall::v1::MeetingAttendanceReport>(&arena);
        absl::Status status = graph->GetAttendanceReport(ref, with_records, deadline, report);
        if (!status.ok()) return status;
        const absl::Time fetched = clock_->Now();
        const absl::Duration ttl = ReportTtl(*report, fetched, ttl_);
        const int64_t records = report->attendance_records_size();
        Fetched out{SerializeReport(key, report, fetched, ttl), {}};
        out.log_fields = {{"ttl", absl::FormatDuration(ttl)}};
        out.log_counts = {{"records", records}};
        return out;
      });
}

absl::StatusOr<CachedReport> ReportLoader::LoadReportsList(absl::string_view key,
                                                           const graph::MeetingRef& ref,
                                                           absl::Duration ttl,
                                                           absl::Time deadline) {
  return Run("reports_list", {{"user_id", ref.user_id}, {"meeting_id", ref.meeting_id}},
             deadline, [&]() -> absl::StatusOr<Fetched> {
               // On an arena, like a report: what Graph's answer costs counts against
               // max_report_memory as it is built.
               google::protobuf::Arena arena;
               auto& response = *google::protobuf::Arena::CreateMessage<
                   rollcall::v1::ListAttendanceReportsResponse>(&arena);
               absl::Status status = graph_->ListAttendanceReports(ref, deadline, &response);
               if (!status.ok()) return status;
               const absl::Time fetched = clock_->Now();
               SetTimestamp(fetched, response.mutable_graph_fetch_time());
               Fetched out{SerializeMessage(key, response, fetched, ttl), {}};
               out.log_counts = {{"reports", response.reports_size()}};
               return out;
             });
}

absl::StatusOr<CachedReport> ReportLoader::LoadMeeting(absl::string_view key,
                                                       absl::string_view user_id,
                                                       absl::string_view join_web_url,
                                                       absl::Duration ttl, absl::Time deadline) {
  return Run("meeting_lookup", {{"user_id", user_id}, {"join_web_url", join_web_url}}, deadline,
             [&]() -> absl::StatusOr<Fetched> {
               google::protobuf::Arena arena;
               auto& response = *google::protobuf::Arena::CreateMessage<
                   rollcall::v1::ResolveOnlineMeetingResponse>(&arena);
               absl::Status status = graph_->FindOnlineMeeting(user_id, join_web_url, deadline,
                                                               response.mutable_meeting());
               if (!status.ok()) return status;
               const absl::Time fetched = clock_->Now();
               SetTimestamp(fetched, response.mutable_graph_fetch_time());
               Fetched out{SerializeMessage(key, response, fetched, ttl), {}};
               out.log_fields = {{"meeting_id", TruncateForLog(response.meeting().id())}};
               return out;
             });
}

void ReportLoader::CountError(const std::string& reason) {
  std::string label = GraphErrorLabel(reason);
  common::MutexLock lock(&mu_);
  ++errors_by_reason_[std::move(label)];
}

ReportLoader::Stats ReportLoader::GetStats() const {
  Stats stats;
  stats.graph_fetches = graph_fetches_.load(std::memory_order_relaxed);
  stats.graph_errors = graph_errors_.load(std::memory_order_relaxed);
  {
    common::MutexLock lock(&mu_);
    stats.graph_errors_by_reason.assign(errors_by_reason_.begin(), errors_by_reason_.end());
  }
  std::sort(stats.graph_errors_by_reason.begin(), stats.graph_errors_by_reason.end());
  return stats;
}

}  // namespace rollcall::service
