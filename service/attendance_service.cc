#include "service/attendance_service.h"

#include <chrono>
#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "graph_client/error_details.h"
#include "grpcpp/support/proto_buffer_reader.h"
#include "service/status_mapping.h"
#include "service/validation.h"

namespace rollcall::service {
namespace {

// GetAttendanceReportResponse.from_cache (field 3, varint) = true. Appended to the cached
// response bytes on a hit; the parser merges it into the message.
constexpr uint8_t kFromCacheTrue[] = {0x18, 0x01};

// The call's deadline; `fallback` when the client set none.
absl::Time CallDeadline(const grpc::CallbackServerContext& context, absl::Time fallback) {
  const std::chrono::system_clock::time_point deadline = context.deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) return fallback;
  return absl::FromChrono(deadline);
}

absl::string_view ViewName(bool with_records) { return with_records ? "full" : "basic"; }

}  // namespace

AttendanceReportServiceImpl::AttendanceReportServiceImpl(const ServiceOptions& options,
                                                         std::shared_ptr<graph::GraphClient> graph,
                                                         ReportCache* cache,
                                                         const graph::Clock* clock, Logger* logger)
    : options_(options), graph_(std::move(graph)), cache_(cache), clock_(clock), logger_(logger) {}

grpc::ServerUnaryReactor* AttendanceReportServiceImpl::GetAttendanceReport(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  requests_.fetch_add(1, std::memory_order_relaxed);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();

  rollcall::v1::GetAttendanceReportRequest parsed;
  absl::Status status;
  {
    grpc::ByteBuffer bytes(*request);  // shares the slices; the reader needs a mutable buffer
    grpc::ProtoBufferReader reader(&bytes);
    status = ParseRequest(&reader, &parsed);
  }
  if (status.ok()) status = ValidateRequest(parsed);
  if (!status.ok()) {
    invalid_requests_.fetch_add(1, std::memory_order_relaxed);
    if (logger_->Enabled(LogLevel::kDebug)) {
      logger_->Debug("invalid request", {{"peer", context->peer()},
                                         {"error", TruncateForLog(status.message(), 256)}});
    }
    reactor->Finish(ToGrpcStatus(status));
    return reactor;
  }

  const ReportKey key(parsed.user_id(), parsed.meeting_id(), parsed.report_id(), parsed.view());
  if (std::shared_ptr<const CachedReport> hit = cache_->Lookup(key)) {
    cache_hits_.fetch_add(1, std::memory_order_relaxed);
    const grpc::Slice slices[2] = {
        hit->bytes, grpc::Slice(kFromCacheTrue, sizeof(kFromCacheTrue), grpc::Slice::STATIC_SLICE)};
    grpc::ByteBuffer reply(slices, 2);
    response->Swap(&reply);
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  const absl::Time deadline =
      CallDeadline(*context, clock_->Now() + options_.default_deadline);
  graph::ReportRef ref{std::move(*parsed.mutable_user_id()),
                       std::move(*parsed.mutable_meeting_id()),
                       std::move(*parsed.mutable_report_id())};
  const bool with_records = key.with_records();
  cache_->LoadOrJoin(
      key,
      [this, ref = std::move(ref), with_records, deadline] {
        return Load(ref, with_records, deadline);
      },
      // Runs on the executor (or at once, if a load completed since the Lookup). `reactor` and
      // `response` stay valid until Finish, which is the last thing done with them.
      [reactor, response](absl::StatusOr<std::shared_ptr<const CachedReport>> result) {
        if (!result.ok()) {
          reactor->Finish(ToGrpcStatus(result.status()));
          return;
        }
        grpc::ByteBuffer reply(&(*result)->bytes, 1);
        response->Swap(&reply);
        reactor->Finish(grpc::Status::OK);
      });
  return reactor;
}

absl::StatusOr<LoadedReport> AttendanceReportServiceImpl::Load(const graph::ReportRef& ref,
                                                               bool with_records,
                                                               absl::Time deadline) {
  const absl::Time start = clock_->Now();
  if (start >= deadline) {
    // The load waited in the executor's queue past the caller's deadline: don't call Graph.
    return absl::DeadlineExceededError("the deadline passed before Graph could be called");
  }
  graph_fetches_.fetch_add(1, std::memory_order_relaxed);
  absl::StatusOr<rollcall::v1::MeetingAttendanceReport> report =
      graph_->GetAttendanceReport(ref, with_records, deadline);
  const absl::Time fetched = clock_->Now();
  const std::string latency_ms = absl::StrCat(absl::ToInt64Milliseconds(fetched - start));
  const std::string user_id = TruncateForLog(ref.user_id);
  const std::string meeting_id = TruncateForLog(ref.meeting_id);
  const std::string report_id = TruncateForLog(ref.report_id);

  if (!report.ok()) {
    graph_errors_.fetch_add(1, std::memory_order_relaxed);
    const graph::ErrorDetails details = graph::GetErrorDetails(report.status());
    // graph_client's metadata keys are std::string_view (not absl::string_view in Debian's
    // Abseil build).
    const auto meta = [&details](std::string_view key) -> std::string {
      const auto it = details.metadata.find(std::string(key));
      return it == details.metadata.end() ? std::string() : it->second;
    };
    logger_->Warn("graph fetch failed",
                  {{"user_id", user_id},
                   {"meeting_id", meeting_id},
                   {"report_id", report_id},
                   {"view", ViewName(with_records)},
                   {"code", absl::StatusCodeToString(report.status().code())},
                   {"reason", details.reason},
                   {"graph_code", meta(graph::meta::kGraphCode)},
                   {"graph_request_id", meta(graph::meta::kGraphRequestId)},
                   {"http_status", meta(graph::meta::kHttpStatus)},
                   {"error", TruncateForLog(report.status().message(), 512)},
                   {"latency_ms", latency_ms}});
    return report.status();
  }

  const absl::Duration ttl = ReportTtl(*report, fetched, options_.ttl);
  const std::string records = absl::StrCat(report->attendance_records_size());
  LoadedReport loaded = SerializeReport(std::move(*report), fetched, ttl);
  logger_->Info("graph fetch", {{"user_id", user_id},
                                {"meeting_id", meeting_id},
                                {"report_id", report_id},
                                {"view", ViewName(with_records)},
                                {"records", records},
                                {"bytes", absl::StrCat(loaded.bytes.size())},
                                {"ttl", absl::FormatDuration(ttl)},
                                {"latency_ms", latency_ms}});
  return loaded;
}

AttendanceReportServiceImpl::Stats AttendanceReportServiceImpl::GetStats() const {
  Stats stats;
  stats.requests = requests_.load(std::memory_order_relaxed);
  stats.invalid_requests = invalid_requests_.load(std::memory_order_relaxed);
  stats.cache_hits = cache_hits_.load(std::memory_order_relaxed);
  stats.graph_fetches = graph_fetches_.load(std::memory_order_relaxed);
  stats.graph_errors = graph_errors_.load(std::memory_order_relaxed);
  return stats;
}

}  // namespace rollcall::service
