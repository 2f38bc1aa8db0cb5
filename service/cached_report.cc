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


}  // namespace

ReportKey::ReportKey(KeyKind kind, absl::string_view first_id, absl::string_view second_id,
                     absl::string_view third_id, rollcall::v1::ReportView view)
    : with_records_(view != rollcall::v1::REPORT_VIEW_BASIC) {
  // The kind's byte, each ID's length as a base-128 varint followed by its bytes, then the
  // view's byte ('F' or 'B'): prefix-free, so no two different requests share a key whatever
  // bytes their IDs hold. Binary lengths rather than decimal ones keep every cached entry a
  // few bytes smaller (bench/README.md, `memory`).
  const absl::string_view ids[] = {first_id, second_id, third_id};
  char lengths[3][10];
  std::size_t length_sizes[3];
  std::size_t size = 2;  // the kind and the view
  for (int i = 0; i < 3; ++i) {
    std::size_t n = ids[i].size();
    std::size_t used = 0;
    while (n >= 0x80) {
      lengths[i][used++] = static_cast<char>(n | 0x80);
      n >>= 7;
    }
    lengths[i][used++] = static_cast<char>(n);
    length_sizes[i] = used;
    size += used + ids[i].size();
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
    put(ids[i].data(), ids[i].size());
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
