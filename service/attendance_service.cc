#include "service/attendance_service.h"

#include <chrono>
#include <string>
#include <utility>

#include "absl/time/clock.h"
#include "common/error_details.h"
#include "service/status_mapping.h"
#include "service/validation.h"

namespace rollcall::service {
namespace {

constexpr absl::string_view kMethod = "GetAttendanceReport";

// The call's deadline in the service's clock: what is left of gRPC's deadline (a wall-clock
// instant) added to `arrival` (the service's clock); arrival + `fallback` when the client set
// none.
absl::Time CallDeadline(const grpc::CallbackServerContext& context, absl::Time arrival,
                        absl::Duration fallback) {
  const std::chrono::system_clock::time_point deadline = context.deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) return arrival + fallback;
  return arrival + (absl::FromChrono(deadline) - absl::Now());
}

// `bytes` followed by the static `suffix`, sharing bytes' buffer.
grpc::ByteBuffer WithSuffix(const grpc::Slice& bytes, const ReplySuffix& suffix) {
  const grpc::Slice slices[2] = {
      bytes, grpc::Slice(suffix.data(), suffix.size, grpc::Slice::STATIC_SLICE)};
  return grpc::ByteBuffer(slices, 2);
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
  void FinishOk(grpc::ByteBuffer reply, CacheOutcome outcome) const;
  void FinishError(const grpc::Status& status, CacheOutcome outcome) const;

 private:
  Call* call_;
  std::shared_ptr<std::atomic<bool>> finished_;
};

// One GetAttendanceReport call. Created by the handler, owned by gRPC until OnDone.
class AttendanceReportServiceImpl::Call final : public grpc::ServerUnaryReactor {
 public:
  Call(AttendanceReportServiceImpl* service, grpc::CallbackServerContext* context,
       grpc::ByteBuffer* response, absl::Time arrival)
      : service_(service), context_(context), response_(response), arrival_(arrival) {
    service_->CallStarted();
  }

  // Answers on the handler's thread, before any handle exists: nothing else can answer yet
  // (gRPC calls OnCancel only once the handler has returned the call).
  void FinishNow(grpc::ByteBuffer* reply, const grpc::Status& status, CacheOutcome outcome) {
    local_finished_.store(true, std::memory_order_relaxed);
    answered_on_arrival_.store(true, std::memory_order_relaxed);
    Send(reply, status, outcome);
  }

  // Whether gRPC may run this call's OnDone and OnCancel on the thread that completes the call
  // instead of handing them to its executor (grpc_core::Executor::Run: a futex wake of an
  // executor thread and a context switch to it, per call). Without it every call answered on
  // arrival (cache hits above all) woke an executor thread just to delete the Call: about 0.6
  // voluntary switches per hit, and as many involuntary ones of the thread that polls, which
  // is what put hits at 0.65-0.72 of a bare gRPC server (issue #9).
  //
  // True only for a call answered on arrival (FinishNow): then OnCancel does nothing (the call
  // is finished) and OnDone only deletes the call and decrements an atomic (taking mu_ briefly
  // while a drain waits): trivial reactions that never block, as gRPC requires of an inlineable
  // reactor (CallbackServerContext::DefaultReactor, the baseline's reactor, is inlineable for
  // the same reason). A miss keeps gRPC's default: its OnCancel answers the call (observer,
  // Finish), which stays off gRPC's completion path.
  //
  // gRPC marks this hook "not API" (server_callback.h); `override` makes a gRPC without it fail
  // to compile rather than silently hop threads again. gRPC reads it only once the handler has
  // returned (SetupReactor, then the completion callbacks), after FinishNow wrote it on the
  // handler's thread; relaxed is enough (an atomic only so that TSan, which cannot see the
  // ordering gRPC's uninstrumented core provides, has nothing to report).
  bool InternalInlineable() override {
    return answered_on_arrival_.load(std::memory_order_relaxed);
  }

  // For answers from elsewhere (a load's callback), made by the handler before it returns.
  // The flag they share outlives the call.
  CallHandle handle() {
    if (shared_finished_ == nullptr) {
      shared_finished_ = std::make_shared<std::atomic<bool>>(false);
    }
    return CallHandle(this, shared_finished_);
  }

  // Only through a CallHandle that won the race to answer, or FinishNow.
  void Send(grpc::ByteBuffer* reply, const grpc::Status& status, CacheOutcome outcome) {
    if (reply != nullptr) response_->Swap(reply);
    service_->Answered(status.error_code(), outcome, arrival_);
    Finish(status);
  }

  // The client went away, its deadline passed, or the server is cancelling what is left at
  // shutdown. Answer now (nobody will read it) so that the call ends without waiting for its
  // load. (A call answered on arrival is finished already: only a miss answers here.)
  void OnCancel() override {
    std::atomic<bool>& finished =
        shared_finished_ != nullptr ? *shared_finished_ : local_finished_;
    if (finished.exchange(true)) return;
    const bool expired = std::chrono::system_clock::now() >= context_->deadline();
    Send(nullptr,
         expired ? grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                                "the deadline passed before the answer")
                 : grpc::Status(grpc::StatusCode::CANCELLED, "the call was cancelled"),
         CacheOutcome::kMiss);
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
  const absl::Time arrival_;  // the service's clock
  // Whether the call is answered: local_finished_ until the handler makes a handle (a miss),
  // the shared flag after. Written only on the handler's thread, before gRPC can call
  // OnCancel.
  std::atomic<bool> local_finished_{false};
  std::shared_ptr<std::atomic<bool>> shared_finished_;
  // See InternalInlineable. Written only by FinishNow, on the handler's thread.
  std::atomic<bool> answered_on_arrival_{false};
};

void AttendanceReportServiceImpl::CallHandle::FinishOk(grpc::ByteBuffer reply,
                                                       CacheOutcome outcome) const {
  if (finished_->exchange(true)) return;
  call_->Send(&reply, grpc::Status::OK, outcome);
}

void AttendanceReportServiceImpl::CallHandle::FinishError(const grpc::Status& status,
                                                          CacheOutcome outcome) const {
  if (finished_->exchange(true)) return;
  call_->Send(nullptr, status, outcome);
}

AttendanceReportServiceImpl::AttendanceReportServiceImpl(const ServiceOptions& options,
                                                         std::shared_ptr<graph::GraphClient> graph,
                                                         ReportCache* cache,
                                                         const common::Clock* clock, Logger* logger,
                                                         RpcObserver* observer)
    : options_(options),
      cache_(cache),
      clock_(clock),
      logger_(logger),
      observer_(observer),
      suffixes_(GetCachedReplySuffixes()),
      loader_(std::move(graph), options.ttl, clock, logger) {}

grpc::ServerUnaryReactor* AttendanceReportServiceImpl::GetAttendanceReport(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  // The one reading of the clock on arrival: the lookup, the deadline and the latency use it.
  const absl::Time arrival = clock_->Now();
  counters_.Add(kRequests);
  Call* call = new Call(this, context, response, arrival);

  if (draining_.load(std::memory_order_acquire)) {
    counters_.Add(kRefusedDraining);
    call->FinishNow(nullptr, ToGrpcStatus(ShuttingDownError()), CacheOutcome::kNone);
    return call;
  }

  // The IDs view the request's own bytes: nothing is copied unless the call misses.
  grpc::Slice request_bytes;
  RequestFields parsed;
  absl::Status status = ParseRequest(*request, &request_bytes, &parsed);
  if (status.ok()) status = ValidateRequest(parsed);
  if (!status.ok()) {
    counters_.Add(kInvalidRequests);
    if (logger_->Enabled(LogLevel::kDebug)) {
      logger_->Debug("invalid request", {{"peer", context->peer()},
                                         {"error", TruncateForLog(status.message(), 256)}});
    }
    call->FinishNow(nullptr, ToGrpcStatus(status), CacheOutcome::kNone);
    return call;
  }

  const ReportKey key(parsed.user_id, parsed.meeting_id, parsed.report_id, parsed.view);
  if (const CachedReport hit = cache_->Lookup(key, arrival)) {
    counters_.Add(kCacheHits);
    if (hit.negative()) {
      // The stored google.rpc.Status is the reply's details, as it is.
      call->FinishNow(nullptr, hit.grpc_error(), CacheOutcome::kNegativeHit);
    } else {
      grpc::ByteBuffer reply = WithSuffix(hit.bytes(), suffixes_.from_cache);
      call->FinishNow(&reply, grpc::Status::OK, CacheOutcome::kHit);
    }
    return call;
  }

  Miss(key, parsed, arrival, *context, call->handle());
  return call;
}

void AttendanceReportServiceImpl::Miss(const ReportKey& key, const RequestFields& parsed,
                                       absl::Time arrival,
                                       const grpc::CallbackServerContext& context,
                                       const CallHandle& handle) {
  const absl::Time deadline = CallDeadline(context, arrival, options_.default_deadline);
  graph::ReportRef ref{std::string(parsed.user_id), std::string(parsed.meeting_id),
                       std::string(parsed.report_id)};
  const bool with_records = key.with_records();
  const ReplySuffix* const stale_suffix = &suffixes_.from_cache_stale;
  cache_->LoadOrJoin(
      key, deadline,
      // Runs with the latest deadline of the callers waiting for it, not only this one's.
      [loader = &loader_, ref = std::move(ref), with_records](absl::string_view key,
                                                               absl::Time deadline) {
        return loader->Load(key, ref, with_records, deadline);
      },
      // Runs on the executor (or at once: a load finished since the Lookup, or the executor
      // refused this one).
      [handle, stale_suffix](absl::StatusOr<CacheResult> result) {
        if (!result.ok()) {
          handle.FinishError(ToGrpcStatus(result.status()), CacheOutcome::kMiss);
        } else if (result->stale) {
          handle.FinishOk(WithSuffix(result->report.bytes(), *stale_suffix),
                          CacheOutcome::kStale);
        } else {
          handle.FinishOk(grpc::ByteBuffer(&result->report.bytes(), 1), CacheOutcome::kMiss);
        }
      });
}

void AttendanceReportServiceImpl::Answered(grpc::StatusCode code, CacheOutcome outcome,
                                           absl::Time arrival) {
  const int index = static_cast<int>(code);
  if (index >= 0 && index < kStatusCodes) counters_.Add(kReplies + index);
  if (observer_ != nullptr) {
    RpcRecord record;
    record.method = kMethod;
    record.code = code;
    record.cache = outcome;
    record.latency = clock_->Now() - arrival;
    observer_->OnRpcDone(record);
  }
}

void AttendanceReportServiceImpl::StartDraining() {
  draining_.store(true, std::memory_order_release);
}

bool AttendanceReportServiceImpl::AwaitNoCallsInFlight(absl::Time deadline) const {
  drain_waiters_.fetch_add(1, std::memory_order_seq_cst);
  bool none = false;
  {
    common::MutexLock lock(&mu_);
    while (!(none = calls_in_flight_.load(std::memory_order_seq_cst) == 0) &&
           clock_->Now() < deadline) {
      clock_->WaitUntil(&no_calls_, deadline);
    }
  }
  drain_waiters_.fetch_sub(1, std::memory_order_seq_cst);
  return none;
}

void AttendanceReportServiceImpl::AbandonPendingLoads() { loader_.Abandon(); }

void AttendanceReportServiceImpl::CallStarted() {
  calls_in_flight_.fetch_add(1, std::memory_order_relaxed);
}

void AttendanceReportServiceImpl::CallDone() {
  // With AwaitNoCallsInFlight: either its check sees this decrement, or its waiter count is
  // seen here and it is woken under mu_, which it holds from its check until it waits.
  if (calls_in_flight_.fetch_sub(1, std::memory_order_seq_cst) == 1 &&
      drain_waiters_.load(std::memory_order_seq_cst) > 0) {
    common::MutexLock lock(&mu_);
    no_calls_.SignalAll();
  }
}

AttendanceReportServiceImpl::Stats AttendanceReportServiceImpl::GetStats() const {
  Stats stats;
  stats.requests = counters_.Get(kRequests);
  stats.invalid_requests = counters_.Get(kInvalidRequests);
  stats.cache_hits = counters_.Get(kCacheHits);
  stats.refused_draining = counters_.Get(kRefusedDraining);
  for (int i = 0; i < kStatusCodes; ++i) stats.replies_by_code[i] = counters_.Get(kReplies + i);
  const ReportLoader::Stats loader = loader_.GetStats();
  stats.graph_fetches = loader.graph_fetches;
  stats.graph_errors = loader.graph_errors;
  stats.graph_errors_by_reason = loader.graph_errors_by_reason;
  stats.calls_in_flight = calls_in_flight_.load(std::memory_order_relaxed);
  return stats;
}

}  // namespace rollcall::service
