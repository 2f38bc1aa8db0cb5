#pragma once
// ReportKey and CachedReport: what the report cache keys and holds.
//
// A CachedReport is one allocation holding a serialized GetAttendanceReportResponse (or a
// remembered NOT_FOUND), its key, its expiry and the LRU links the cache threads through it;
// copies are counted references (an atomic increment), and its value is handed to gRPC as a
// slice of that same buffer, so a reply shares the cached bytes. CachedReportTraits describes
// the entry to the generic ShardedLru (lru_cache.h).
//
// Thread-safety: an entry is immutable once built, but for its LRU links, which only the
// ShardedLru touches, under the lock of the entry's shard. References may be copied and
// dropped from any thread. ReportKey is a value type (not shared).

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "grpc/slice.h"
#include "grpcpp/support/slice.h"
#include "grpcpp/support/status.h"
#include "rollcall/v1/attendance.pb.h"

namespace rollcall::service {

// What a cache key names: its first byte. One cache holds every kind, each kind's keys apart.
enum class KeyKind : char {
  kMeetingReport = 'o',    // an online meeting's report: user, meeting, report, view
  kWebinarReport = 'w',    // a webinar session's report: event, session, report, view
  kTownHallReport = 't',   // a town hall session's report: event, session, report, view
  kMeetingReports = 'O',   // an online meeting's list of reports: user, meeting
  kWebinarReports = 'W',   // a webinar session's list of reports: event, session
  kTownHallReports = 'T',  // a town hall session's list of reports: event, session
  kJoinLink = 'j',         // the meeting a join link names: user, link
  // Delegated mode: a report read through /me as the signed-in user: the user's object ID
  // (oid, from the token Entra ID returned to the on-behalf-of exchange), meeting, report,
  // view. Never shared between users: the oid is part of the key.
  kDelegatedReport = 'm',
};

// A cache key: the kind, three IDs and the view, each ID prefixed by its length (a varint) so
// that no two different requests share a key whatever bytes the IDs contain; an ID that is a
// GUID in Graph's lowercase spelling is kept as its 16 bytes, behind a prefix no length takes.
// REPORT_VIEW_UNSPECIFIED and REPORT_VIEW_FULL are the same view (the proto says so) and share
// a key. Kinds that have no third ID or no view pass "" and REPORT_VIEW_BASIC.
class ReportKey {
 public:
  // An online meeting's report (KeyKind::kMeetingReport).
  ReportKey(absl::string_view user_id, absl::string_view meeting_id, absl::string_view report_id,
            rollcall::v1::ReportView view)
      : ReportKey(KeyKind::kMeetingReport, user_id, meeting_id, report_id, view) {}
  ReportKey(KeyKind kind, absl::string_view first_id, absl::string_view second_id,
            absl::string_view third_id, rollcall::v1::ReportView view);
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
// A negative entry keeps its error as the bytes of a serialized google.rpc.Status
// (common::ToRpcStatus), the very details a reply carries.
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
  // A negative entry for `key`: answers with `error` until `expires_at`. `error` must not be
  // OK; it is kept as common::ToRpcStatus(error) serialized (code, message, and every payload
  // under a "type.googleapis.com/" URL, which is every payload common::MakeError attaches).
  // Null when those bytes are more than kMaxErrorBytes (or the key more than kMaxKeyBytes):
  // such a 404 is not remembered.
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
  // OK for a report; the NOT_FOUND (message and details) of a negative entry, rebuilt with
  // common::FromRpcStatus.
  absl::Status error() const;
  // A negative entry's reply: its code and message, and the stored google.rpc.Status bytes as
  // the details, as they are (what ToGrpcStatus(error()) gives, without re-encoding). OK for a
  // report.
  grpc::Status grpc_error() const;
  // Fresh while now < expires_at().
  absl::Time expires_at() const;

 private:
  friend struct CachedReportTraits;
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

// How ShardedLru sees a CachedReport: kind 0 is a report, kind 1 a negative entry (never kept
// past its expiry: nothing serves a remembered 404 stale).
struct CachedReportTraits {
  using Node = CachedReport::Header;
  using Ref = CachedReport;
  static constexpr int kKinds = 2;
  static constexpr int kReport = 0;
  static constexpr int kNegative = 1;
  // What an entry costs beyond its key and value bytes: its header, the slice's refcount,
  // malloc's own header and rounding, and its slot in a shard's index.
  static constexpr std::size_t kEntryOverheadBytes = 112;

  static int Kind(const Node* node);
  static absl::string_view Key(const Node* node);
  static std::size_t Charge(const Node* node);
  static absl::Time ExpiresAt(const Node* node);
  static bool KeepsStale(const Node* node) { return Kind(node) == kReport; }
  static Node* NodeOf(const CachedReport& entry) { return entry.header(); }
  static CachedReport NewRef(Node* node) { return CachedReport::Ref(node); }
  static void AddRef(Node* node) { CachedReport::AddRef(node); }
  static void Unref(Node* node) { CachedReport::Unref(node); }
  static Node*& Newer(Node* node);
  static Node*& Older(Node* node);
};

// --- Inline: the hit path's accessors -------------------------------------------------------

struct CachedReport::Header {
  grpc_slice_refcount* refcount;  // the entry's: its buffer's
  Header* newer;                  // LRU links, the cache's, under its shard's mutex
  Header* older;
  int64_t expires_at_ns;  // Unix nanoseconds
  // Sizes within the limits of CachedReport's kMax*: 40 bytes in all.
  uint32_t value_size;
  uint16_t key_size;
  uint16_t error_size;

  uint8_t* value() { return reinterpret_cast<uint8_t*>(this + 1); }
  const char* key() const { return reinterpret_cast<const char*>(this + 1) + value_size; }
  // A negative entry's serialized google.rpc.Status, after the key.
  const char* error() const { return key() + key_size; }
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

inline CachedReport CachedReport::Ref(Header* header) {
  CachedReport entry;
  entry.header_ = header;
  entry.value_ = grpc::Slice(header->value_slice(), grpc::Slice::ADD_REF);
  return entry;
}

inline void CachedReport::AddRef(Header* header) { grpc_slice_ref(header->value_slice()); }

inline void CachedReport::Unref(Header* header) { grpc_slice_unref(header->value_slice()); }

inline int CachedReportTraits::Kind(const Node* node) {
  return node->negative() ? kNegative : kReport;
}
inline absl::string_view CachedReportTraits::Key(const Node* node) {
  return absl::string_view(node->key(), node->key_size);
}
inline absl::Time CachedReportTraits::ExpiresAt(const Node* node) { return node->expires_at(); }
inline CachedReportTraits::Node*& CachedReportTraits::Newer(Node* node) { return node->newer; }
inline CachedReportTraits::Node*& CachedReportTraits::Older(Node* node) { return node->older; }

}  // namespace rollcall::service
