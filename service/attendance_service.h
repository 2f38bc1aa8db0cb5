#pragma once
// rollcall.v1.AttendanceReportService on gRPC's callback API, with raw ByteBuffer request and
// response so that a cache hit replies with bytes serialized once, at load time.
//
// Per call: parse the request bytes (malformed: INVALID_ARGUMENT), validate (failure:
// INVALID_ARGUMENT with ErrorInfo + BadRequest, and no Graph call), look the report up in the
// cache, and on a hit reply at once with the cached slice plus a 2-byte slice `from_cache: true`
// (protobuf merges concatenated messages). On a miss the load joins or starts a singleflight
// load on the upstream executor, which calls Graph within the call's deadline and finishes the
// call from there. A reactor never blocks.

#include <atomic>
#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "graph_client/clock.h"
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
  struct Stats {
    uint64_t requests = 0;
    uint64_t invalid_requests = 0;  // malformed or failed validation; never reached Graph
    uint64_t cache_hits = 0;        // answered from the cache on arrival
    uint64_t graph_fetches = 0;     // loader runs that called Graph
    uint64_t graph_errors = 0;      // of which failed
  };

  // `graph` must be non-null. `cache`, `clock` and `logger` must outlive the service; the
  // cache's executor must run until every call has finished (RollcallServer shuts the gRPC
  // server down before the executor).
  AttendanceReportServiceImpl(const ServiceOptions& options,
                              std::shared_ptr<graph::GraphClient> graph, ReportCache* cache,
                              const graph::Clock* clock, Logger* logger);

  // Called by gRPC on a callback thread; returns at once (see the file comment).
  grpc::ServerUnaryReactor* GetAttendanceReport(grpc::CallbackServerContext* context,
                                                const grpc::ByteBuffer* request,
                                                grpc::ByteBuffer* response) override;

  Stats GetStats() const;

 private:
  // Runs on the upstream executor: one Graph call, serialized into the cache's value.
  absl::StatusOr<LoadedReport> Load(const graph::ReportRef& ref, bool with_records,
                                    absl::Time deadline);

  const ServiceOptions options_;
  const std::shared_ptr<graph::GraphClient> graph_;
  ReportCache* const cache_;
  const graph::Clock* const clock_;
  Logger* const logger_;

  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> invalid_requests_{0};
  std::atomic<uint64_t> cache_hits_{0};
  std::atomic<uint64_t> graph_fetches_{0};
  std::atomic<uint64_t> graph_errors_{0};
};

}  // namespace rollcall::service
