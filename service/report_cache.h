#pragma once
// The in-process report cache (L1): the serialized GetAttendanceReportResponse of each
// (user, meeting, report, view), bounded in bytes with LRU eviction, expiring by a TTL read
// from an injected Clock, and a singleflight so that concurrent misses for one key make one
// Graph call. Loads run on the UpstreamExecutor, never on the caller's thread.
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

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
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
  ReportKey(ReportKey&&) = default;
  ReportKey& operator=(ReportKey&&) = default;

  // Valid while this key is.
  absl::string_view encoded() const {
    return absl::string_view(heap_ != nullptr ? heap_.get() : inline_, size_);
  }
  // True for every view but BASIC.
  bool with_records() const { return with_records_; }

 private:
  // Inline for the usual IDs (a GUID, a meeting ID of 100 to 200 bytes, a GUID): building the
  // key of a request allocates nothing.
  static constexpr std::size_t kInlineBytes = 320;

  std::size_t size_ = 0;
  std::unique_ptr<char[]> heap_;  // when the key is longer than kInlineBytes
  bool with_records_;
  char inline_[kInlineBytes];
};

// One cached response or one remembered NOT_FOUND (a negative entry), and a counted
// reference to it: copying one costs an atomic increment, like a shared_ptr.
//
// An entry is one allocation, a gRPC slice's buffer holding, in order, a small header (expiry,
// sizes, the cache's LRU links), the value bytes, the key, and a negative entry's error. The
// value is handed to gRPC as a slice of that same buffer, so a reply shares the cached bytes
// and nothing is copied per hit. One allocation per entry, not four (key string, list node,
// shared entry, slice), is what keeps a small cached report within twice its serialized size
// (bench/README.md, `memory`).
//
// Immutable once built, but for the LRU links, which only the cache touches, under its lock.
class CachedReport {
 public:
  // What one entry can hold. A report's serialized size is far below the first (a
  // 10,000-record report is about 1.5 MB); IDs are at most 1,024 bytes each (validation.h).
  static constexpr std::size_t kMaxValueBytes = 0xffffffffu;
  static constexpr std::size_t kMaxKeyBytes = 0xffff;
  static constexpr std::size_t kMaxErrorBytes = 0xffff;

  // A null reference.
  CachedReport() = default;

  // An entry for `key` (ReportKey::encoded()) whose value is the `size` bytes that `write`
  // puts at the pointer it is given; fresh from `fetch_time` for `ttl`. Null (and `write`
  // not called) beyond kMaxValueBytes or kMaxKeyBytes.
  static CachedReport Make(absl::string_view key, std::size_t size,
                           absl::FunctionRef<void(uint8_t*)> write, absl::Time fetch_time,
                           absl::Duration ttl);
  // An entry for `key` holding a copy of `value`.
  static CachedReport Copy(absl::string_view key, absl::string_view value, absl::Time fetch_time,
                           absl::Duration ttl);
  // A negative entry for `key`: answers with `error` (message and payloads kept) until
  // `expires_at`. `error` must not be OK. Null when the error's message and payloads take
  // more than kMaxErrorBytes (or the key more than kMaxKeyBytes): such a 404 is not remembered.
  static CachedReport Negative(absl::string_view key, const absl::Status& error,
                               absl::Time expires_at);

  explicit operator bool() const { return header() != nullptr; }
  // Two references to the same entry.
  friend bool operator==(const CachedReport& a, const CachedReport& b) {
    return a.header() == b.header();
  }
  friend bool operator!=(const CachedReport& a, const CachedReport& b) { return !(a == b); }

  // For a report: a serialized GetAttendanceReportResponse with `report` and
  // `graph_fetch_time` set and `from_cache` and `stale` unset. Empty in a negative entry.
  const grpc::Slice& bytes() const { return value_; }
  absl::string_view key() const;
  bool negative() const;
  // OK for a report; the NOT_FOUND (message and details) of a negative entry, rebuilt.
  absl::Status error() const;
  // Fresh while now < expires_at().
  absl::Time expires_at() const;

 private:
  friend class ReportCache;
  struct Header;

  // Allocates an entry with room for `value_size` value bytes and `error_size` error bytes
  // after the key, with its header filled in; the caller writes the value and the error.
  static CachedReport Allocate(absl::string_view key, std::size_t value_size,
                               std::size_t error_size, absl::Time expires_at);
  // A new reference to the entry of `header` (which must be alive).
  static CachedReport Ref(Header* header);
  // Takes and drops the reference the cache holds on the entry of `header`.
  static void AddRef(Header* header);
  static void Unref(Header* header);
  Header* header() const { return header_; }

  Header* header_ = nullptr;  // null: a null reference
  // The value bytes, holding this reference (its refcount is the whole entry's).
  grpc::Slice value_;
};

// What a waiter of LoadOrJoin gets on success.
struct CacheResult {
  // Never a negative entry (those arrive as their error).
  CachedReport report;
  // True when the load failed and `report` is an expired entry served instead.
  bool stale = false;
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
// into a new entry for `key`, fresh for `ttl`. *report's contents are moved out (it is left
// empty); when it lives on an arena, the response is built on the same one.
CachedReport SerializeReport(absl::string_view key, rollcall::v1::MeetingAttendanceReport* report,
                             absl::Time fetch_time, absl::Duration ttl);

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
  // What each entry costs beyond its key and value bytes, for the byte bound: its header, the
  // slice's refcount, malloc's own header and rounding, and its slot in the index.
  static constexpr std::size_t kEntryOverheadBytes = 112;

  struct Options {
    // Bound on the sum of entry charges (key + value + kEntryOverheadBytes; a negative entry's
    // value is its error's message and payloads). 0 caches nothing
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
  // may still be served stale, and dropped after that.
  CachedReport Lookup(const ReportKey& key);

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

  // Blocks until `predicate(stats)` holds or `timeout` passes; returns whether it held.
  // The predicate is re-evaluated whenever the cache's state changes (no polling). For tests
  // and diagnostics; `predicate` must be cheap and must not call into the cache.
  bool AwaitStats(const std::function<bool(const Stats&)>& predicate,
                  absl::Duration timeout) const;

 private:
  using Header = CachedReport::Header;

  static absl::string_view KeyOf(const Header* header);
  // What the entry of `header` counts against max_bytes.
  static std::size_t Charge(const Header* header);

  // The index holds the cache's entries by their keys, which live in the entries themselves:
  // one pointer per slot.
  struct IndexHash {
    using is_transparent = void;
    std::size_t operator()(absl::string_view key) const;
    std::size_t operator()(const Header* header) const;
  };
  struct IndexEq {
    using is_transparent = void;
    bool operator()(const Header* a, const Header* b) const { return a == b; }
    bool operator()(const Header* a, absl::string_view b) const;
    bool operator()(absl::string_view a, const Header* b) const { return (*this)(b, a); }
  };

  // A caller waiting on a load.
  struct Waiter {
    Done done;
    absl::Time deadline;
  };

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
  // The latest deadline of the waiters of `key`'s flight.
  absl::Time FlightDeadline(const std::string& key) const ABSL_LOCKS_EXCLUDED(mu_);
  // Takes the waiters of `key`'s flight (all, or those the load ran out of time for; see
  // LoadOrJoin), removes the flight when none remain, updates the cache with the load's
  // outcome and decides what the waiters get.
  Completion CompleteFlight(const std::string& key, absl::Time deadline,
                            absl::StatusOr<CachedReport> loaded) ABSL_LOCKS_EXCLUDED(mu_);
  // When the entry of `header` stops being kept (for stale-if-error; a negative entry is never
  // served stale).
  absl::Time KeepUntil(const Header* header) const;
  // The cached entry of `key`, or null.
  Header* FindLocked(absl::string_view key) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // The expired-but-kept report entry of `key`, or null.
  CachedReport StaleLocked(absl::string_view key, absl::Time now) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Puts `entry` at the LRU front, replacing any entry of its key, and evicts from the LRU end
  // down to the bound; false (and nothing inserted) when it alone exceeds max_bytes.
  bool InsertLocked(const CachedReport& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EraseKeyLocked(absl::string_view key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EraseLocked(Header* header) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Marks the entry of `header` most recently used.
  void TouchLocked(Header* header) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UnlinkLocked(Header* header) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void LinkFrontLocked(Header* header) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Stats StatsLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  const Options options_;
  const common::Clock* const clock_;
  UpstreamExecutor* const executor_;
  Logger* const logger_;

  mutable absl::Mutex mu_;
  // Every cached entry; the cache holds one reference to each (dropped in EraseLocked).
  absl::flat_hash_set<Header*, IndexHash, IndexEq> index_ ABSL_GUARDED_BY(mu_);
  // The same entries, most recently used first, linked through their headers.
  Header* newest_ ABSL_GUARDED_BY(mu_) = nullptr;
  Header* oldest_ ABSL_GUARDED_BY(mu_) = nullptr;
  // Waiters of each load in flight; a key is here from the load's start until its waiters are
  // taken in CompleteFlight.
  absl::flat_hash_map<std::string, std::vector<Waiter>> in_flight_ ABSL_GUARDED_BY(mu_);
  std::size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  std::size_t negative_entries_ ABSL_GUARDED_BY(mu_) = 0;
  Stats counters_ ABSL_GUARDED_BY(mu_);  // the uint64_t counters; sizes are computed
};

}  // namespace rollcall::service
