#include "service/report_cache.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "graph_client/error_details.h"

namespace rollcall::service {
namespace {

absl::Time ToTime(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

void SetTimestamp(absl::Time time, google::protobuf::Timestamp* ts) {
  const int64_t seconds = absl::ToUnixSeconds(time);
  ts->set_seconds(seconds);
  ts->set_nanos(static_cast<int32_t>((time - absl::FromUnixSeconds(seconds)) /
                                     absl::Nanoseconds(1)));
}

}  // namespace

ReportKey::ReportKey(absl::string_view user_id, absl::string_view meeting_id,
                     absl::string_view report_id, rollcall::v1::ReportView view)
    : with_records_(view != rollcall::v1::REPORT_VIEW_BASIC) {
  encoded_.reserve(user_id.size() + meeting_id.size() + report_id.size() + 24);
  absl::StrAppend(&encoded_, user_id.size(), ":", user_id, meeting_id.size(), ":", meeting_id,
                  report_id.size(), ":", report_id, with_records_ ? "full" : "basic");
}

absl::Duration ReportTtl(const rollcall::v1::MeetingAttendanceReport& report, absl::Time now,
                         const TtlPolicy& policy) {
  if (!report.has_meeting_end_date_time()) return policy.ttl_recent;
  const absl::Time ended = ToTime(report.meeting_end_date_time());
  return now - ended >= policy.recent_report_age ? policy.ttl : policy.ttl_recent;
}

LoadedReport SerializeReport(rollcall::v1::MeetingAttendanceReport report, absl::Time fetch_time,
                             absl::Duration ttl) {
  rollcall::v1::GetAttendanceReportResponse response;
  *response.mutable_report() = std::move(report);
  SetTimestamp(fetch_time, response.mutable_graph_fetch_time());
  grpc::Slice bytes(response.ByteSizeLong());
  response.SerializeWithCachedSizesToArray(const_cast<uint8_t*>(bytes.begin()));
  return LoadedReport{std::move(bytes), fetch_time, ttl};
}

ReportCache::ReportCache(const Options& options, const graph::Clock* clock,
                         UpstreamExecutor* executor)
    : options_(options), clock_(clock), executor_(executor) {}

std::shared_ptr<const CachedReport> ReportCache::Lookup(const ReportKey& key) {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  const auto found = index_.find(absl::string_view(key.encoded()));
  if (found == index_.end()) {
    ++counters_.misses;
    return nullptr;
  }
  const LruList::iterator it = found->second;
  if (it->value->expires_at <= now) {
    EraseLocked(it);
    ++counters_.expirations;
    ++counters_.misses;
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, it);
  ++counters_.hits;
  return it->value;
}

void ReportCache::LoadOrJoin(const ReportKey& key, Loader loader, Done done) {
  std::shared_ptr<const CachedReport> fresh;
  {
    const absl::Time now = clock_->Now();
    absl::MutexLock lock(&mu_);
    // A load that finished between the caller's Lookup and now may have filled the entry.
    const auto found = index_.find(absl::string_view(key.encoded()));
    if (found != index_.end() && found->second->value->expires_at > now) {
      lru_.splice(lru_.begin(), lru_, found->second);
      ++counters_.hits;
      fresh = found->second->value;
    } else {
      auto [flight, started] = in_flight_.try_emplace(key.encoded());
      flight->second.push_back(std::move(done));
      if (!started) {
        ++counters_.joins;
        return;
      }
      ++counters_.loads;
      // Scheduled under mu_ so that nobody joins a load the executor refused.
      const bool scheduled = executor_->Schedule(
          [this, encoded = key.encoded(), loader = std::move(loader)]() mutable {
            RunLoad(encoded, loader);
          });
      if (scheduled) return;
      ++counters_.load_errors;
      done = std::move(flight->second.front());
      in_flight_.erase(flight);
    }
  }
  if (fresh != nullptr) {
    done(std::move(fresh));
    return;
  }
  graph::ErrorDetails details;
  details.reason = std::string(kUpstreamOverloadedReason);
  done(graph::MakeError(absl::StatusCode::kUnavailable,
                        "too many Graph calls are queued; retry with backoff", details));
}

void ReportCache::RunLoad(const std::string& key, const Loader& loader) {
  absl::StatusOr<LoadedReport> loaded = loader();
  absl::StatusOr<std::shared_ptr<const CachedReport>> result;
  bool cacheable = false;
  if (loaded.ok()) {
    cacheable = loaded->ttl > absl::ZeroDuration();
    result = std::make_shared<const CachedReport>(CachedReport{
        std::move(loaded->bytes), loaded->fetch_time, loaded->fetch_time + loaded->ttl});
  } else {
    result = loaded.status();
  }
  std::vector<Done> waiters = CompleteFlight(key, result, cacheable);
  for (Done& done : waiters) done(result);
}

std::vector<ReportCache::Done> ReportCache::CompleteFlight(
    const std::string& key, const absl::StatusOr<std::shared_ptr<const CachedReport>>& result,
    bool cacheable) {
  absl::MutexLock lock(&mu_);
  std::vector<Done> waiters;
  if (auto flight = in_flight_.find(key); flight != in_flight_.end()) {
    waiters = std::move(flight->second);
    in_flight_.erase(flight);
  }
  if (!result.ok()) {
    ++counters_.load_errors;
    return waiters;
  }
  const std::size_t charge = key.size() + (*result)->bytes.size() + kEntryOverheadBytes;
  if (!cacheable || charge > options_.max_bytes) {
    ++counters_.uncacheable;
    return waiters;
  }
  if (auto old = index_.find(absl::string_view(key)); old != index_.end()) {
    EraseLocked(old->second);
  }
  lru_.push_front(Entry{key, *result, charge});
  index_.emplace(absl::string_view(lru_.front().key), lru_.begin());
  bytes_ += charge;
  while (bytes_ > options_.max_bytes && !lru_.empty()) {
    EraseLocked(std::prev(lru_.end()));
    ++counters_.evictions;
  }
  return waiters;
}

void ReportCache::EraseLocked(LruList::iterator it) {
  bytes_ -= it->charge;
  index_.erase(absl::string_view(it->key));
  lru_.erase(it);
}

ReportCache::Stats ReportCache::StatsLocked() const {
  Stats stats = counters_;
  stats.bytes = bytes_;
  stats.entries = lru_.size();
  stats.loads_in_flight = in_flight_.size();
  stats.waiters_in_flight = 0;
  for (const auto& [key, waiters] : in_flight_) stats.waiters_in_flight += waiters.size();
  return stats;
}

ReportCache::Stats ReportCache::GetStats() const {
  absl::MutexLock lock(&mu_);
  return StatsLocked();
}

bool ReportCache::AwaitStats(const std::function<bool(const Stats&)>& predicate,
                             absl::Duration timeout) const {
  struct Args {
    const ReportCache* cache;
    const std::function<bool(const Stats&)>* predicate;
  } args{this, &predicate};
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(
      absl::Condition(
          +[](Args* a) ABSL_NO_THREAD_SAFETY_ANALYSIS {
            return (*a->predicate)(a->cache->StatsLocked());
          },
          &args),
      timeout);
}

}  // namespace rollcall::service
