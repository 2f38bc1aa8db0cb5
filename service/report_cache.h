#pragma once
// The in-process report cache (L1): the serialized GetAttendanceReportResponse of each
// (user, meeting, report, view), bounded in bytes with LRU eviction, expiring by a TTL read
// from an injected Clock, and a singleflight so that concurrent misses for one key make one
// Graph call. Loads run on the UpstreamExecutor, never on the caller's thread.
//
// ReportCache puts three parts together and holds the policy that ties them:
//  - ShardedLru<CachedReportTraits> (lru_cache.h): the entries, sharded so that hits on
//    different keys take different locks; it knows nothing of reports;
//  - SingleFlight (single_flight.h): who waits for each load in flight, and to what deadline;
//  - the loader each caller passes (the service's ReportLoader, report_loader.h), which calls
//    Graph and serializes the report into its entry.
// A hit takes one shard's lock, and nothing else: no lock is shared by all hits.
//
// Values are bytes serialized once, at load, straight into their entry (CachedReport): a hit
// hands out a reference to the same refcounted buffer; nothing is copied or re-serialized per
// request.
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
#include <memory>
#include <string>
#include <vector>

#include <atomic>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/mutex.h"
#include "service/cached_report.h"
#include "service/log.h"
#include "service/lru_cache.h"
#include "service/single_flight.h"
#include "service/upstream_executor.h"

namespace rollcall::service {

// What a waiter of LoadOrJoin gets on success.
struct CacheResult {
  // Never a negative entry (those arrive as their error).
  CachedReport report;
  // True when the load failed and `report` is an expired entry served instead.
  bool stale = false;
};

// True for the load errors that an expired entry may mask: Graph or the token endpoint is down
// or slow (UNAVAILABLE, DEADLINE_EXCEEDED), throttling (RESOURCE_EXHAUSTED) and bodies that are
// not what Graph documents (INTERNAL). Never NOT_FOUND, permission or credential errors: those
// say something about the report or the deployment that a cached copy would hide.
bool ServesStaleOn(const absl::Status& status);

// True for a load error that is remembered as a negative entry: NOT_FOUND with reason
// REPORT_NOT_FOUND or MEETING_NOT_FOUND.
bool IsNegativelyCacheable(const absl::Status& status);

// How long a client refused with UPSTREAM_OVERLOADED is told to wait (RetryInfo).
inline constexpr absl::Duration kOverloadedRetryDelay = absl::Seconds(1);

class ReportCache {
 public:
  // What each entry costs beyond its key and value bytes, for the byte bound: its header, the
  // slice's refcount, malloc's own header and rounding, and its slot in the index.
  static constexpr std::size_t kEntryOverheadBytes = CachedReportTraits::kEntryOverheadBytes;

  struct Options {
    // Bound on the sum of entry charges (key + value + kEntryOverheadBytes; a negative entry's
    // value is its serialized google.rpc.Status). 0 caches nothing (singleflight still
    // applies). Split evenly over the LRU's shards (ShardedLru: one shard below 8 MiB, up to
    // 16 from 64 MiB), each evicting its own least recently used entries.
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
    uint64_t reloads = 0;        // loads run again for callers whose deadline outlived the
                                 // load's (see LoadOrJoin)
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

  // Builds the entry for the key it is given (ReportKey::encoded(), for SerializeReport or
  // CachedReport::Make) by `deadline`, or fails.
  using Loader =
      std::function<absl::StatusOr<CachedReport>(absl::string_view key, absl::Time deadline)>;
  using Done = std::function<void(absl::StatusOr<CacheResult>)>;

  // `clock` and `executor` must outlive the cache; the executor must keep running until every
  // LoadOrJoin's done has been called. `logger` (may be null) gets one line per load whose
  // waiters were served a stale entry.
  ReportCache(const Options& options, const common::Clock* clock, UpstreamExecutor* executor,
              Logger* logger = nullptr);

  // Drops the cache's references; entries still referenced elsewhere (replies in flight) live
  // on until those go.
  ~ReportCache();

  ReportCache(const ReportCache&) = delete;
  ReportCache& operator=(const ReportCache&) = delete;

  // Thread-safe, never blocks on I/O. The fresh entry for `key` (marked most recently used),
  // which may be a negative one; or null (a miss). An expired entry is left in place while it
  // may still be served stale, and dropped after that. `now` is the cache's clock's time (the
  // service passes the call's arrival); the first form reads it.
  CachedReport Lookup(const ReportKey& key) { return Lookup(key, clock_->Now()); }
  CachedReport Lookup(const ReportKey& key, absl::Time now);

  // Thread-safe, never blocks on I/O. Calls `done` exactly once for `key`:
  //  - a fresh entry already cached (one loaded since the caller's Lookup): at once, on this
  //    thread; a negative entry as its error;
  //  - a load for `key` already in flight: joins it; `done` runs when it finishes;
  //  - otherwise starts one: `loader(key, d)` runs on the executor, where d is the latest
  //    `deadline` of the callers waiting when it starts, and every joined `done` gets its
  //    outcome, on the executor thread that ran the loader, in the order they joined:
  //      ok: the new entry (cached when it fits; it replaces any older one);
  //      NOT_FOUND (REPORT_NOT_FOUND): the error, remembered as a negative entry;
  //      an error ServesStaleOn() accepts, while an expired entry is still kept: that entry,
  //      with stale = true;
  //      DEADLINE_EXCEEDED otherwise: the error for the callers whose deadline was no later
  //      than d; those who joined with a later one stay, and the loader runs again for them
  //      (on the same thread, with their latest deadline; Stats::reloads);
  //      any other error: the error, not cached; so is an entry built for another key
  //      (INTERNAL).
  //  - the executor refuses the load (queue full, shut down): at once, RESOURCE_EXHAUSTED
  //    (UPSTREAM_OVERLOADED, with RetryInfo of kOverloadedRetryDelay), even when an expired
  //    entry is kept (Graph did not fail; it was not asked).
  // The load runs the first caller's `loader`: every caller's loader for a key must do the
  // same but for the deadline it is given. So a caller with little time left cannot make a
  // load fail for one with more.
  void LoadOrJoin(const ReportKey& key, absl::Time deadline, Loader loader, Done done);

  Stats GetStats() const;

  // Blocks until `predicate(stats)` holds or `timeout` (real time: a safety net, whatever the
  // cache's clock) passes; returns whether it held. The predicate is re-evaluated whenever a
  // load starts, is joined or completes (no polling); counters that only hits move do not
  // wake it. For tests and diagnostics; `predicate` must be cheap and must not call into the
  // cache.
  bool AwaitStats(const std::function<bool(const Stats&)>& predicate,
                  absl::Duration timeout) const;

 private:
  using Lru = ShardedLru<CachedReportTraits>;

  // What a finished load hands its waiters.
  struct Completion {
    std::vector<Done> waiters;
    // True when waiters with later deadlines remain in the flight and the load runs again.
    bool again = false;
    absl::StatusOr<CacheResult> result;
    // Set when `result` is a stale entry: the error it masks and how long ago it expired.
    absl::Status masked;
    absl::Duration expired_for;
  };

  // Runs on the executor: calls the loader and completes the flight, again while it says so.
  void RunLoad(const std::string& key, const Loader& loader);
  // Updates the LRU with the outcome of a load of `key` that ran to `deadline`, then takes the
  // waiters to answer (all, or those the load ran out of time for; see LoadOrJoin) and
  // decides what they get.
  Completion Complete(const std::string& key, absl::Time deadline,
                      absl::StatusOr<CachedReport> loaded);
  // Wakes AwaitStats; called with no lock held.
  void NotifyStats() const;

  const Options options_;
  const common::Clock* const clock_;
  UpstreamExecutor* const executor_;
  Logger* const logger_;

  Lru lru_;
  SingleFlight<Done> flights_;

  // Miss-path counters (the hit path's are the LRU's, per shard).
  std::atomic<uint64_t> loads_{0};
  std::atomic<uint64_t> load_errors_{0};
  std::atomic<uint64_t> joins_{0};
  std::atomic<uint64_t> rejected_{0};
  std::atomic<uint64_t> reloads_{0};
  std::atomic<uint64_t> stale_served_{0};
  std::atomic<uint64_t> negative_stores_{0};
  std::atomic<uint64_t> uncacheable_{0};

  // AwaitStats' waiters, woken by NotifyStats when there are any.
  mutable std::atomic<int> stats_waiters_{0};
  mutable common::Mutex stats_mu_;
  mutable common::CondVar stats_cv_{&stats_mu_};
};

}  // namespace rollcall::service
