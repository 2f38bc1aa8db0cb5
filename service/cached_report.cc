#include "service/cached_report.h"

#include <cstring>
#include <new>
#include <string>
#include <utility>

#include "common/error_details.h"
#include "google/rpc/status.pb.h"
#include "grpc/slice.h"

namespace rollcall::service {
namespace {

// The decimal digits of `n`, written to end at `end`; returns where they start.
char* DecimalBefore(std::size_t n, char* end) {
  do {
    *--end = static_cast<char>('0' + n % 10);
    n /= 10;
  } while (n != 0);
  return end;
}

}  // namespace

ReportKey::ReportKey(KeyKind kind, absl::string_view first_id, absl::string_view second_id,
                     absl::string_view third_id, rollcall::v1::ReportView view)
    : with_records_(view != rollcall::v1::REPORT_VIEW_BASIC) {
  // The kind's byte, "<decimal length>:<bytes>" for each ID, then the view: no two different
  // requests share a key, whatever bytes their IDs hold.
  const absl::string_view ids[] = {first_id, second_id, third_id};
  const absl::string_view view_name = with_records_ ? "full" : "basic";
  const char kind_byte = static_cast<char>(kind);
  char digits[3][20];
  absl::string_view lengths[3];
  std::size_t size = 1 + view_name.size();
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
  put(absl::string_view(&kind_byte, 1));
  for (int i = 0; i < 3; ++i) {
    put(lengths[i]);
    put(":");
    put(ids[i]);
  }
  put(view_name);
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
