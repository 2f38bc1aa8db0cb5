#pragma once
// rollcall.v1.AttendanceReportService on gRPC's callback API, with raw ByteBuffer request and
// response so that a cache hit replies with bytes serialized once, at load time.
//
// Per call: parse the request bytes (malformed: INVALID_ARGUMENT), validate (failure:
// INVALID_ARGUMENT with ErrorInfo + BadRequest, and no Graph call), look the report up in the
// cache, and on a hit reply at once with the cached slice plus a 2-byte slice `from_cache: true`
// (protobuf merges concatenated messages); a remembered NOT_FOUND replies with that error. On a
// miss the call joins or starts a singleflight load on the upstream executor, which calls Graph
// within the call's deadline and answers the call from there; a stale copy the cache serves
// instead of a Graph error gets `from_cache: true, stale: true` appended. A reactor never
// blocks.
//
// Each call is answered exactly once: by its reply, or, if that has not come yet, when gRPC
// cancels it (client gone, deadline passed, server shutting down). A load outlives the calls
// that started it; its result still fills the cache.
//
// One clock: the service reads its injected Clock once when a call arrives (for the cache
// lookup, the deadline and the latency) and, with an RpcObserver, once when it is answered.
// gRPC's deadline (the wall clock) is converted at arrival into that clock: the time left
// (deadline minus the wall clock's now) added to the arrival time; a call without a deadline
// gets arrival + default_deadline. Everything after compares with the injected clock only.
//
// Thread-safety: every method may be called from any thread. A hit takes no lock shared by
// all calls: the cache's shard lock only, and striped counters.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/mutex.h"
#include "graph_client/delegated.h"
#include "graph_client/graph_client.h"
#include "grpcpp/grpcpp.h"
#include "rollcall/v1/attendance.grpc.pb.h"
#include "service/caller_policy.h"
#include "service/log.h"
#include "service/page_token.h"
#include "service/reply_suffix.h"
#include "service/report_cache.h"
#include "service/redis_l2.h"
#include "service/report_loader.h"
#include "service/single_flight.h"
#include "service/upstream_executor.h"
#include "service/rpc_observer.h"
#include "service/striped_counters.h"
#include "service/validation.h"

namespace rollcall::service {

struct ServiceOptions {
  // The deadline of a call whose client set none.
  absl::Duration default_deadline = absl::Seconds(30);
  TtlPolicy ttl;
  // How long a meeting's list of reports, and the meeting of a join link, stay fresh.
  absl::Duration reports_list_ttl = absl::Seconds(60);
  absl::Duration meeting_lookup_ttl = absl::Hours(1);
  // Signs ListAttendanceRecords' page tokens; null: a random key (tokens work on this process
  // alone).
  std::shared_ptr<const PageTokenSigner> page_tokens;
  // StreamAttendanceRecords: a message holds records up to about this many bytes (at least
  // one record), and the server holds one message per stream at a time.
  std::size_t stream_message_bytes = 32 << 10;
  // Which callers may read whose reports; null: every caller may read everything. Checked in
  // each RPC right after validation, before the cache (a denied call is PERMISSION_DENIED,
  // CALLER_NOT_ALLOWED, and never sees a cached report); without it, one branch.
  std::shared_ptr<CallerPolicyFile> caller_policy;
  // The largest reply the service sends whole (config max_send_message_bytes): a cached
  // report, list or meeting larger than this is answered FAILED_PRECONDITION
  // (REPORT_TOO_LARGE) instead, before any byte of it is sent, and stays cached for
  // ListAttendanceRecords and StreamAttendanceRecords, whose messages are small.
  std::size_t max_reply_bytes = std::numeric_limits<int>::max();
  // What whole replies of kHeldReplyBytes and more may hold together from the moment they are
  // handed to gRPC until their call ends (config max_reply_memory): a client that does not read
  // keeps its replies alive, and a reply whose report has left the cache is its own copy. A
  // reply that would pass it is answered RESOURCE_EXHAUSTED (REPLIES_BACKLOGGED, retry after
  // 1s) instead. Smaller replies (every page, stream message and most reports) are not counted.
  std::size_t max_reply_memory = std::numeric_limits<std::size_t>::max();
  // The second cache tier (redis_l2.h); null: none. Every load goes through it.
  std::shared_ptr<RedisL2> l2;
  // Delegated mode (README, "Delegated mode"): GetAttendanceReport with a user's token in
  // `authorization: Bearer ...` and user_id "me" (or empty) reads through /me as that user.
  // Off: such calls are FAILED_PRECONDITION (DELEGATED_MODE_OFF). On, `delegated` and
  // `exchange_executor` (where the on-behalf-of exchanges run, never a gRPC thread) are set.
  bool delegated_mode = false;
  std::shared_ptr<graph::DelegatedGraph> delegated;
  UpstreamExecutor* exchange_executor = nullptr;
};

// Replies from this size up count against ServiceOptions::max_reply_memory.
inline constexpr std::size_t kHeldReplyBytes = 64 << 10;

// The RPCs, for metrics and logs.
enum class Method { kGet, kListReports, kListRecords, kStream, kResolve };
inline constexpr int kMethodCount = 5;
absl::string_view MethodName(Method method);

namespace internal {
using Raw = rollcall::v1::AttendanceReportService;
using RawService = Raw::WithRawCallbackMethod_GetAttendanceReport<
    Raw::WithRawCallbackMethod_ListAttendanceReports<
        Raw::WithRawCallbackMethod_ListAttendanceRecords<
            Raw::WithRawCallbackMethod_StreamAttendanceRecords<
                Raw::WithRawCallbackMethod_ResolveOnlineMeeting<Raw::Service>>>>>;
}  // namespace internal

class AttendanceReportServiceImpl final : public internal::RawService {
 public:
  // gRPC's status codes, OK (0) to UNAUTHENTICATED (16).
  static constexpr int kStatusCodes = 17;

  struct Stats {
    uint64_t requests = 0;          // calls received
    uint64_t invalid_requests = 0;  // malformed or failed validation; never reached Graph
    uint64_t cache_hits = 0;        // answered from a fresh cache entry on arrival (negative too)
    uint64_t refused_draining = 0;  // refused because the server is shutting down
    uint64_t caller_denied = 0;     // refused by the caller policy (CALLER_NOT_ALLOWED)
    uint64_t replies_refused = 0;   // refused past max_reply_memory (REPLIES_BACKLOGGED)
    uint64_t held_reply_bytes = 0;  // counted against max_reply_memory now
    uint64_t graph_fetches = 0;     // loader runs that called Graph
    uint64_t graph_errors = 0;      // of which failed
    // Calls answered, by the gRPC status code they got (CANCELLED or DEADLINE_EXCEEDED for
    // calls gRPC cancelled before their answer was ready).
    std::array<uint64_t, kStatusCodes> replies_by_code{};
    // Failed Graph fetches by ErrorInfo reason (a graph::reason, "OTHER" or "UNSPECIFIED"),
    // sorted by reason.
    std::vector<std::pair<std::string, uint64_t>> graph_errors_by_reason;
    std::size_t calls_in_flight = 0;  // received and not yet done with
  };

  // `graph` must be non-null. `cache`, `clock`, `logger` and `observer` (optional) must
  // outlive the service; the cache's executor must run until every load has finished.
  // `observer` gets one OnRpcDone per answered call (see rpc_observer.h).
  AttendanceReportServiceImpl(const ServiceOptions& options,
                              std::shared_ptr<graph::GraphClient> graph, ReportCache* cache,
                              const common::Clock* clock, Logger* logger,
                              RpcObserver* observer = nullptr);

  // Called by gRPC on a callback thread; each returns at once (see the file comment).
  grpc::ServerUnaryReactor* GetAttendanceReport(grpc::CallbackServerContext* context,
                                                const grpc::ByteBuffer* request,
                                                grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ListAttendanceReports(grpc::CallbackServerContext* context,
                                                  const grpc::ByteBuffer* request,
                                                  grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ListAttendanceRecords(grpc::CallbackServerContext* context,
                                                  const grpc::ByteBuffer* request,
                                                  grpc::ByteBuffer* response) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* StreamAttendanceRecords(
      grpc::CallbackServerContext* context, const grpc::ByteBuffer* request) override;
  grpc::ServerUnaryReactor* ResolveOnlineMeeting(grpc::CallbackServerContext* context,
                                                 const grpc::ByteBuffer* request,
                                                 grpc::ByteBuffer* response) override;

  // Graceful shutdown, in this order:
  // From now on every new call is answered UNAVAILABLE (reason SHUTTING_DOWN) at once; calls
  // already in flight go on. Idempotent.
  void StartDraining();
  // Blocks until no call is in flight or `deadline` (an instant of the service's clock)
  // passes; true when none is.
  bool AwaitNoCallsInFlight(absl::Time deadline) const;
  // Loads that have not called Graph yet fail UNAVAILABLE (SHUTTING_DOWN) without calling it:
  // for once no call is left to answer. Idempotent.
  void AbandonPendingLoads();

  Stats GetStats() const;

 private:
  class Call;
  class CallHandle;
  class Stream;
  // Turns a cache entry (or a load's result) into a call's reply.
  using Reply = std::function<void(const CallHandle& handle, const CacheResult& result)>;

  enum Counter : std::size_t {
    kRequests,
    kInvalidRequests,
    kCacheHits,
    kRefusedDraining,
    kCallerDenied,
    kRepliesRefused,
    kReplies,  // + the status code: kStatusCodes slots
    kCounters = kReplies + kStatusCodes,
  };

  // What a new call of `method` is answered at once: UNAVAILABLE (SHUTTING_DOWN) while the
  // server drains, else `parsed` (the request's parse and validation: OK lets it go on).
  // Counts and logs the refusals.
  absl::Status Admit(Method method, const grpc::CallbackServerContext& context,
                     const absl::Status& parsed);
  // Admit for a unary call: when the call may not go on, answers it and returns true.
  bool Refused(Call* call, Method method, const grpc::CallbackServerContext& context,
               const absl::Status& parsed);
  // With a caller policy: whether it refuses this call's caller `resource`; when it does,
  // counts and answers the call (PERMISSION_DENIED, CALLER_NOT_ALLOWED).
  bool CallerDenied(Call* call, const grpc::CallbackServerContext& context,
                    const CallerResource& resource);
  // Answers `call` from a fresh entry for `key`: its bytes + from_cache, or a remembered
  // NOT_FOUND. False on a miss.
  bool AnswerFromCache(Call* call, const ReportKey& key, absl::Time arrival);
  // Loads `key` with `loader` (or joins the load in flight) and answers `call` with what it
  // gives; `reply`, when set, makes the reply from the entry (ListAttendanceRecords' pages).
  void Miss(Call* call, const ReportKey& key, absl::Time arrival,
            const grpc::CallbackServerContext& context, ReportCache::Loader loader,
            Reply reply = nullptr);
  // Delegated mode: answers a GetAttendanceReport call carrying `user_token` (see
  // ServiceOptions::delegated_mode) for the signed-in user's `meeting_id` and `report_id`.
  // The exchange (when no fresh one is cached) runs on exchange_executor, one per user token
  // for all the calls waiting on it; then the report is looked up under the user's oid.
  struct DelegatedRequest {
    std::string meeting_id;
    std::string report_id;
    rollcall::v1::ReportView view;
    absl::Time arrival;
    absl::Time deadline;
    std::string traceparent;
  };
  void DelegatedGet(Call* call, std::string user_token, DelegatedRequest request);
  // Looks the user's report up in the cache, or loads it as the user, and answers the call.
  void AnswerDelegated(const CallHandle& handle, const graph::DelegatedUser& user,
                       const DelegatedRequest& request);
  // The done callback of a load that answers `handle` (Miss's).
  ReportCache::Done AnswerWhenLoaded(CallHandle handle, Reply reply) const;
  // The loader of an attendance report (with its records or not).
  ReportCache::Loader ReportLoad(graph::ReportRef ref, bool with_records);
  // `loader` run under the caller's trace context (its valid traceparent, if it sent one), so
  // that the Graph requests of the load carry it (graph_client/trace_context.h). A load joined
  // by several callers carries the first one's.
  static ReportCache::Loader Traced(const grpc::ServerContextBase& context,
                                    ReportCache::Loader loader);
  // `loader` behind the L2 tier, when there is one.
  ReportCache::Loader WithL2(ReportCache::Loader loader) const;
  void CallStarted();
  void CallDone();
  // Counts `bytes` of a reply against max_reply_memory: false (nothing counted) when they would
  // pass it. ReleaseReply gives them back when the call ends.
  bool HoldReply(std::size_t bytes);
  void ReleaseReply(std::size_t bytes);
  // Counts the answer and tells the observer, if any.
  void Answered(Method method, grpc::StatusCode code, CacheOutcome outcome, absl::Time arrival,
                const grpc::ServerContextBase& context);

  const ServiceOptions options_;
  ReportCache* const cache_;
  const common::Clock* const clock_;
  Logger* const logger_;
  RpcObserver* const observer_;
  const CachedReplySuffixes& suffixes_;
  const std::shared_ptr<const PageTokenSigner> page_tokens_;
  CallerPolicyFile* const caller_policy_;  // options_.caller_policy; null: none
  ReportLoader loader_;
  // Delegated mode: the calls waiting for each user token's exchange.
  using ExchangeDone = std::function<void(const absl::StatusOr<graph::DelegatedUser>&)>;
  SingleFlight<ExchangeDone> exchanges_;

  std::atomic<bool> draining_{false};
  StripedCounters<kCounters> counters_;

  // Calls received and not done with. Its waiters (AwaitNoCallsInFlight) are few and rare: a
  // call that brings it to zero takes mu_ to wake them only when one is waiting.
  std::atomic<std::size_t> calls_in_flight_{0};
  // Bytes of the counted replies (ServiceOptions::max_reply_memory) whose calls have not ended.
  std::atomic<std::size_t> held_reply_bytes_{0};
  mutable std::atomic<int> drain_waiters_{0};
  mutable common::Mutex mu_;
  mutable common::CondVar no_calls_{&mu_};
};

}  // namespace rollcall::service
