#pragma once
// The attendance records of a cached GetAttendanceReportResponse, read and re-framed without
// parsing them: ListAttendanceRecords' pages and StreamAttendanceRecords' messages copy each
// record's serialized bytes from the cached entry into a reply under the reply's own field
// number. Protobuf's wire format makes a record's bytes the same in any message that holds it.
//
// Every field number comes from the messages' descriptors, read once (like reply_suffix.h), so
// renumbering a field in the proto cannot make these bytes wrong. Thread-safe: pure functions
// over immutable bytes.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace rollcall::service {

// A cached response's parts: the report message's bytes and the graph_fetch_time message's
// bytes, viewing the response's.
struct CachedResponseParts {
  absl::string_view report;
  absl::string_view fetch_time;
};

// Splits a serialized GetAttendanceReportResponse. INTERNAL if the bytes do not parse (they
// were serialized by this process: a bug, never a client's doing).
absl::StatusOr<CachedResponseParts> SplitCachedResponse(absl::string_view response);

// Walks the attendance_records of a serialized MeetingAttendanceReport, in order.
class RecordWalker {
 public:
  explicit RecordWalker(absl::string_view report) : report_(report) {}
  // The next record's bytes; false at the end, or when the bytes do not parse (ok() false).
  bool Next(absl::string_view* record);
  bool ok() const { return ok_; }
  // Records returned so far.
  int index() const { return index_; }

 private:
  absl::string_view report_;
  std::size_t pos_ = 0;
  int index_ = 0;
  bool ok_ = true;
};

// The number of records in a serialized MeetingAttendanceReport (INTERNAL if malformed).
absl::StatusOr<int> CountRecords(absl::string_view report);

// Builds ListAttendanceRecordsResponse and StreamAttendanceRecordsResponse bytes.
class RecordsReply {
 public:
  enum class Kind { kListPage, kStreamMessage };
  explicit RecordsReply(Kind kind);
  void AddRecord(absl::string_view record);
  // Each at most once, after the records.
  void SetNextPageToken(absl::string_view token);  // kListPage only
  void SetTotal(int total);
  void SetFetchTime(absl::string_view fetch_time_bytes);
  std::size_t size() const { return bytes_.size(); }
  std::string Take() { return std::move(bytes_); }

 private:
  const Kind kind_;
  std::string bytes_;
};

}  // namespace rollcall::service
