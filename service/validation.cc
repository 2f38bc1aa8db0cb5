#include "service/validation.h"

#include <cstdint>
#include <cstring>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "common/error_details.h"
#include "common/error_details.h"
#include "common/utf8.h"

namespace rollcall::service {
namespace {

using google::protobuf::internal::WireFormatLite;

absl::Status Malformed(absl::string_view what) {
  return common::MakeError(absl::StatusCode::kInvalidArgument,
                          absl::StrCat("request is not a GetAttendanceReportRequest: ", what),
                          {std::string(common::reason::kMalformedRequest), {}, std::nullopt});
}

absl::Status InvalidField(absl::string_view field, absl::string_view problem) {
  common::ErrorDetails details;
  details.reason = std::string(common::reason::kInvalidId);
  details.metadata[std::string(common::meta::kField)] = std::string(field);
  return common::MakeError(absl::StatusCode::kInvalidArgument, absl::StrCat(field, " ", problem),
                          details);
}

// True when each of the 8 bytes of `word` is printable ASCII (0x20..0x7e): no byte below
// 0x20 and none above 0x7e, tested on all 8 at once (the "hasless"/"hasmore" bit tricks, exact
// for these bounds).
bool AllPrintable(uint64_t word) {
  constexpr uint64_t kOnes = 0x0101010101010101u;
  constexpr uint64_t kHighs = 0x8080808080808080u;
  const uint64_t below_space = (word - kOnes * 0x20) & ~word & kHighs;
  const uint64_t above_tilde = ((word + kOnes * (127 - 0x7e)) | word) & kHighs;
  return (below_space | above_tilde) == 0;
}

absl::Status ValidateId(absl::string_view field, absl::string_view value) {
  if (value.empty()) return InvalidField(field, "is required");
  if (value.size() > kMaxIdBytes) {
    return InvalidField(field,
                        absl::StrCat("is ", value.size(), " bytes long; at most ", kMaxIdBytes,
                                     " bytes are accepted"));
  }
  std::size_t pos = 0;
  while (pos < value.size()) {
    // Printable ASCII, the common case: eight bytes at a time, then one at a time.
    if (value.size() - pos >= 8) {
      uint64_t word;
      std::memcpy(&word, value.data() + pos, sizeof(word));
      if (AllPrintable(word)) {
        pos += 8;
        continue;
      }
    }
    const std::size_t at = pos;
    const auto byte = static_cast<unsigned char>(value[pos]);
    if (byte >= 0x20 && byte < 0x7f) {
      ++pos;
      continue;
    }
    const int32_t code_point = common::utf8::DecodeOne(value, &pos);
    if (code_point == common::utf8::kInvalid) {
      return InvalidField(field, absl::StrCat("is not valid UTF-8 (at byte ", at, ")"));
    }
    if (code_point < 0x20 || code_point == 0x7f) {
      return InvalidField(field,
                          absl::StrCat("contains a control character (at byte ", at, ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ParseRequest(absl::string_view bytes, RequestFields* out) {
  *out = RequestFields();
  if (bytes.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    return Malformed("too large");
  }
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                                            static_cast<int>(bytes.size()));
  while (true) {
    const uint32_t tag = in.ReadTag();
    if (tag == 0) {
      // 0 is both "clean end of input" and a literal (invalid) zero tag.
      if (in.ConsumedEntireMessage()) return absl::OkStatus();
      return Malformed("invalid tag");
    }
    const int field = WireFormatLite::GetTagFieldNumber(tag);
    const WireFormatLite::WireType type = WireFormatLite::GetTagWireType(tag);
    // One case per entry of kRequestWireFields; a field in another wire type is skipped, as
    // protobuf skips it.
    absl::string_view* id = nullptr;
    if (type == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      if (field == kUserIdField) id = &out->user_id;
      if (field == kMeetingIdField) id = &out->meeting_id;
      if (field == kReportIdField) id = &out->report_id;
    }
    if (id != nullptr) {
      uint32_t length = 0;
      if (!in.ReadVarint32(&length)) return Malformed("truncated string field");
      const auto start = static_cast<std::size_t>(in.CurrentPosition());
      if (length > bytes.size() - start || !in.Skip(static_cast<int>(length))) {
        return Malformed("truncated string field");
      }
      *id = bytes.substr(start, length);
    } else if (field == kViewField && type == WireFormatLite::WIRETYPE_VARINT) {
      uint64_t raw = 0;
      if (!in.ReadVarint64(&raw)) return Malformed("truncated varint");
      // As protobuf does for an int32-backed enum: keep the low 32 bits.
      out->view = static_cast<rollcall::v1::ReportView>(static_cast<int32_t>(raw));
    } else if (field == 0 || !WireFormatLite::SkipField(&in, tag)) {
      return Malformed("invalid or truncated field");
    }
  }
}

absl::Status ParseRequest(const grpc::ByteBuffer& request, grpc::Slice* storage,
                          RequestFields* out) {
  if (!request.TrySingleSlice(storage).ok() && !request.DumpToSingleSlice(storage).ok()) {
    *out = RequestFields();
    return Malformed("unreadable message");
  }
  return ParseRequest(
      absl::string_view(reinterpret_cast<const char*>(storage->begin()), storage->size()), out);
}

absl::Status ValidateRequest(const RequestFields& request) {
  if (absl::Status s = ValidateId("user_id", request.user_id); !s.ok()) return s;
  if (absl::Status s = ValidateId("meeting_id", request.meeting_id); !s.ok()) return s;
  if (absl::Status s = ValidateId("report_id", request.report_id); !s.ok()) return s;
  if (!rollcall::v1::ReportView_IsValid(request.view)) {
    return InvalidField("view", absl::StrCat("has the unknown value ", request.view,
                                             " (use REPORT_VIEW_BASIC or REPORT_VIEW_FULL)"));
  }
  return absl::OkStatus();
}

absl::Status ValidateRequest(const rollcall::v1::GetAttendanceReportRequest& request) {
  return ValidateRequest(
      RequestFields{request.user_id(), request.meeting_id(), request.report_id(), request.view()});
}

}  // namespace rollcall::service
