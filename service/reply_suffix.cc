#include "service/reply_suffix.h"

#include <cstdio>
#include <cstdlib>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/wire_format_lite.h"
#include "rollcall/v1/attendance.pb.h"

namespace rollcall::service {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::internal::WireFormatLite;

void PutVarint(uint64_t value, ReplySuffix* out) {
  while (value >= 0x80) {
    out->bytes[out->size++] = static_cast<uint8_t>(value | 0x80);
    value >>= 7;
  }
  out->bytes[out->size++] = static_cast<uint8_t>(value);
}

// Appends `name: true` for the bool field `name` of GetAttendanceReportResponse.
void PutTrue(const char* name, ReplySuffix* out) {
  const FieldDescriptor* field =
      rollcall::v1::GetAttendanceReportResponse::descriptor()->FindFieldByName(name);
  if (field == nullptr || field->type() != FieldDescriptor::TYPE_BOOL || field->is_repeated()) {
    std::fprintf(stderr, "GetAttendanceReportResponse has no bool field %s\n", name);
    std::abort();
  }
  PutVarint(WireFormatLite::MakeTag(field->number(), WireFormatLite::WIRETYPE_VARINT), out);
  PutVarint(1, out);
}

CachedReplySuffixes Compute() {
  CachedReplySuffixes suffixes;
  PutTrue("from_cache", &suffixes.from_cache);
  PutTrue("from_cache", &suffixes.from_cache_stale);
  PutTrue("stale", &suffixes.from_cache_stale);
  return suffixes;
}

}  // namespace

const CachedReplySuffixes& GetCachedReplySuffixes() {
  static const CachedReplySuffixes* const suffixes = new CachedReplySuffixes(Compute());
  return *suffixes;
}

}  // namespace rollcall::service
