#include "service/attendance_service.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/arena.h"
#include "common/error_details.h"
#include "common/error_details.h"
#include "service/status_mapping.h"
#include "service/validation.h"

namespace rollcall::service {
namespace {

// GetAttendanceReportResponse.from_cache (field 3, varint) = true. Appended to the cached
// response bytes on a hit; the parser merges it into the message.
constexpr uint8_t kFromCache[] = {0x18, 0x01};
// from_cache = true and stale (field 4, varint) = true: a copy past its TTL, served because
// Graph failed.
constexpr uint8_t kFromCacheStale[] = {0x18, 0x01, 0x20, 0x01};

// The call's deadline; `fallback` when the client set none.
absl::Time CallDeadline(const grpc::CallbackServerContext& context, absl::Time fallback) {
  const std::chrono::system_clock::time_point deadline = context.deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) return fallback;
  return absl::FromChrono(deadline);
}

absl::string_view ViewName(bool with_records) { return with_records ? "full" : "basic"; }

// `bytes` followed by the static `suffix`, sharing bytes' buffer.
grpc::ByteBuffer WithSuffix(const grpc::Slice& bytes, const uint8_t* suffix, std::size_t size) {
  const grpc::Slice slices[2] = {bytes, grpc::Slice(suffix, size, grpc::Slice::STATIC_SLICE)};
  return grpc::ByteBuffer(slices, 2);
}

// The label a failed Graph fetch is counted under: its reason when it is one of graph_client's,
// so that the number of label values stays bounded whatever an error carries.
std::string ReasonLabel(const std::string& reason) {
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

absl::Status ShuttingDownError() {
  return common::MakeError(absl::StatusCode::kUnavailable,
                          "the server is shutting down; retry on another replica",
                          {std::string(common::reason::kShuttingDown), {}, std::nullopt});
}

}  // namespace

// The answering side of one call, safe to hold after the call is gone: the first Finish
// through any handle (or the call's OnCancel) sends the reply, later ones do nothing. The call
// stays alive until that first Finish (gRPC calls OnDone only after it), so the winner may
// still use it.
class AttendanceReportServiceImpl::CallHandle {
 public:
  CallHandle(Call* call, std::shared_ptr<std::atomic<bool>> finished)
      : call_(call), finished_(std::move(finished)) {}

  // Replies OK with `reply` as the response bytes.
  void FinishOk(grpc::ByteBuffer reply) const;
  void FinishError(const grpc::Status& status) const;

 private:
  Call* call_;
  std::shared_ptr<std::atomic<bool>> finished_;
};

// One GetAttendanceReport call. Created by the handler, owned by gRPC until OnDone.
class AttendanceReportServiceImpl::Call final : public grpc::ServerUnaryReactor {
 public:
  Call(AttendanceReportServiceImpl* service, grpc::CallbackServerContext* context,
       grpc::ByteBuffer* response)
      : service_(service),
        context_(context),
        response_(response),
        finished_(std::make_shared<std::atomic<bool>>(false)) {
    service_->CallStarted();
  }

  CallHandle handle() { return CallHandle(this, finished_); }

  // Only through a CallHandle that won the race to answer.
  void Send(grpc::ByteBuffer* reply, const grpc::Status& status) {
    if (reply != nullptr) response_->Swap(reply);
    service_->CountReply(status.error_code());
    Finish(status);
  }

  // The client went away, its deadline passed, or the server is cancelling what is left at
  // shutdown. Answer now (nobody will read it) so that the call ends without waiting for its
  // load.
  void OnCancel() override {
    const bool expired = std::chrono::system_clock::now() >= context_->deadline();
    handle().FinishError(expired ? grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                                                "the deadline passed before the answer")
                                 : grpc::Status(grpc::StatusCode::CANCELLED,
                                                "the call was cancelled"));
  }

  void OnDone() override {
    AttendanceReportServiceImpl* service = service_;
    delete this;
    service->CallDone();
  }

 private:
  AttendanceReportServiceImpl* const service_;
  grpc::CallbackServerContext* const context_;
  grpc::ByteBuffer* const response_;
  const std::shared_ptr<std::atomic<bool>> finished_;
};

void AttendanceReportServiceImpl::CallHandle::FinishOk(grpc::ByteBuffer reply) const {
  if (finished_->exchange(true)) return;
  call_->Send(&reply, grpc::Status::OK);
}

void AttendanceReportServiceImpl::CallHandle::FinishError(const grpc::Status& status) const {
  if (finished_->exchange(true)) return;
  call_->Send(nullptr, status);
}

AttendanceReportServiceImpl::AttendanceReportServiceImpl(const ServiceOptions& options,
                                                         std::shared_ptr<graph::GraphClient> graph,
                                                         ReportCache* cache,
                                                         const common::Clock* clock, Logger* logger)
    : options_(options), graph_(std::move(graph)), cache_(cache), clock_(clock), logger_(logger) {}

grpc::ServerUnaryReactor* AttendanceReportServiceImpl::GetAttendanceReport(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  requests_.fetch_add(1, std::memory_order_relaxed);
  Call* call = new Call(this, context, response);
  const CallHandle handle = call->handle();

  if (draining_.load(std::memory_order_acquire)) {
    refused_draining_.fetch_add(1, std::memory_order_relaxed);
    handle.FinishError(ToGrpcStatus(ShuttingDownError()));
    return call;
  }

  // The IDs view the request's own bytes: nothing is copied unless the call misses.
  grpc::Slice request_bytes;
  RequestFields parsed;
  absl::Status status = ParseRequest(*request, &request_bytes, &parsed);
  if (status.ok()) status = ValidateRequest(parsed);
  if (!status.ok()) {
    invalid_requests_.fetch_add(1, std::memory_order_relaxed);
    if (logger_->Enabled(LogLevel::kDebug)) {
      logger_->Debug("invalid request", {{"peer", context->peer()},
                                         {"error", TruncateForLog(status.message(), 256)}});
    }
    handle.FinishError(ToGrpcStatus(status));
    return call;
  }

  const ReportKey key(parsed.user_id, parsed.meeting_id, parsed.report_id, parsed.view);
  if (const CachedReport hit = cache_->Lookup(key)) {
    cache_hits_.fetch_add(1, std::memory_order_relaxed);
    if (hit.negative()) {
      handle.FinishError(ToGrpcStatus(hit.error()));
    } else {
      handle.FinishOk(WithSuffix(hit.bytes(), kFromCache, sizeof(kFromCache)));
    }
    return call;
  }

  const absl::Time deadline =
      CallDeadline(*context, clock_->Now() + options_.default_deadline);
  graph::ReportRef ref{std::string(parsed.user_id), std::string(parsed.meeting_id),
                       std::string(parsed.report_id)};
  const bool with_records = key.with_records();
  cache_->LoadOrJoin(
      key, deadline,
      // Runs with the latest deadline of the callers waiting for it, not only this one's.
      [this, ref = std::move(ref), with_records](absl::string_view key, absl::Time deadline) {
        return Load(key, ref, with_records, deadline);
      },
      // Runs on the executor (or at once: a load finished since the Lookup, or the executor
      // refused this one).
      [handle](absl::StatusOr<CacheResult> result) {
        if (!result.ok()) {
          handle.FinishError(ToGrpcStatus(result.status()));
        } else if (result->stale) {
          handle.FinishOk(
              WithSuffix(result->report.bytes(), kFromCacheStale, sizeof(kFromCacheStale)));
        } else {
          handle.FinishOk(grpc::ByteBuffer(&result->report.bytes(), 1));
        }
      });
  return call;
}

absl::StatusOr<CachedReport> AttendanceReportServiceImpl::Load(absl::string_view key,
                                                               const graph::ReportRef& ref,
                                                               bool with_records,
                                                               absl::Time deadline) {
  if (abandon_loads_.load(std::memory_order_acquire)) return ShuttingDownError();
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
    CountGraphError(details.reason);
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

  const absl::Duration ttl = ReportTtl(*report, fetched, options_.ttl);
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

void AttendanceReportServiceImpl::StartDraining() {
  draining_.store(true, std::memory_order_release);
}

bool AttendanceReportServiceImpl::AwaitNoCallsInFlight(absl::Time deadline) const {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithDeadline(
      absl::Condition(
          +[](const std::size_t* in_flight) { return *in_flight == 0; }, &calls_in_flight_),
      deadline);
}

void AttendanceReportServiceImpl::AbandonPendingLoads() {
  abandon_loads_.store(true, std::memory_order_release);
}

void AttendanceReportServiceImpl::CallStarted() {
  absl::MutexLock lock(&mu_);
  ++calls_in_flight_;
}

void AttendanceReportServiceImpl::CallDone() {
  absl::MutexLock lock(&mu_);
  --calls_in_flight_;
}

void AttendanceReportServiceImpl::CountReply(grpc::StatusCode code) {
  const int index = static_cast<int>(code);
  if (index >= 0 && index < kStatusCodes) {
    replies_by_code_[index].fetch_add(1, std::memory_order_relaxed);
  }
}

void AttendanceReportServiceImpl::CountGraphError(const std::string& reason) {
  std::string label = ReasonLabel(reason);
  absl::MutexLock lock(&mu_);
  ++graph_errors_by_reason_[std::move(label)];
}

AttendanceReportServiceImpl::Stats AttendanceReportServiceImpl::GetStats() const {
  Stats stats;
  stats.requests = requests_.load(std::memory_order_relaxed);
  stats.invalid_requests = invalid_requests_.load(std::memory_order_relaxed);
  stats.cache_hits = cache_hits_.load(std::memory_order_relaxed);
  stats.refused_draining = refused_draining_.load(std::memory_order_relaxed);
  stats.graph_fetches = graph_fetches_.load(std::memory_order_relaxed);
  stats.graph_errors = graph_errors_.load(std::memory_order_relaxed);
  for (int i = 0; i < kStatusCodes; ++i) {
    stats.replies_by_code[i] = replies_by_code_[i].load(std::memory_order_relaxed);
  }
  absl::MutexLock lock(&mu_);
  stats.graph_errors_by_reason.assign(graph_errors_by_reason_.begin(),
                                      graph_errors_by_reason_.end());
  std::sort(stats.graph_errors_by_reason.begin(), stats.graph_errors_by_reason.end());
  stats.calls_in_flight = calls_in_flight_;
  return stats;
}

}  // namespace rollcall::service
