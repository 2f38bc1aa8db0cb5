#pragma once
// The bytes a reply served from the cache appends to the cached GetAttendanceReportResponse:
// `from_cache: true`, and for a stale copy also `stale: true` (protobuf merges concatenated
// messages, so the cached bytes are sent as they are, followed by these). They are derived
// from GetAttendanceReportResponse's descriptor (each field's number, and the varint wire
// type of a bool), once, so that renumbering a field in the proto cannot leave them wrong.
//
// Thread-safe: computed on first use, immutable after, and alive for the whole process (gRPC
// may send them as static slices at any time).

#include <array>
#include <cstddef>
#include <cstdint>

namespace rollcall::service {

struct ReplySuffix {
  std::array<uint8_t, 24> bytes{};
  std::size_t size = 0;
  const uint8_t* data() const { return bytes.data(); }
};

struct CachedReplySuffixes {
  ReplySuffix from_cache;        // from_cache = true
  ReplySuffix from_cache_stale;  // from_cache = true, stale = true
};

// Aborts (at the first call, at startup) if the response no longer has bool fields named
// from_cache and stale.
const CachedReplySuffixes& GetCachedReplySuffixes();

}  // namespace rollcall::service
