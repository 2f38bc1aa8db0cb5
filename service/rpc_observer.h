#pragma once
// What the service reports for each RPC it answers, so that metrics (latency histograms by
// method, code and cache outcome) and per-RPC logs live outside the hot path's code.

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/status.h"

namespace rollcall::service {

// How the cache took part in an answer.
enum class CacheOutcome {
  kNone,         // refused before the cache was asked (malformed, invalid, draining)
  kHit,          // a fresh entry, answered on arrival
  kNegativeHit,  // a remembered NOT_FOUND, answered on arrival
  kMiss,         // this call's load (or a load it joined) answered it
  kStale,        // a load failed and an expired entry was served instead
};

inline absl::string_view CacheOutcomeName(CacheOutcome outcome) {
  switch (outcome) {
    case CacheOutcome::kNone: return "none";
    case CacheOutcome::kHit: return "hit";
    case CacheOutcome::kNegativeHit: return "negative_hit";
    case CacheOutcome::kMiss: return "miss";
    case CacheOutcome::kStale: return "stale";
  }
  return "none";
}

struct RpcRecord {
  // The method's short name, "GetAttendanceReport".
  absl::string_view method;
  grpc::StatusCode code = grpc::StatusCode::OK;
  CacheOutcome cache = CacheOutcome::kNone;
  // From the call's arrival to its answer.
  absl::Duration latency;
  // The call's context (its metadata, peer and auth context), valid during OnRpcDone; never
  // null from the service. An observer that logs reads what it needs from it only when it
  // writes a line, keeping hits free of the lookups.
  const grpc::ServerContextBase* context = nullptr;
};

// The caller's W3C traceparent from `context`'s metadata when it sent a valid one, else "".
// A view into the metadata, valid while the call is.
absl::string_view TraceparentOf(const grpc::ServerContextBase& context);

class RpcObserver {
 public:
  virtual ~RpcObserver() = default;
  // Called once per answered call, on the thread that answers it (a gRPC reactor thread for a
  // hit). Must be thread-safe, lock-free on its common path, and never block.
  virtual void OnRpcDone(const RpcRecord& record) = 0;
};

}  // namespace rollcall::service
