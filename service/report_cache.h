#pragma once
// The in-process report cache (L1): the serialized GetAttendanceReportResponse of each
// (user, meeting, report, view), bounded in bytes with LRU eviction, expiring by a TTL read
// from an injected Clock, and a singleflight so that concurrent misses for one key make one
// Graph call. Loads run on the UpstreamExecutor, never on the caller's thread.
//
// Values are bytes serialized once, at load: a hit hands out a reference to the same
// refcounted grpc::Slice; nothing is copied or re-serialized per request.
//
// Errors are not cached (negative caching of 404s is a later issue).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "graph_client/clock.h"
#include "grpcpp/support/slice.h"
#include "rollcall/v1/attendance.pb.h"
#include "service/upstream_executor.h"

namespace rollcall::service {

// A cache key: user, meeting and report IDs and the view, each ID length-prefixed so that no
// two different requests share a key whatever bytes the IDs contain. REPORT_VIEW_UNSPECIFIED
// and REPORT_VIEW_FULL are the same view (the proto says so) and share a key.
class ReportKey {
 public:
  ReportKey(absl::string_view user_id, absl::string_view meeting_id, absl::string_view report_id,
            rollcall::v1::ReportView view);
  const std::string& encoded() const { return encoded_; }
  // True for every view but BASIC.
  bool with_records() const { return with_records_; }

 private:
  std::string encoded_;
  bool with_records_;
};

// One cached response. Immutable once built; shared by the cache and every in-flight reply.
struct CachedReport {
  // A serialized GetAttendanceReportResponse with `report` and `graph_fetch_time` set and
  // `from_cache` unset.
  grpc::Slice bytes;
  absl::Time fetch_time;
  absl::Time expires_at;
};

// What a loader produces.
struct LoadedReport {
  grpc::Slice bytes;
  absl::Time fetch_time;
  // How long the entry stays fresh from fetch_time; zero means "do not cache".
  absl::Duration ttl;
};

// How long a report stays fresh (see PAIN-POINTS P1/P2: while a meeting runs, or shortly after
// it ended, Graph's report may still change).
struct TtlPolicy {
  absl::Duration ttl = absl::Hours(1);
  absl::Duration ttl_recent = absl::Seconds(60);
  absl::Duration recent_report_age = absl::Hours(1);
};

// `policy.ttl` when the report's meeting_end_date_time is set and at least
// recent_report_age before `now`; `policy.ttl_recent` otherwise.
absl::Duration ReportTtl(const rollcall::v1::MeetingAttendanceReport& report, absl::Time now,
                         const TtlPolicy& policy);

// Serializes GetAttendanceReportResponse{report, graph_fetch_time = fetch_time} once, straight
// into a newly allocated slice.
LoadedReport SerializeReport(rollcall::v1::MeetingAttendanceReport report, absl::Time fetch_time,
                             absl::Duration ttl);

// Reason of the UNAVAILABLE error a waiter gets when the upstream executor's queue is full.
// Service-local until graph_client/error_details.h grows it.
inline constexpr absl::string_view kUpstreamOverloadedReason = "UPSTREAM_OVERLOADED";

class ReportCache {
 public:
  // What each entry costs beyond its key and value bytes (list and map nodes, the entry and
  // its control block), for the byte bound.
  static constexpr std::size_t kEntryOverheadBytes = 256;

  struct Options {
    // Bound on the sum of entry charges (key + bytes + kEntryOverheadBytes). 0 caches nothing
    // (singleflight still applies).
    std::size_t max_bytes = std::size_t{256} << 20;
  };

  struct Stats {
    uint64_t hits = 0;         // Lookup found a fresh entry (also LoadOrJoin finding one)
    uint64_t misses = 0;       // Lookup found nothing fresh
    uint64_t loads = 0;        // loader calls started
    uint64_t load_errors = 0;  // loader calls that failed (or could not be scheduled)
    uint64_t joins = 0;        // LoadOrJoin calls that joined a load already in flight
    uint64_t evictions = 0;    // entries dropped for the byte bound
    uint64_t expirations = 0;  // entries dropped because their TTL passed
    uint64_t uncacheable = 0;  // loaded values not kept (larger than max_bytes or TTL zero)
    std::size_t bytes = 0;     // sum of entry charges
    std::size_t entries = 0;
    std::size_t loads_in_flight = 0;
    std::size_t waiters_in_flight = 0;  // done callbacks waiting on in-flight loads
  };

  using Loader = std::function<absl::StatusOr<LoadedReport>()>;
  using Done = std::function<void(absl::StatusOr<std::shared_ptr<const CachedReport>>)>;

  // `clock` and `executor` must outlive the cache; the executor must keep running until every
  // LoadOrJoin's done has been called.
  ReportCache(const Options& options, const graph::Clock* clock, UpstreamExecutor* executor);

  ReportCache(const ReportCache&) = delete;
  ReportCache& operator=(const ReportCache&) = delete;

  // Thread-safe, never blocks on I/O. The fresh entry for `key` (and marks it most recently
  // used), or null (a miss; an expired entry is dropped).
  std::shared_ptr<const CachedReport> Lookup(const ReportKey& key);

  // Thread-safe, never blocks on I/O. Calls `done` exactly once with the entry for `key`:
  //  - a fresh entry already cached: at once, on this thread;
  //  - a load for `key` already in flight: joins it; `done` runs when it finishes;
  //  - otherwise starts one: `loader` runs on the executor, its result is cached (when
  //    ok, cacheable and within the bound), and every joined `done` gets it, on the executor
  //    thread that ran the loader, in the order they joined. An error goes to every waiter and
  //    is not cached. If the executor refuses the load (queue full, shut down) every waiter
  //    gets UNAVAILABLE.
  // The load runs with the first caller's `loader` (and so its deadline); joiners share it.
  void LoadOrJoin(const ReportKey& key, Loader loader, Done done);

  Stats GetStats() const;

  // Blocks until `predicate(stats)` holds or `timeout` passes; returns whether it held.
  // The predicate is re-evaluated whenever the cache's state changes (no polling). For tests
  // and diagnostics; `predicate` must be cheap and must not call into the cache.
  bool AwaitStats(const std::function<bool(const Stats&)>& predicate,
                  absl::Duration timeout) const;

 private:
  struct Entry {
    std::string key;
    std::shared_ptr<const CachedReport> value;
    std::size_t charge;
  };
  using LruList = std::list<Entry>;  // front = most recently used

  // Runs on the executor: calls the loader and completes the flight.
  void RunLoad(const std::string& key, const Loader& loader);
  // Removes the in-flight record of `key`, caches `result` when it is ok, `cacheable` and
  // within the bound (evicting from the LRU end), and returns the waiters to hand it to.
  std::vector<Done> CompleteFlight(
      const std::string& key, const absl::StatusOr<std::shared_ptr<const CachedReport>>& result,
      bool cacheable) ABSL_LOCKS_EXCLUDED(mu_);
  void EraseLocked(LruList::iterator it) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Stats StatsLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  const Options options_;
  const graph::Clock* const clock_;
  UpstreamExecutor* const executor_;

  mutable absl::Mutex mu_;
  LruList lru_ ABSL_GUARDED_BY(mu_);
  // Keys are views of the Entry::key strings in lru_ (list nodes never move).
  absl::flat_hash_map<absl::string_view, LruList::iterator> index_ ABSL_GUARDED_BY(mu_);
  // Waiters of each load in flight; a key is here from the load's start until its waiters are
  // taken in CompleteFlight.
  absl::flat_hash_map<std::string, std::vector<Done>> in_flight_ ABSL_GUARDED_BY(mu_);
  std::size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  Stats counters_ ABSL_GUARDED_BY(mu_);  // the uint64_t counters; sizes are computed
};

}  // namespace rollcall::service
