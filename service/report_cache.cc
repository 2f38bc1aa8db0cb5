#include "service/report_cache.h"

#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "graph_client/error_details.h"
#include "service/reasons.h"

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

// What a negative entry's status costs: its message and payloads.
std::size_t StatusBytes(const absl::Status& status) {
  std::size_t bytes = status.message().size();
  status.ForEachPayload([&bytes](absl::string_view type_url, const absl::Cord& payload) {
    bytes += type_url.size() + payload.size();
  });
  return bytes;
}

absl::Status OverloadedError() {
  graph::ErrorDetails details;
  details.reason = std::string(reason::kUpstreamOverloaded);
  details.retry_after = kOverloadedRetryDelay;
  return graph::MakeError(absl::StatusCode::kResourceExhausted,
                          "too many Graph calls are in progress or queued; retry with backoff",
                          details);
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
  return status.code() == absl::StatusCode::kNotFound &&
         graph::GetErrorDetails(status).reason == graph::reason::kReportNotFound;
}

ReportCache::ReportCache(const Options& options, const graph::Clock* clock,
                         UpstreamExecutor* executor, Logger* logger)
    : options_(options), clock_(clock), executor_(executor), logger_(logger) {}

std::shared_ptr<const CachedReport> ReportCache::Lookup(const ReportKey& key) {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  const auto found = index_.find(absl::string_view(key.encoded()));
  if (found == index_.end()) {
    ++counters_.misses;
    return nullptr;
  }
  const LruList::iterator it = found->second;
  if (now < it->value->expires_at) {
    lru_.splice(lru_.begin(), lru_, it);
    ++(it->value->negative() ? counters_.negative_hits : counters_.hits);
    return it->value;
  }
  if (now >= it->value->keep_until) {
    EraseLocked(it);
    ++counters_.expirations;
  }
  ++counters_.misses;
  return nullptr;
}

void ReportCache::LoadOrJoin(const ReportKey& key, Loader loader, Done done) {
  absl::StatusOr<CacheResult> at_once;
  {
    const absl::Time now = clock_->Now();
    absl::MutexLock lock(&mu_);
    // A load that finished between the caller's Lookup and now may have filled the entry.
    const auto found = index_.find(absl::string_view(key.encoded()));
    if (found != index_.end() && now < found->second->value->expires_at) {
      lru_.splice(lru_.begin(), lru_, found->second);
      ++counters_.joins;
      const std::shared_ptr<const CachedReport>& value = found->second->value;
      if (value->negative()) {
        at_once = value->error;
      } else {
        at_once = CacheResult{value, false};
      }
    } else {
      auto [flight, started] = in_flight_.try_emplace(key.encoded());
      flight->second.push_back(std::move(done));
      if (!started) {
        ++counters_.joins;
        return;
      }
      // Scheduled under mu_ so that nobody joins a load the executor refused.
      const bool scheduled = executor_->Schedule(
          [this, encoded = key.encoded(), loader = std::move(loader)]() mutable {
            RunLoad(encoded, loader);
          });
      if (scheduled) {
        ++counters_.loads;
        return;
      }
      // Refused even when an expired copy is kept: `stale` says Graph failed, and Graph was
      // not even asked. The client retries after RetryInfo's delay.
      ++counters_.rejected;
      done = std::move(flight->second.front());
      in_flight_.erase(flight);
      at_once = OverloadedError();
    }
  }
  done(std::move(at_once));
}

void ReportCache::RunLoad(const std::string& key, const Loader& loader) {
  Completion completion = CompleteFlight(key, loader());
  if (!completion.masked.ok() && logger_ != nullptr) {
    const graph::ErrorDetails details = graph::GetErrorDetails(completion.masked);
    logger_->Warn("serving stale report",
                  {{"key", TruncateForLog(key, 512)},
                   {"code", absl::StatusCodeToString(completion.masked.code())},
                   {"reason", details.reason},
                   {"expired_for", absl::FormatDuration(completion.expired_for)},
                   {"waiters", absl::StrCat(completion.waiters.size())}});
  }
  for (Done& done : completion.waiters) done(completion.result);
}

ReportCache::Completion ReportCache::CompleteFlight(const std::string& key,
                                                    absl::StatusOr<LoadedReport> loaded) {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  Completion completion;
  if (auto flight = in_flight_.find(key); flight != in_flight_.end()) {
    completion.waiters = std::move(flight->second);
    in_flight_.erase(flight);
  }

  if (loaded.ok()) {
    const absl::Time expires_at = loaded->fetch_time + loaded->ttl;
    auto value = std::make_shared<const CachedReport>(
        CachedReport{std::move(loaded->bytes), absl::OkStatus(), loaded->fetch_time, expires_at,
                     expires_at + options_.stale_if_error});
    completion.result = CacheResult{value, false};
    const std::size_t charge = key.size() + value->bytes.size() + kEntryOverheadBytes;
    if (now >= value->keep_until || !InsertLocked(key, value, charge)) {
      // Not kept; nor is an older copy, which must never be served after this newer one.
      ++counters_.uncacheable;
      EraseKeyLocked(key);
    }
    return completion;
  }

  ++counters_.load_errors;
  const absl::Status& error = loaded.status();
  completion.result = error;
  if (IsNegativelyCacheable(error)) {
    // Graph says the report is not there: any copy of it is wrong now, stale or not.
    EraseKeyLocked(key);
    if (options_.negative_ttl > absl::ZeroDuration()) {
      const absl::Time expires_at = now + options_.negative_ttl;
      auto value = std::make_shared<const CachedReport>(
          CachedReport{grpc::Slice(), error, now, expires_at, expires_at});
      const std::size_t charge = key.size() + StatusBytes(error) + kEntryOverheadBytes;
      if (InsertLocked(key, std::move(value), charge)) ++counters_.negative_stores;
    }
    return completion;
  }
  if (ServesStaleOn(error)) {
    if (std::shared_ptr<const CachedReport> stale = StaleLocked(key, now)) {
      counters_.stale_served += completion.waiters.size();
      completion.masked = error;
      completion.expired_for = now - stale->expires_at;
      completion.result = CacheResult{std::move(stale), true};
    }
  }
  return completion;
}

std::shared_ptr<const CachedReport> ReportCache::StaleLocked(absl::string_view key,
                                                             absl::Time now) const {
  const auto found = index_.find(key);
  if (found == index_.end()) return nullptr;
  const std::shared_ptr<const CachedReport>& value = found->second->value;
  if (value->negative() || now >= value->keep_until) return nullptr;
  return value;
}

bool ReportCache::InsertLocked(const std::string& key, std::shared_ptr<const CachedReport> value,
                               std::size_t charge) {
  if (charge > options_.max_bytes) return false;
  EraseKeyLocked(key);
  const bool negative = value->negative();
  lru_.push_front(Entry{key, std::move(value), charge});
  index_.emplace(absl::string_view(lru_.front().key), lru_.begin());
  bytes_ += charge;
  if (negative) ++negative_entries_;
  while (bytes_ > options_.max_bytes && !lru_.empty()) {
    EraseLocked(std::prev(lru_.end()));
    ++counters_.evictions;
  }
  return true;
}

void ReportCache::EraseKeyLocked(absl::string_view key) {
  if (auto old = index_.find(key); old != index_.end()) EraseLocked(old->second);
}

void ReportCache::EraseLocked(LruList::iterator it) {
  bytes_ -= it->charge;
  if (it->value->negative()) --negative_entries_;
  index_.erase(absl::string_view(it->key));
  lru_.erase(it);
}

ReportCache::Stats ReportCache::StatsLocked() const {
  Stats stats = counters_;
  stats.bytes = bytes_;
  stats.entries = lru_.size();
  stats.negative_entries = negative_entries_;
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
