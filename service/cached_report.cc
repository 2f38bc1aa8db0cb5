#include "service/cached_report.h"

#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <utility>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "common/error_details.h"
#include "google/rpc/status.pb.h"
#include "grpc/slice.h"

namespace rollcall::service {
namespace {

// What an ID's length prefix holds in place of a length when the ID is a packed GUID. No ID
// is this long (validation.h bounds every one far below); a raw length from here up is
// written one higher, so that the prefix still names exactly one thing whatever the caller.
constexpr std::size_t kPackedGuid = 0x3fff;  // two varint bytes: 0xff 0x7f
constexpr std::size_t kGuidChars = 36;
constexpr std::size_t kGuidBytes = 16;

// Whether `id` is a GUID as Graph writes them (8-4-4-4-12 lowercase hex digits), and if so its
// 16 bytes in *out. Uppercase or otherwise spelled GUIDs are kept as they are: packing maps
// exactly one spelling to each 16 bytes, so two different IDs never share a key.
bool PackGuid(absl::string_view id, char* out) {
  if (id.size() != kGuidChars || id[8] != '-' || id[13] != '-' || id[18] != '-' ||
      id[23] != '-') {
    return false;
  }
  // The 32 digits, dashes left out.
  char hex[32];
  const char* text = id.data();
  std::memcpy(hex, text, 8);
  std::memcpy(hex + 8, text + 9, 4);
  std::memcpy(hex + 12, text + 14, 4);
  std::memcpy(hex + 16, text + 19, 4);
  std::memcpy(hex + 20, text + 24, 12);
#if defined(__SSE2__)
  // On a cache hit's path (every request's user and report IDs): 16 digits at a time. A digit's
  // value is its low 4 bits, plus 9 for a letter; pairs of digits are then joined in 16-bit
  // lanes (the first digit in the low byte) and narrowed to bytes.
  const auto nibbles = [](const char* at, __m128i* out_values) {
    const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(at));
    const __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(c, _mm_set1_epi8('0' - 1)),
                                        _mm_cmplt_epi8(c, _mm_set1_epi8('9' + 1)));
    const __m128i letter = _mm_and_si128(_mm_cmpgt_epi8(c, _mm_set1_epi8('a' - 1)),
                                         _mm_cmplt_epi8(c, _mm_set1_epi8('f' + 1)));
    *out_values = _mm_add_epi8(_mm_and_si128(c, _mm_set1_epi8(0x0f)),
                               _mm_and_si128(letter, _mm_set1_epi8(9)));
    return _mm_movemask_epi8(_mm_or_si128(digit, letter)) == 0xffff;
  };
  __m128i first, second;
  if (!nibbles(hex, &first) || !nibbles(hex + 16, &second)) return false;
  const auto join = [](__m128i values) {
    const __m128i pairs = _mm_or_si128(_mm_slli_epi16(values, 4), _mm_srli_epi16(values, 8));
    return _mm_and_si128(pairs, _mm_set1_epi16(0x00ff));
  };
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm_packus_epi16(join(first), join(second)));
  return true;
#else
  const auto value = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < kGuidBytes; ++i) {
    const int high = value(hex[2 * i]);
    const int low = value(hex[2 * i + 1]);
    if (high < 0 || low < 0) return false;
    out[i] = static_cast<char>((high << 4) | low);
  }
  return true;
#endif
}

}  // namespace

ReportKey::ReportKey(KeyKind kind, absl::string_view first_id, absl::string_view second_id,
                     absl::string_view third_id, rollcall::v1::ReportView view)
    : with_records_(view != rollcall::v1::REPORT_VIEW_BASIC) {
  // The kind's byte, each ID prefixed by its length as a base-128 varint, then the view's byte
  // ('F' or 'B'): prefix-free, so no two different requests share a key whatever bytes their
  // IDs hold. A GUID in Graph's spelling (user and report IDs) is kept as its 16 bytes behind
  // the prefix kPackedGuid, 19 bytes where its text takes 37. Binary lengths and packed GUIDs
  // keep every cached entry smaller (bench/README.md, `memory`).
  const absl::string_view ids[] = {first_id, second_id, third_id};
  char lengths[3][10];
  std::size_t length_sizes[3];
  char guids[3][kGuidBytes];
  absl::string_view bodies[3];
  std::size_t size = 2;  // the kind and the view
  for (int i = 0; i < 3; ++i) {
    std::size_t n = ids[i].size();
    if (PackGuid(ids[i], guids[i])) {
      n = kPackedGuid;
      bodies[i] = absl::string_view(guids[i], kGuidBytes);
    } else {
      if (n >= kPackedGuid) ++n;
      bodies[i] = ids[i];
    }
    std::size_t used = 0;
    while (n >= 0x80) {
      lengths[i][used++] = static_cast<char>(n | 0x80);
      n >>= 7;
    }
    lengths[i][used++] = static_cast<char>(n);
    length_sizes[i] = used;
    size += used + bodies[i].size();
  }
  char* out = inline_;
  if (size > kInlineBytes) {
    heap_ = std::make_unique<char[]>(size);
    out = heap_.get();
  }
  size_ = size;
  const auto put = [&out](const char* data, std::size_t n) {
    if (n != 0) std::memcpy(out, data, n);
    out += n;
  };
  const char kind_byte = static_cast<char>(kind);
  put(&kind_byte, 1);
  for (int i = 0; i < 3; ++i) {
    put(lengths[i], length_sizes[i]);
    put(bodies[i].data(), bodies[i].size());
  }
  const char view_byte = with_records_ ? 'F' : 'B';
  put(&view_byte, 1);
}

// --- CachedReport -------------------------------------------------------------------------


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
  const std::string encoded = common::ToRpcStatus(error).SerializeAsString();
  CachedReport entry = Allocate(key, 0, encoded.size(), expires_at);
  if (entry) std::memcpy(entry.header_->value() + key.size(), encoded.data(), encoded.size());
  return entry;
}

absl::string_view CachedReport::key() const {
  return header_ == nullptr ? absl::string_view()
                            : absl::string_view(header_->key(), header_->key_size);
}

bool CachedReport::negative() const { return header_ != nullptr && header_->negative(); }

absl::Status CachedReport::error() const {
  if (!negative()) return absl::OkStatus();
  google::rpc::Status proto;
  if (!proto.ParseFromArray(header_->error(), header_->error_size)) {
    return absl::InternalError("a cached error could not be read back");
  }
  return common::FromRpcStatus(proto);
}

grpc::Status CachedReport::grpc_error() const {
  if (!negative()) return grpc::Status::OK;
  google::rpc::Status proto;
  if (!proto.ParseFromArray(header_->error(), header_->error_size) || proto.code() == 0) {
    return grpc::Status(grpc::StatusCode::INTERNAL, "a cached error could not be read back");
  }
  const int code = proto.code() > 0 && proto.code() <= 16 ? proto.code() : 2;  // UNKNOWN
  return grpc::Status(static_cast<grpc::StatusCode>(code), proto.message(),
                      std::string(header_->error(), header_->error_size));
}

absl::Time CachedReport::expires_at() const {
  return header_ == nullptr ? absl::InfinitePast() : header_->expires_at();
}

// --- CachedReportTraits --------------------------------------------------------------------

std::size_t CachedReportTraits::Charge(const Node* node) {
  // The header, the slice refcount in front of it (gRPC allocates the two together), malloc's
  // header and rounding, and one index slot (a pointer, with the table at most 7/8 full).
  static_assert(sizeof(Node) + 16 + 16 + 16 <= kEntryOverheadBytes);
  return node->key_size + node->value_size + node->error_size + kEntryOverheadBytes;
}

}  // namespace rollcall::service
