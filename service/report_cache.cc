#include "service/report_cache.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <utility>

#include "absl/hash/hash.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "grpc/slice.h"
#include "common/error_details.h"
#include "common/error_details.h"

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

// A negative entry's error, kept in the entry as bytes (an entry holds nothing that needs a
// destructor): code, message, then each payload's type URL and bytes, every length a
// little-endian uint32.
void PutLength(std::size_t n, std::string* out) {
  const uint32_t v = static_cast<uint32_t>(n);
  for (int shift = 0; shift < 32; shift += 8) out->push_back(static_cast<char>((v >> shift) & 0xff));
}

void PutBytes(absl::string_view bytes, std::string* out) {
  PutLength(bytes.size(), out);
  out->append(bytes.data(), bytes.size());
}

std::string EncodeStatus(const absl::Status& status) {
  std::string out;
  PutLength(static_cast<std::size_t>(status.code()), &out);
  PutBytes(status.message(), &out);
  status.ForEachPayload([&out](absl::string_view type_url, const absl::Cord& payload) {
    PutBytes(type_url, &out);
    PutBytes(std::string(payload), &out);
  });
  return out;
}

// Reads what PutLength/PutBytes wrote at the front of `in`, or fails (never, for bytes that
// EncodeStatus wrote).
bool TakeLength(absl::string_view* in, std::size_t* n) {
  if (in->size() < 4) return false;
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t{static_cast<uint8_t>((*in)[i])} << (8 * i);
  in->remove_prefix(4);
  *n = v;
  return true;
}

bool TakeBytes(absl::string_view* in, absl::string_view* bytes) {
  std::size_t n = 0;
  if (!TakeLength(in, &n) || in->size() < n) return false;
  *bytes = in->substr(0, n);
  in->remove_prefix(n);
  return true;
}

absl::Status DecodeStatus(absl::string_view in) {
  std::size_t code = 0;
  absl::string_view message;
  if (!TakeLength(&in, &code) || !TakeBytes(&in, &message) || code == 0) {
    return absl::InternalError("a cached error could not be read back");
  }
  absl::Status status(static_cast<absl::StatusCode>(code), message);
  while (!in.empty()) {
    absl::string_view type_url, payload;
    if (!TakeBytes(&in, &type_url) || !TakeBytes(&in, &payload)) {
      return absl::InternalError("a cached error could not be read back");
    }
    status.SetPayload(type_url, absl::Cord(payload));
  }
  return status;
}

absl::Status OverloadedError() {
  common::ErrorDetails details;
  details.reason = std::string(common::reason::kUpstreamOverloaded);
  details.retry_after = kOverloadedRetryDelay;
  return common::MakeError(absl::StatusCode::kResourceExhausted,
                          "too many Graph calls are in progress or queued; retry with backoff",
                          details);
}

// The decimal digits of `n`, written to end at `end`; returns where they start.
char* DecimalBefore(std::size_t n, char* end) {
  do {
    *--end = static_cast<char>('0' + n % 10);
    n /= 10;
  } while (n != 0);
  return end;
}

}  // namespace

ReportKey::ReportKey(absl::string_view user_id, absl::string_view meeting_id,
                     absl::string_view report_id, rollcall::v1::ReportView view)
    : with_records_(view != rollcall::v1::REPORT_VIEW_BASIC) {
  // "<decimal length>:<bytes>" for each ID, then the view: no two different requests share a
  // key, whatever bytes their IDs hold.
  const absl::string_view ids[] = {user_id, meeting_id, report_id};
  const absl::string_view view_name = with_records_ ? "full" : "basic";
  char digits[3][20];
  absl::string_view lengths[3];
  std::size_t size = view_name.size();
  for (int i = 0; i < 3; ++i) {
    char* const end = digits[i] + sizeof(digits[i]);
    const char* const first = DecimalBefore(ids[i].size(), end);
    lengths[i] = absl::string_view(first, static_cast<std::size_t>(end - first));
    size += lengths[i].size() + 1 + ids[i].size();
  }
  char* out = inline_;
  if (size > kInlineBytes) {
    heap_ = std::make_unique<char[]>(size);
    out = heap_.get();
  }
  size_ = size;
  const auto put = [&out](absl::string_view piece) {
    if (!piece.empty()) std::memcpy(out, piece.data(), piece.size());
    out += piece.size();
  };
  for (int i = 0; i < 3; ++i) {
    put(lengths[i]);
    put(":");
    put(ids[i]);
  }
  put(view_name);
}

absl::Duration ReportTtl(const rollcall::v1::MeetingAttendanceReport& report, absl::Time now,
                         const TtlPolicy& policy) {
  if (!report.has_meeting_end_date_time()) return policy.ttl_recent;
  const absl::Time ended = ToTime(report.meeting_end_date_time());
  return now - ended >= policy.recent_report_age ? policy.ttl : policy.ttl_recent;
}

CachedReport SerializeReport(absl::string_view key, rollcall::v1::MeetingAttendanceReport* report,
                             absl::Time fetch_time, absl::Duration ttl) {
  // The response lives where the report does, so that taking the report in swaps pointers.
  google::protobuf::Arena* const arena = report->GetArena();
  rollcall::v1::GetAttendanceReportResponse local;
  rollcall::v1::GetAttendanceReportResponse* const response =
      arena != nullptr
          ? google::protobuf::Arena::CreateMessage<rollcall::v1::GetAttendanceReportResponse>(arena)
          : &local;
  response->mutable_report()->Swap(report);
  SetTimestamp(fetch_time, response->mutable_graph_fetch_time());
  return CachedReport::Make(
      key, response->ByteSizeLong(),
      [response](uint8_t* out) { response->SerializeWithCachedSizesToArray(out); }, fetch_time,
      ttl);
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
         common::GetErrorDetails(status).reason == common::reason::kReportNotFound;
}

// --- CachedReport -------------------------------------------------------------------------

struct CachedReport::Header {
  grpc_slice_refcount* refcount;  // the entry's: its buffer's
  Header* newer;                  // LRU links, the cache's, under its mutex
  Header* older;
  int64_t expires_at_ns;  // Unix nanoseconds
  // Sizes within the limits of CachedReport's kMax*: 40 bytes in all.
  uint32_t value_size;
  uint16_t key_size;
  uint16_t error_size;

  uint8_t* value() { return reinterpret_cast<uint8_t*>(this + 1); }
  const char* key() const { return reinterpret_cast<const char*>(this + 1) + value_size; }
  bool negative() const { return error_size > 0; }
  absl::Time expires_at() const { return absl::FromUnixNanos(expires_at_ns); }
  // The value as a slice of the entry, without a reference of its own.
  grpc_slice value_slice() {
    grpc_slice slice;
    slice.refcount = refcount;
    slice.data.refcounted.length = value_size;
    slice.data.refcounted.bytes = value();
    return slice;
  }
};

CachedReport CachedReport::Allocate(absl::string_view key, std::size_t value_size,
                                    std::size_t error_size, absl::Time expires_at) {
  static_assert(sizeof(Header) == 40);
  if (value_size > kMaxValueBytes || key.size() > kMaxKeyBytes || error_size > kMaxErrorBytes) {
    return CachedReport();
  }
  const std::size_t size = sizeof(Header) + value_size + key.size() + error_size;
  grpc_slice block = grpc_slice_malloc_large(size);
  uint8_t* start = GRPC_SLICE_START_PTR(block);
  if (reinterpret_cast<uintptr_t>(start) % alignof(Header) != 0) {
    // Not seen with gRPC's allocator (the buffer follows its refcount); padded if it happens.
    grpc_slice_unref(block);
    block = grpc_slice_malloc_large(size + alignof(Header) - 1);
    start = GRPC_SLICE_START_PTR(block);
    start += (alignof(Header) - reinterpret_cast<uintptr_t>(start) % alignof(Header)) %
             alignof(Header);
  }
  Header* header = new (start) Header{block.refcount,
                                      nullptr,
                                      nullptr,
                                      absl::ToUnixNanos(expires_at),
                                      static_cast<uint32_t>(value_size),
                                      static_cast<uint16_t>(key.size()),
                                      static_cast<uint16_t>(error_size)};
  std::memcpy(header->value() + value_size, key.data(), key.size());
  CachedReport entry;
  entry.header_ = header;
  // The block's one reference becomes the new entry's.
  entry.value_ = grpc::Slice(header->value_slice(), grpc::Slice::STEAL_REF);
  return entry;
}

CachedReport CachedReport::Make(absl::string_view key, std::size_t size,
                                absl::FunctionRef<void(uint8_t*)> write, absl::Time fetch_time,
                                absl::Duration ttl) {
  CachedReport entry = Allocate(key, size, 0, fetch_time + ttl);
  if (entry) write(entry.header_->value());
  return entry;
}

CachedReport CachedReport::Copy(absl::string_view key, absl::string_view value,
                                absl::Time fetch_time, absl::Duration ttl) {
  return Make(
      key, value.size(),
      [value](uint8_t* out) {
        if (!value.empty()) std::memcpy(out, value.data(), value.size());
      },
      fetch_time, ttl);
}

CachedReport CachedReport::Negative(absl::string_view key, const absl::Status& error,
                                    absl::Time expires_at) {
  const std::string encoded = EncodeStatus(error);
  CachedReport entry = Allocate(key, 0, encoded.size(), expires_at);
  if (entry) std::memcpy(entry.header_->value() + key.size(), encoded.data(), encoded.size());
  return entry;
}

CachedReport CachedReport::Ref(Header* header) {
  CachedReport entry;
  entry.header_ = header;
  entry.value_ = grpc::Slice(header->value_slice(), grpc::Slice::ADD_REF);
  return entry;
}

void CachedReport::AddRef(Header* header) { grpc_slice_ref(header->value_slice()); }

void CachedReport::Unref(Header* header) { grpc_slice_unref(header->value_slice()); }

absl::string_view CachedReport::key() const {
  return header_ == nullptr ? absl::string_view()
                            : absl::string_view(header_->key(), header_->key_size);
}

bool CachedReport::negative() const { return header_ != nullptr && header_->negative(); }

absl::Status CachedReport::error() const {
  if (!negative()) return absl::OkStatus();
  return DecodeStatus(absl::string_view(header_->key() + header_->key_size, header_->error_size));
}

absl::Time CachedReport::expires_at() const {
  return header_ == nullptr ? absl::InfinitePast() : header_->expires_at();
}

// --- ReportCache ----------------------------------------------------------------------------

absl::string_view ReportCache::KeyOf(const Header* header) {
  return absl::string_view(header->key(), header->key_size);
}

std::size_t ReportCache::Charge(const Header* header) {
  // The header, the slice refcount in front of it (gRPC allocates the two together), malloc's
  // header and rounding, and one index slot (a pointer, with the table at most 7/8 full).
  static_assert(sizeof(Header) + 16 + 16 + 16 <= kEntryOverheadBytes);
  return header->key_size + header->value_size + header->error_size + kEntryOverheadBytes;
}

std::size_t ReportCache::IndexHash::operator()(absl::string_view key) const {
  return absl::Hash<absl::string_view>{}(key);
}

std::size_t ReportCache::IndexHash::operator()(const Header* header) const {
  return (*this)(KeyOf(header));
}

bool ReportCache::IndexEq::operator()(const Header* a, absl::string_view b) const {
  return KeyOf(a) == b;
}

ReportCache::ReportCache(const Options& options, const common::Clock* clock,
                         UpstreamExecutor* executor, Logger* logger)
    : options_(options), clock_(clock), executor_(executor), logger_(logger) {}

ReportCache::~ReportCache() {
  absl::MutexLock lock(&mu_);
  for (Header* header : index_) CachedReport::Unref(header);
}

absl::Time ReportCache::KeepUntil(const Header* header) const {
  return header->negative() ? header->expires_at()
                            : header->expires_at() + options_.stale_if_error;
}

ReportCache::Header* ReportCache::FindLocked(absl::string_view key) const {
  const auto found = index_.find(key);
  return found == index_.end() ? nullptr : *found;
}

CachedReport ReportCache::Lookup(const ReportKey& key) {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  Header* header = FindLocked(key.encoded());
  if (header == nullptr) {
    ++counters_.misses;
    return CachedReport();
  }
  if (now < header->expires_at()) {
    TouchLocked(header);
    ++(header->negative() ? counters_.negative_hits : counters_.hits);
    return CachedReport::Ref(header);
  }
  if (now >= KeepUntil(header)) {
    EraseLocked(header);
    ++counters_.expirations;
  }
  ++counters_.misses;
  return CachedReport();
}

void ReportCache::LoadOrJoin(const ReportKey& key, absl::Time deadline, Loader loader,
                             Done done) {
  CachedReport fresh;
  bool refused = false;
  {
    const absl::Time now = clock_->Now();
    absl::MutexLock lock(&mu_);
    // A load that finished between the caller's Lookup and now may have filled the entry.
    Header* header = FindLocked(key.encoded());
    if (header != nullptr && now < header->expires_at()) {
      TouchLocked(header);
      ++counters_.joins;
      fresh = CachedReport::Ref(header);
    } else {
      auto [flight, started] = in_flight_.try_emplace(std::string(key.encoded()));
      flight->second.push_back(Waiter{std::move(done), deadline});
      if (!started) {
        ++counters_.joins;
        return;
      }
      // Scheduled under mu_ so that nobody joins a load the executor refused.
      const bool scheduled = executor_->Schedule(
          [this, encoded = std::string(key.encoded()), loader = std::move(loader)]() mutable {
            RunLoad(encoded, loader);
          });
      if (scheduled) {
        ++counters_.loads;
        return;
      }
      // Refused even when an expired copy is kept: `stale` says Graph failed, and Graph was
      // not even asked. The client retries after RetryInfo's delay.
      ++counters_.rejected;
      done = std::move(flight->second.front().done);
      in_flight_.erase(flight);
      refused = true;
    }
  }
  if (refused) {
    done(OverloadedError());
  } else if (fresh.negative()) {
    done(fresh.error());
  } else {
    done(CacheResult{std::move(fresh), false});
  }
}

void ReportCache::RunLoad(const std::string& key, const Loader& loader) {
  bool again = true;
  while (again) {
    const absl::Time deadline = FlightDeadline(key);
    Completion completion = CompleteFlight(key, deadline, loader(key, deadline));
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

absl::Time ReportCache::FlightDeadline(const std::string& key) const {
  absl::MutexLock lock(&mu_);
  absl::Time latest = absl::InfinitePast();
  if (const auto flight = in_flight_.find(key); flight != in_flight_.end()) {
    for (const Waiter& waiter : flight->second) latest = std::max(latest, waiter.deadline);
  }
  return latest;
}

ReportCache::Completion ReportCache::CompleteFlight(const std::string& key, absl::Time deadline,
                                                    absl::StatusOr<CachedReport> loaded) {
  if (loaded.ok() && (!*loaded || loaded->key() != key)) {
    loaded = absl::InternalError(
        "the report could not be cached: over CachedReport's limits, or built for another key");
  }
  const absl::Time now = clock_->Now();
  // Built before taking the lock: a negative entry is an allocation.
  CachedReport negative;
  if (!loaded.ok() && IsNegativelyCacheable(loaded.status()) &&
      options_.negative_ttl > absl::ZeroDuration()) {
    negative = CachedReport::Negative(key, loaded.status(), now + options_.negative_ttl);
  }

  absl::MutexLock lock(&mu_);
  Completion completion;
  // The expired copy that answers for a failed load, if it is an outage and one is kept.
  CachedReport stale;
  if (!loaded.ok() && ServesStaleOn(loaded.status())) stale = StaleLocked(key, now);
  // The load ran out of its time, and no stale copy answers for it: the callers who joined
  // with more time wait for another try.
  const bool retry_later_deadlines =
      !loaded.ok() && loaded.status().code() == absl::StatusCode::kDeadlineExceeded && !stale;
  if (const auto flight = in_flight_.find(key); flight != in_flight_.end()) {
    std::vector<Waiter>& waiters = flight->second;
    std::vector<Waiter> staying;
    for (Waiter& waiter : waiters) {
      if (retry_later_deadlines && waiter.deadline > deadline) {
        staying.push_back(std::move(waiter));
      } else {
        completion.waiters.push_back(std::move(waiter.done));
      }
    }
    if (staying.empty()) {
      in_flight_.erase(flight);
    } else {
      waiters = std::move(staying);
      completion.again = true;
      ++counters_.reloads;
    }
  }

  if (loaded.ok()) {
    completion.result = CacheResult{*loaded, false};
    if (now >= KeepUntil(loaded->header()) || !InsertLocked(*loaded)) {
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
    if (negative && InsertLocked(negative)) ++counters_.negative_stores;
    return completion;
  }
  if (stale) {
    counters_.stale_served += completion.waiters.size();
    completion.masked = error;
    completion.expired_for = now - stale.expires_at();
    completion.result = CacheResult{std::move(stale), true};
  }
  return completion;
}

CachedReport ReportCache::StaleLocked(absl::string_view key, absl::Time now) const {
  Header* header = FindLocked(key);
  if (header == nullptr || header->negative() || now >= KeepUntil(header)) return CachedReport();
  return CachedReport::Ref(header);
}

bool ReportCache::InsertLocked(const CachedReport& entry) {
  Header* header = entry.header();
  const std::size_t charge = Charge(header);
  if (charge > options_.max_bytes) return false;
  EraseKeyLocked(KeyOf(header));
  CachedReport::AddRef(header);
  index_.insert(header);
  LinkFrontLocked(header);
  bytes_ += charge;
  if (header->negative()) ++negative_entries_;
  while (bytes_ > options_.max_bytes && oldest_ != nullptr) {
    EraseLocked(oldest_);
    ++counters_.evictions;
  }
  return true;
}

void ReportCache::EraseKeyLocked(absl::string_view key) {
  if (Header* header = FindLocked(key)) EraseLocked(header);
}

void ReportCache::EraseLocked(Header* header) {
  bytes_ -= Charge(header);
  if (header->negative()) --negative_entries_;
  index_.erase(header);
  UnlinkLocked(header);
  CachedReport::Unref(header);  // may free it: last
}

void ReportCache::UnlinkLocked(Header* header) {
  (header->newer != nullptr ? header->newer->older : newest_) = header->older;
  (header->older != nullptr ? header->older->newer : oldest_) = header->newer;
  header->newer = header->older = nullptr;
}

void ReportCache::TouchLocked(Header* header) {
  UnlinkLocked(header);
  LinkFrontLocked(header);
}

void ReportCache::LinkFrontLocked(Header* header) {
  header->newer = nullptr;
  header->older = newest_;
  (newest_ != nullptr ? newest_->newer : oldest_) = header;
  newest_ = header;
}

ReportCache::Stats ReportCache::StatsLocked() const {
  Stats stats = counters_;
  stats.bytes = bytes_;
  stats.entries = index_.size();
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
