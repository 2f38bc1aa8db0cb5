#pragma once
// The in-process report cache (L1): the serialized GetAttendanceReportResponse of each
// (user, meeting, report, view), bounded in bytes with LRU eviction, expiring by a TTL read
// from an injected Clock, and a singleflight so that concurrent misses for one key make one
// Graph call. Loads run on the UpstreamExecutor, never on the caller's thread.
//
// Values are bytes serialized once, at load: a hit hands out a reference to the same
// refcounted grpc::Slice; nothing is copied or re-serialized per request.
//
// Beyond plain caching (see PAIN-POINTS P1/P2/P13: Graph is slow, throttles, and a report that
// is not generated yet is a 404 that busy clients ask for again and again):
//  - Negative entries: a load that fails with NOT_FOUND (REPORT_NOT_FOUND) is remembered for
//    Options::negative_ttl, and a lookup within it answers with the same error, with no load.
//    No other error is ever cached.
//  - Stale-if-error: an entry is kept (still LRU- and byte-bounded) for
//    Options::stale_if_error past its expiry. A lookup of an expired entry is a miss and loads
//    as usual; if that load fails with an outage error (ServesStaleOn), the waiters get the
//    expired entry marked stale instead of the error.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "graph_client/clock.h"
#include "grpcpp/support/slice.h"
#include "rollcall/v1/attendance.pb.h"
#include "service/log.h"
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

// One cached response, or one remembered NOT_FOUND (a negative entry). Immutable once built;
// shared by the cache and every in-flight reply.
struct CachedReport {
  // A serialized GetAttendanceReportResponse with `report` and `graph_fetch_time` set and
  // `from_cache` and `stale` unset. Empty in a negative entry.
  grpc::Slice bytes;
  // OK for a report. In a negative entry, the NOT_FOUND (message and details) to answer with.
  absl::Status error;
  absl::Time fetch_time;
  // Fresh while now < expires_at.
  absl::Time expires_at;
  // Kept, for stale-if-error, while now < keep_until (>= expires_at; == for negative entries).
  absl::Time keep_until;

  bool negative() const { return !error.ok(); }
};

// What a waiter of LoadOrJoin gets on success.
struct CacheResult {
  // Never a negative entry (those arrive as their error).
  std::shared_ptr<const CachedReport> report;
  // True when the load failed and `report` is an expired entry served instead.
  bool stale = false;
};

// What a loader produces.
struct LoadedReport {
  grpc::Slice bytes;
  absl::Time fetch_time;
  // How long the entry stays fresh from fetch_time; zero means it expires at once (it is then
  // kept only for stale-if-error).
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

// True for the load errors that an expired entry may mask: Graph or the token endpoint is down
// or slow (UNAVAILABLE, DEADLINE_EXCEEDED), throttling (RESOURCE_EXHAUSTED) and bodies that are
// not what Graph documents (INTERNAL). Never NOT_FOUND, permission or credential errors: those
// say something about the report or the deployment that a cached copy would hide.
bool ServesStaleOn(const absl::Status& status);

// True for a load error that is remembered as a negative entry: NOT_FOUND with reason
// REPORT_NOT_FOUND.
bool IsNegativelyCacheable(const absl::Status& status);

// How long a client refused with UPSTREAM_OVERLOADED is told to wait (RetryInfo).
inline constexpr absl::Duration kOverloadedRetryDelay = absl::Seconds(1);

class ReportCache {
 public:
  // What each entry costs beyond its key and value bytes (list and map nodes, the entry and
  // its control block), for the byte bound.
  static constexpr std::size_t kEntryOverheadBytes = 256;

  struct Options {
    // Bound on the sum of entry charges (key + bytes + kEntryOverheadBytes). 0 caches nothing
    // (singleflight still applies).
    std::size_t max_bytes = std::size_t{256} << 20;
    // How long a NOT_FOUND (REPORT_NOT_FOUND) is remembered; zero remembers none.
    absl::Duration negative_ttl = absl::Seconds(30);
    // How long past its expiry an entry is kept to be served stale when a load fails; zero
    // drops entries when they expire.
    absl::Duration stale_if_error = absl::Hours(24);
  };

  struct Stats {
    uint64_t hits = 0;           // Lookup found a fresh report
    uint64_t negative_hits = 0;  // Lookup found a fresh negative entry
    uint64_t misses = 0;         // Lookup found nothing fresh
    uint64_t loads = 0;          // loads started (scheduled on the executor)
    uint64_t load_errors = 0;    // loads that failed
    uint64_t joins = 0;          // LoadOrJoin calls answered by a load already in flight or
                                 // just finished, with no load of their own
    uint64_t rejected = 0;       // loads the executor refused (UPSTREAM_OVERLOADED)
    uint64_t stale_served = 0;   // waiters given an expired entry instead of a load error
    uint64_t negative_stores = 0;  // NOT_FOUNDs remembered
    uint64_t evictions = 0;      // entries dropped for the byte bound
    uint64_t expirations = 0;    // entries dropped because even their stale window passed
    uint64_t uncacheable = 0;    // loaded values not kept (larger than max_bytes, or expired)
    std::size_t bytes = 0;       // sum of entry charges
    std::size_t entries = 0;     // negative ones included
    std::size_t negative_entries = 0;
    std::size_t loads_in_flight = 0;
    std::size_t waiters_in_flight = 0;  // done callbacks waiting on in-flight loads
  };

  using Loader = std::function<absl::StatusOr<LoadedReport>()>;
  using Done = std::function<void(absl::StatusOr<CacheResult>)>;

  // `clock` and `executor` must outlive the cache; the executor must keep running until every
  // LoadOrJoin's done has been called. `logger` (may be null) gets one line per load whose
  // waiters were served a stale entry.
  ReportCache(const Options& options, const graph::Clock* clock, UpstreamExecutor* executor,
              Logger* logger = nullptr);

  ReportCache(const ReportCache&) = delete;
  ReportCache& operator=(const ReportCache&) = delete;

  // Thread-safe, never blocks on I/O. The fresh entry for `key` (marked most recently used),
  // which may be a negative one; or null (a miss). An expired entry is left in place while it
  // may still be served stale, and dropped after that.
  std::shared_ptr<const CachedReport> Lookup(const ReportKey& key);

  // Thread-safe, never blocks on I/O. Calls `done` exactly once for `key`:
  //  - a fresh entry already cached (one loaded since the caller's Lookup): at once, on this
  //    thread; a negative entry as its error;
  //  - a load for `key` already in flight: joins it; `done` runs when it finishes;
  //  - otherwise starts one: `loader` runs on the executor and every joined `done` gets its
  //    outcome, on the executor thread that ran the loader, in the order they joined:
  //      ok: the new entry (cached when it fits; it replaces any older one);
  //      NOT_FOUND (REPORT_NOT_FOUND): the error, remembered as a negative entry;
  //      an error ServesStaleOn() accepts, while an expired entry is still kept: that entry,
  //      with stale = true;
  //      any other error: the error, not cached.
  //  - the executor refuses the load (queue full, shut down): at once, RESOURCE_EXHAUSTED
  //    (UPSTREAM_OVERLOADED, with RetryInfo of kOverloadedRetryDelay), even when an expired
  //    entry is kept (Graph did not fail; it was not asked).
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

  // What a finished load hands its waiters.
  struct Completion {
    std::vector<Done> waiters;
    absl::StatusOr<CacheResult> result;
    // Set when `result` is a stale entry: the error it masks and how long ago it expired.
    absl::Status masked;
    absl::Duration expired_for;
  };

  // Runs on the executor: calls the loader and completes the flight.
  void RunLoad(const std::string& key, const Loader& loader);
  // Removes the in-flight record of `key`, updates the cache with the load's outcome and
  // decides what the waiters get (see LoadOrJoin).
  Completion CompleteFlight(const std::string& key, absl::StatusOr<LoadedReport> loaded)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The expired-but-kept report entry of `key`, or null.
  std::shared_ptr<const CachedReport> StaleLocked(absl::string_view key, absl::Time now) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Puts `value` at the LRU front under `key`, replacing any entry there, and evicts from the
  // LRU end down to the bound; false (and nothing inserted) when it alone exceeds max_bytes.
  bool InsertLocked(const std::string& key, std::shared_ptr<const CachedReport> value,
                    std::size_t charge) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EraseKeyLocked(absl::string_view key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EraseLocked(LruList::iterator it) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Stats StatsLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  const Options options_;
  const graph::Clock* const clock_;
  UpstreamExecutor* const executor_;
  Logger* const logger_;

  mutable absl::Mutex mu_;
  LruList lru_ ABSL_GUARDED_BY(mu_);
  // Keys are views of the Entry::key strings in lru_ (list nodes never move).
  absl::flat_hash_map<absl::string_view, LruList::iterator> index_ ABSL_GUARDED_BY(mu_);
  // Waiters of each load in flight; a key is here from the load's start until its waiters are
  // taken in CompleteFlight.
  absl::flat_hash_map<std::string, std::vector<Done>> in_flight_ ABSL_GUARDED_BY(mu_);
  std::size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  std::size_t negative_entries_ ABSL_GUARDED_BY(mu_) = 0;
  Stats counters_ ABSL_GUARDED_BY(mu_);  // the uint64_t counters; sizes are computed
};

}  // namespace rollcall::service
