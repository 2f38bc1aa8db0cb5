#pragma once
// ReportLoader: what a cache miss runs, on the upstream executor. It owns the Graph call for
// one report, the TTL policy (ReportTtl) and the serialization of the report straight into a
// cache entry (SerializeReport); the cache only decides who waits for it and what is kept.
//
// Thread-safe: Load runs on any number of executor threads at once; its counters are relaxed
// atomics, and the per-reason error counts sit under a mutex that only failed loads take.
// Load blocks on Graph up to the deadline it is given. Errors: Graph's (common/error_details.h
// reasons), DEADLINE_EXCEEDED when the deadline passed before Graph could be called, and
// UNAVAILABLE (SHUTTING_DOWN) after Abandon().

#include <atomic>
#include <functional>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/mutex.h"
#include "graph_client/graph_client.h"
#include "google/protobuf/message_lite.h"
#include "google/protobuf/timestamp.pb.h"
#include "rollcall/v1/attendance.pb.h"
#include "service/cached_report.h"
#include "service/log.h"

namespace rollcall::service {

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

// Sets `time` into a google.protobuf.Timestamp.
void SetTimestamp(absl::Time time, google::protobuf::Timestamp* ts);

// Serializes `response` once into a new entry for `key`, fresh from `fetch_time` for `ttl`.
CachedReport SerializeMessage(absl::string_view key, const google::protobuf::MessageLite& response,
                              absl::Time fetch_time, absl::Duration ttl);

// The ErrorInfo reason a failed Graph fetch is counted under: its own when it is one of
// graph_client's, "UNSPECIFIED" when it has none, "OTHER" otherwise (a bounded label set).
std::string GraphErrorLabel(const std::string& reason);

class ReportLoader {
 public:
  struct Stats {
    uint64_t graph_fetches = 0;  // loads that called Graph
    uint64_t graph_errors = 0;   // of which failed
    // Failed fetches by GraphErrorLabel, sorted by label.
    std::vector<std::pair<std::string, uint64_t>> graph_errors_by_reason;
  };

  // `graph` must be non-null; `clock` and `logger` must outlive the loader.
  ReportLoader(std::shared_ptr<graph::GraphClient> graph, const TtlPolicy& ttl,
               const common::Clock* clock, Logger* logger);

  // One Graph call for `ref` (with its records or not) within `deadline` (the cache's clock),
  // serialized into an entry for `key` (ReportKey::encoded()), fresh for ReportTtl. Logs one
  // line per Graph call.
  // With `graph` (delegated mode: the signed-in user's client), that client instead of the
  // loader's own.
  absl::StatusOr<CachedReport> Load(absl::string_view key, const graph::ReportRef& ref,
                                    bool with_records, absl::Time deadline,
                                    graph::GraphClient* graph = nullptr);

  // The same for a meeting's list of reports: a ListAttendanceReportsResponse{reports,
  // graph_fetch_time}, fresh for `ttl`.
  absl::StatusOr<CachedReport> LoadReportsList(absl::string_view key, const graph::MeetingRef& ref,
                                               absl::Duration ttl, absl::Time deadline);

  // The same for the meeting a join link names: a ResolveOnlineMeetingResponse{meeting,
  // graph_fetch_time}, fresh for `ttl`.
  absl::StatusOr<CachedReport> LoadMeeting(absl::string_view key, absl::string_view user_id,
                                           absl::string_view join_web_url, absl::Duration ttl,
                                           absl::Time deadline);

  // Loads that have not called Graph yet fail UNAVAILABLE (SHUTTING_DOWN) without calling it.
  // Idempotent.
  void Abandon() { abandoned_.store(true, std::memory_order_release); }

  Stats GetStats() const;

 private:
  // What a Graph call gives Run: the entry, and the fields its log line adds.
  struct Fetched {
    CachedReport entry;
    std::vector<std::pair<std::string, std::string>> log_fields;
    std::vector<std::pair<std::string, int64_t>> log_counts;  // written as JSON numbers
  };
  // The part every load shares: refuse after Abandon() or past `deadline`, count the Graph
  // call, run `fetch` (given the time it starts; it returns the entry or Graph's error), and
  // log one line with `ids` (truncated) and the outcome.
  absl::StatusOr<CachedReport> Run(
      absl::string_view what, std::vector<std::pair<absl::string_view, absl::string_view>> ids,
      absl::Time deadline, const std::function<absl::StatusOr<Fetched>()>& fetch);
  void CountError(const std::string& reason);

  const std::shared_ptr<graph::GraphClient> graph_;
  const TtlPolicy ttl_;
  const common::Clock* const clock_;
  Logger* const logger_;

  std::atomic<bool> abandoned_{false};
  std::atomic<uint64_t> graph_fetches_{0};
  std::atomic<uint64_t> graph_errors_{0};
  mutable common::Mutex mu_;
  absl::flat_hash_map<std::string, uint64_t> errors_by_reason_ ABSL_GUARDED_BY(mu_);
};

// The error of a call refused or a load dropped because the server is shutting down.
absl::Status ShuttingDownError();

}  // namespace rollcall::service
