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

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "graph_client/graph_client.h"
#include "grpcpp/grpcpp.h"
#include "rollcall/v1/attendance.grpc.pb.h"
#include "service/log.h"
#include "service/report_cache.h"

namespace rollcall::service {

struct ServiceOptions {
  // The deadline of a call whose client set none.
  absl::Duration default_deadline = absl::Seconds(30);
  TtlPolicy ttl;
};

class AttendanceReportServiceImpl final
    : public rollcall::v1::AttendanceReportService::WithRawCallbackMethod_GetAttendanceReport<
          rollcall::v1::AttendanceReportService::Service> {
 public:
  // gRPC's status codes, OK (0) to UNAUTHENTICATED (16).
  static constexpr int kStatusCodes = 17;

  struct Stats {
    uint64_t requests = 0;          // calls received
    uint64_t invalid_requests = 0;  // malformed or failed validation; never reached Graph
    uint64_t cache_hits = 0;        // answered from a fresh cache entry on arrival (negative too)
    uint64_t refused_draining = 0;  // refused because the server is shutting down
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

  // `graph` must be non-null. `cache`, `clock` and `logger` must outlive the service; the
  // cache's executor must run until every load has finished.
  AttendanceReportServiceImpl(const ServiceOptions& options,
                              std::shared_ptr<graph::GraphClient> graph, ReportCache* cache,
                              const common::Clock* clock, Logger* logger);

  // Called by gRPC on a callback thread; returns at once (see the file comment).
  grpc::ServerUnaryReactor* GetAttendanceReport(grpc::CallbackServerContext* context,
                                                const grpc::ByteBuffer* request,
                                                grpc::ByteBuffer* response) override;

  // Graceful shutdown, in this order:
  // From now on every new call is answered UNAVAILABLE (reason SHUTTING_DOWN) at once; calls
  // already in flight go on. Idempotent.
  void StartDraining();
  // Blocks until no call is in flight or `deadline` (real time) passes; true when none is.
  bool AwaitNoCallsInFlight(absl::Time deadline) const;
  // Loads that have not called Graph yet fail UNAVAILABLE (SHUTTING_DOWN) without calling it:
  // for once no call is left to answer. Idempotent.
  void AbandonPendingLoads();

  Stats GetStats() const;

 private:
  class Call;
  class CallHandle;

  // Runs on the upstream executor: one Graph call, serialized into a cache entry for `key`.
  absl::StatusOr<CachedReport> Load(absl::string_view key, const graph::ReportRef& ref,
                                    bool with_records, absl::Time deadline);
  void CallStarted();
  void CallDone();
  void CountReply(grpc::StatusCode code);
  void CountGraphError(const std::string& reason);

  const ServiceOptions options_;
  const std::shared_ptr<graph::GraphClient> graph_;
  ReportCache* const cache_;
  const common::Clock* const clock_;
  Logger* const logger_;

  std::atomic<bool> draining_{false};
  std::atomic<bool> abandon_loads_{false};
  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> invalid_requests_{0};
  std::atomic<uint64_t> cache_hits_{0};
  std::atomic<uint64_t> refused_draining_{0};
  std::atomic<uint64_t> graph_fetches_{0};
  std::atomic<uint64_t> graph_errors_{0};
  std::array<std::atomic<uint64_t>, kStatusCodes> replies_by_code_{};

  mutable absl::Mutex mu_;
  std::size_t calls_in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<std::string, uint64_t> graph_errors_by_reason_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rollcall::service
