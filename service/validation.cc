#include "service/validation.h"

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "graph_client/error_details.h"
#include "service/reasons.h"
#include "graph_client/utf8.h"

namespace rollcall::service {
namespace {

using google::protobuf::internal::WireFormatLite;

absl::Status Malformed(absl::string_view what) {
  return graph::MakeError(absl::StatusCode::kInvalidArgument,
                          absl::StrCat("request is not a GetAttendanceReportRequest: ", what),
                          {std::string(reason::kMalformedRequest), {}, std::nullopt});
}

absl::Status InvalidField(absl::string_view field, absl::string_view problem) {
  graph::ErrorDetails details;
  details.reason = std::string(graph::reason::kInvalidId);
  details.metadata[std::string(graph::meta::kField)] = std::string(field);
  return graph::MakeError(absl::StatusCode::kInvalidArgument, absl::StrCat(field, " ", problem),
                          details);
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
    const std::size_t at = pos;
    const auto byte = static_cast<unsigned char>(value[pos]);
    if (byte >= 0x20 && byte < 0x7f) {  // printable ASCII, the common case: no decoding
      ++pos;
      continue;
    }
    const int32_t code_point = graph::utf8::DecodeOne(value, &pos);
    if (code_point == graph::utf8::kInvalid) {
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

absl::Status ParseRequest(google::protobuf::io::ZeroCopyInputStream* input,
                          rollcall::v1::GetAttendanceReportRequest* out) {
  out->Clear();
  google::protobuf::io::CodedInputStream in(input);
  std::string value;
  while (true) {
    const uint32_t tag = in.ReadTag();
    if (tag == 0) {
      // 0 is both "clean end of input" and a literal (invalid) zero tag.
      if (in.ConsumedEntireMessage()) return absl::OkStatus();
      return Malformed("invalid tag");
    }
    const int field = WireFormatLite::GetTagFieldNumber(tag);
    const WireFormatLite::WireType type = WireFormatLite::GetTagWireType(tag);
    if (field >= 1 && field <= 3 && type == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      uint32_t length = 0;
      if (!in.ReadVarint32(&length) || !in.ReadString(&value, static_cast<int>(length))) {
        return Malformed("truncated string field");
      }
      if (field == 1) out->set_user_id(std::move(value));
      if (field == 2) out->set_meeting_id(std::move(value));
      if (field == 3) out->set_report_id(std::move(value));
      value.clear();
    } else if (field == 4 && type == WireFormatLite::WIRETYPE_VARINT) {
      uint64_t raw = 0;
      if (!in.ReadVarint64(&raw)) return Malformed("truncated varint");
      // As protobuf does for an int32-backed enum: keep the low 32 bits.
      out->set_view(static_cast<rollcall::v1::ReportView>(static_cast<int32_t>(raw)));
    } else if (field == 0 || !WireFormatLite::SkipField(&in, tag)) {
      return Malformed("invalid or truncated field");
    }
  }
}

absl::Status ValidateRequest(const rollcall::v1::GetAttendanceReportRequest& request) {
  if (absl::Status s = ValidateId("user_id", request.user_id()); !s.ok()) return s;
  if (absl::Status s = ValidateId("meeting_id", request.meeting_id()); !s.ok()) return s;
  if (absl::Status s = ValidateId("report_id", request.report_id()); !s.ok()) return s;
  if (!rollcall::v1::ReportView_IsValid(request.view())) {
    return InvalidField("view", absl::StrCat("has the unknown value ", request.view(),
                                             " (use REPORT_VIEW_BASIC or REPORT_VIEW_FULL)"));
  }
  return absl::OkStatus();
}

}  // namespace rollcall::service
