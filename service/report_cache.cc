#include "service/report_cache.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/error_details.h"

namespace rollcall::service {
namespace {

absl::Status OverloadedError() {
  common::ErrorDetails details;
  details.reason = std::string(common::reason::kUpstreamOverloaded);
  details.retry_after = kOverloadedRetryDelay;
  return common::MakeError(absl::StatusCode::kResourceExhausted,
                           "too many Graph calls are in progress or queued; retry with backoff",
                           details);
}

ShardedLru<CachedReportTraits>::Options LruOptions(const ReportCache::Options& options) {
  ShardedLru<CachedReportTraits>::Options lru;
  lru.max_bytes = options.max_bytes;
  lru.stale_window = options.stale_if_error;
  return lru;
}

void Add(std::atomic<uint64_t>& counter, uint64_t n = 1) {
  counter.fetch_add(n, std::memory_order_relaxed);
}

}  // namespace

bool ServesStaleOn(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kInternal:
      return true;
    default:
      return false;
  }
}

bool IsNegativelyCacheable(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kNotFound) return false;
  const std::string reason = common::GetErrorDetails(status).reason;
  return reason == common::reason::kReportNotFound || reason == common::reason::kMeetingNotFound;
}

ReportCache::ReportCache(const Options& options, const common::Clock* clock,
                         UpstreamExecutor* executor, Logger* logger)
    : options_(options),
      clock_(clock),
      executor_(executor),
      logger_(logger),
      lru_(LruOptions(options)) {}

ReportCache::~ReportCache() = default;

CachedReport ReportCache::Lookup(const ReportKey& key, absl::Time now) {
  return lru_.Lookup(HashedKey(key.encoded()), now);
}

void ReportCache::LoadOrJoin(const ReportKey& key, absl::Time deadline, Loader loader,
                             Done done) {
  const absl::string_view encoded = key.encoded();
  CachedReport fresh;
  // Runs under the flight's lock when no load of `key` is in flight, so that nobody joins a
  // load the executor refused.
  const auto start = [&]() -> bool {
    // A load that finished between the caller's Lookup and now may have filled the entry.
    fresh = lru_.Peek(HashedKey(encoded), clock_->Now());
    if (fresh) return false;
    return executor_->Schedule(
        [this, key = std::string(encoded), loader = std::move(loader)]() mutable {
          RunLoad(key, loader);
        });
  };
  switch (flights_.Join(encoded, deadline, done, start)) {
    case SingleFlight<Done>::Joined::kJoined:
      Add(joins_);
      NotifyStats();
      return;
    case SingleFlight<Done>::Joined::kStarted:
      Add(loads_);
      NotifyStats();
      return;
    case SingleFlight<Done>::Joined::kNotStarted:
      break;
  }
  if (fresh) {
    Add(joins_);
    if (fresh.negative()) {
      done(fresh.error());
    } else {
      done(CacheResult{std::move(fresh), false});
    }
    return;
  }
  // Refused even when an expired copy is kept: `stale` says Graph failed, and Graph was not
  // even asked. The client retries after RetryInfo's delay.
  Add(rejected_);
  NotifyStats();
  done(OverloadedError());
}

void ReportCache::RunLoad(const std::string& key, const Loader& loader) {
  bool again = true;
  while (again) {
    const absl::Time deadline = flights_.Deadline(key);
    Completion completion = Complete(key, deadline, loader(key, deadline));
    if (!completion.masked.ok() && logger_ != nullptr) {
      const common::ErrorDetails details = common::GetErrorDetails(completion.masked);
      logger_->Warn("serving stale report",
                    {{"key", TruncateForLog(key, 512)},
                     {"code", absl::StatusCodeToString(completion.masked.code())},
                     {"reason", details.reason},
                     {"expired_for", absl::FormatDuration(completion.expired_for)},
                     {"waiters", absl::StrCat(completion.waiters.size())}});
    }
    for (Done& done : completion.waiters) done(completion.result);
    again = completion.again;
  }
}

ReportCache::Completion ReportCache::Complete(const std::string& key, absl::Time deadline,
                                              absl::StatusOr<CachedReport> loaded) {
  if (loaded.ok() && (!*loaded || loaded->key() != key)) {
    loaded = absl::InternalError(
        "the report could not be cached: over CachedReport's limits, or built for another key");
  }
  const HashedKey hashed(key);
  const absl::Time now = clock_->Now();
  Completion completion;

  // The cache first, then the waiters: a caller arriving in between finds the new entry (or
  // joins the flight and gets the same outcome).
  if (loaded.ok()) {
    // Not kept (too large, or already past its keeping time): nor is an older copy, which
    // must never be served after this newer one; Insert drops it.
    if (!lru_.Insert(*loaded, now)) Add(uncacheable_);
    completion.waiters = flights_.Take(key, deadline, /*keep_later=*/false, &completion.again);
    completion.result = CacheResult{*std::move(loaded), false};
    NotifyStats();
    return completion;
  }

  Add(load_errors_);
  const absl::Status& error = loaded.status();
  // The expired copy that answers for a failed load, if it is an outage and one is kept.
  CachedReport stale;
  if (IsNegativelyCacheable(error)) {
    // Graph says the report is not there: any copy of it is wrong now, stale or not.
    lru_.Erase(hashed);
    if (options_.negative_ttl > absl::ZeroDuration()) {
      const CachedReport negative =
          CachedReport::Negative(key, error, now + options_.negative_ttl);
      if (negative && lru_.Insert(negative, now)) Add(negative_stores_);
    }
  } else if (ServesStaleOn(error)) {
    stale = lru_.LookupKept(hashed, now);
  }
  // The load ran out of its time, and no stale copy answers for it: the callers who joined
  // with more time wait for another try.
  const bool retry_later_deadlines =
      error.code() == absl::StatusCode::kDeadlineExceeded && !stale;
  completion.waiters = flights_.Take(key, deadline, retry_later_deadlines, &completion.again);
  if (completion.again) Add(reloads_);
  if (stale) {
    Add(stale_served_, completion.waiters.size());
    completion.masked = error;
    completion.expired_for = now - stale.expires_at();
    completion.result = CacheResult{std::move(stale), true};
  } else {
    completion.result = error;
  }
  NotifyStats();
  return completion;
}

ReportCache::Stats ReportCache::GetStats() const {
  const Lru::Stats lru = lru_.GetStats();
  Stats stats;
  stats.hits = lru.hits[CachedReportTraits::kReport];
  stats.negative_hits = lru.hits[CachedReportTraits::kNegative];
  stats.misses = lru.misses;
  stats.loads = loads_.load(std::memory_order_relaxed);
  stats.load_errors = load_errors_.load(std::memory_order_relaxed);
  stats.joins = joins_.load(std::memory_order_relaxed);
  stats.rejected = rejected_.load(std::memory_order_relaxed);
  stats.reloads = reloads_.load(std::memory_order_relaxed);
  stats.stale_served = stale_served_.load(std::memory_order_relaxed);
  stats.negative_stores = negative_stores_.load(std::memory_order_relaxed);
  stats.evictions = lru.evictions;
  stats.expirations = lru.expirations;
  stats.uncacheable = uncacheable_.load(std::memory_order_relaxed);
  stats.bytes = lru.bytes;
  stats.entries = lru.entries[CachedReportTraits::kReport] +
                  lru.entries[CachedReportTraits::kNegative];
  stats.negative_entries = lru.entries[CachedReportTraits::kNegative];
  stats.loads_in_flight = flights_.flights();
  stats.waiters_in_flight = flights_.waiters();
  return stats;
}

void ReportCache::NotifyStats() const {
  // Pairs with AwaitStats: either it sees this change when it evaluates its predicate, or its
  // count is seen here and it is signalled under stats_mu_ (which it holds until it waits).
  if (stats_waiters_.load(std::memory_order_seq_cst) == 0) return;
  common::MutexLock lock(&stats_mu_);
  stats_cv_.SignalAll();
}

bool ReportCache::AwaitStats(const std::function<bool(const Stats&)>& predicate,
                             absl::Duration timeout) const {
  // Real time: the timeout only bounds a test that would otherwise hang.
  const common::Clock* const wall = common::SystemClock();
  const absl::Time deadline = wall->Now() + timeout;
  stats_waiters_.fetch_add(1, std::memory_order_seq_cst);
  bool held = false;
  {
    common::MutexLock lock(&stats_mu_);
    while (!(held = predicate(GetStats())) && wall->Now() < deadline) {
    wall->WaitUntil(&stats_cv_, deadline);
    }
  }
  stats_waiters_.fetch_sub(1, std::memory_order_seq_cst);
  return held;
}

}  // namespace rollcall::service
