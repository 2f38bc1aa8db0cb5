#include "service/report_loader.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/error_details.h"
#include "google/protobuf/arena.h"

namespace rollcall::service {
namespace {

absl::Time ToTime(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

void SetTimestamp(absl::Time time, google::protobuf::Timestamp* ts) {
  const int64_t seconds = absl::ToUnixSeconds(time);
  ts->set_seconds(seconds);
  ts->set_nanos(static_cast<int32_t>((time - absl::FromUnixSeconds(seconds)) /
                                     absl::Nanoseconds(1)));
}

absl::string_view ViewName(bool with_records) { return with_records ? "full" : "basic"; }

}  // namespace

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
      common::reason::kReportNotFound,      common::reason::kInvalidId,
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

absl::StatusOr<CachedReport> ReportLoader::Load(absl::string_view key,
                                                const graph::ReportRef& ref, bool with_records,
                                                absl::Time deadline) {
  if (abandoned_.load(std::memory_order_acquire)) return ShuttingDownError();
  const absl::Time start = clock_->Now();
  if (start >= deadline) {
    // The load waited in the executor's queue past the caller's deadline: don't call Graph.
    return absl::DeadlineExceededError("the deadline passed before Graph could be called");
  }
  graph_fetches_.fetch_add(1, std::memory_order_relaxed);
  // The report is built in an arena and dropped with it once serialized: one allocation per
  // few kilobytes instead of one per record, interval and string.
  google::protobuf::Arena arena;
  auto* const report =
      google::protobuf::Arena::CreateMessage<rollcall::v1::MeetingAttendanceReport>(&arena);
  const absl::Status fetched_status =
      graph_->GetAttendanceReport(ref, with_records, deadline, report);
  const absl::Time fetched = clock_->Now();
  const std::string latency_ms = absl::StrCat(absl::ToInt64Milliseconds(fetched - start));
  const std::string user_id = TruncateForLog(ref.user_id);
  const std::string meeting_id = TruncateForLog(ref.meeting_id);
  const std::string report_id = TruncateForLog(ref.report_id);

  if (!fetched_status.ok()) {
    graph_errors_.fetch_add(1, std::memory_order_relaxed);
    const common::ErrorDetails details = common::GetErrorDetails(fetched_status);
    CountError(details.reason);
    // graph_client's metadata keys are absl::string_view (not absl::string_view in Debian's
    // Abseil build).
    const auto meta = [&details](absl::string_view key) -> std::string {
      const auto it = details.metadata.find(std::string(key));
      return it == details.metadata.end() ? std::string() : it->second;
    };
    logger_->Warn("graph fetch failed",
                  {{"user_id", user_id},
                   {"meeting_id", meeting_id},
                   {"report_id", report_id},
                   {"view", ViewName(with_records)},
                   {"code", absl::StatusCodeToString(fetched_status.code())},
                   {"reason", details.reason},
                   {"graph_code", meta(common::meta::kGraphCode)},
                   {"graph_request_id", meta(common::meta::kGraphRequestId)},
                   {"http_status", meta(common::meta::kHttpStatus)},
                   {"error", TruncateForLog(fetched_status.message(), 512)},
                   {"latency_ms", latency_ms}});
    return fetched_status;
  }

  const absl::Duration ttl = ReportTtl(*report, fetched, ttl_);
  const std::string records = absl::StrCat(report->attendance_records_size());
  CachedReport loaded = SerializeReport(key, report, fetched, ttl);
  logger_->Info("graph fetch", {{"user_id", user_id},
                                {"meeting_id", meeting_id},
                                {"report_id", report_id},
                                {"view", ViewName(with_records)},
                                {"records", records},
                                {"bytes", absl::StrCat(loaded.bytes().size())},
                                {"ttl", absl::FormatDuration(ttl)},
                                {"latency_ms", latency_ms}});
  return loaded;
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
