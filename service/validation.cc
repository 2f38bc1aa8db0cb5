#include "service/validation.h"

#include <cstdint>
#include <cstring>
#include <limits>
#include <string>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "absl/base/optimization.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "common/error_details.h"
#include "common/utf8.h"

namespace rollcall::service {
namespace {

using google::protobuf::internal::WireFormatLite;

absl::Status Malformed(absl::string_view what,
                       absl::string_view type = "GetAttendanceReportRequest") {
  return common::MakeError(absl::StatusCode::kInvalidArgument,
                          absl::StrCat("request is not a ", type, ": ", what),
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

#if defined(__SSE2__)
// The same test on 16 bytes at once: as signed bytes, printable ASCII is exactly 0x1f < b < 0x7f
// (bytes from 0x80 up are negative).
bool AllPrintable16(const char* at) {
  const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(at));
  const __m128i above_us = _mm_cmpgt_epi8(bytes, _mm_set1_epi8(0x1f));
  const __m128i below_del = _mm_cmplt_epi8(bytes, _mm_set1_epi8(0x7f));
  return _mm_movemask_epi8(_mm_and_si128(above_us, below_del)) == 0xffff;
}
#endif

// Whether every byte of `value` is printable ASCII: the IDs Graph issues, and so the common
// case, decided without a loop over single bytes. A last block that overlaps the one before
// it covers the tail.
bool AllPrintableAscii(absl::string_view value) {
  const char* data = value.data();
  const std::size_t n = value.size();
  const auto word_at = [data](std::size_t at) {
    uint64_t word;
    std::memcpy(&word, data + at, sizeof(word));
    return word;
  };
#if defined(__SSE2__)
  if (n >= 16) {
    for (std::size_t at = 0; at + 16 < n; at += 16) {
      if (!AllPrintable16(data + at)) return false;
    }
    return AllPrintable16(data + n - 16);
  }
#endif
  if (n >= 8) {
    for (std::size_t at = 0; at + 8 < n; at += 8) {
      if (!AllPrintable(word_at(at))) return false;
    }
    return AllPrintable(word_at(n - 8));
  }
  for (const char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte >= 0x7f) return false;
  }
  return true;
}

absl::Status ValidateId(absl::string_view field, absl::string_view value,
                        std::size_t max_bytes = kMaxIdBytes) {
  if (value.empty()) return InvalidField(field, "is required");
  if (value.size() > max_bytes) {
    return InvalidField(field,
                        absl::StrCat("is ", value.size(), " bytes long; at most ", max_bytes,
                                     " bytes are accepted"));
  }
  if (ABSL_PREDICT_TRUE(AllPrintableAscii(value))) return absl::OkStatus();
  // Some byte is not printable ASCII: a UTF-8 sequence, or a control character to name.
  // Byte by byte from here: AllPrintableAscii has taken the IDs that need no more.
  std::size_t pos = 0;
  while (pos < value.size()) {
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
    // C0, DEL and C1 (U+0080..U+009F): control characters all.
    if (code_point < 0x20 || (code_point >= 0x7f && code_point <= 0x9f)) {
      return InvalidField(field,
                          absl::StrCat("contains a control character (at byte ", at, ")"));
    }
  }
  return absl::OkStatus();
}

// Reads a length-delimited field's bytes, viewing `bytes` (the whole buffer `in` reads).
bool ReadBytes(google::protobuf::io::CodedInputStream* in, absl::string_view bytes,
               absl::string_view* out) {
  uint32_t length = 0;
  if (!in->ReadVarint32(&length)) return false;
  const auto start = static_cast<std::size_t>(in->CurrentPosition());
  if (length > bytes.size() - start || !in->Skip(static_cast<int>(length))) return false;
  *out = bytes.substr(start, length);
  return true;
}

// What a WalkFields reader did with a field.
enum class Read { kDone, kSkip, kFailed };

// Walks the fields of a message's `bytes` in order, as protobuf's parser does:
// `read(field, wire_type, &in, &error)` reads a field it knows (kDone), has it skipped
// (kSkip: unknown, or in another wire type), or fails the walk with *error (kFailed). Bytes
// that are not a message: MALFORMED_REQUEST naming `what`. On the hit path: no allocation.
template <typename Reader>
absl::Status WalkFields(absl::string_view bytes, absl::string_view what, Reader read) {
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                                            static_cast<int>(bytes.size()));
  absl::Status error;
  while (true) {
    const uint32_t tag = in.ReadTag();
    if (tag == 0) {
      // 0 is both "clean end of input" and a literal (invalid) zero tag.
      if (in.ConsumedEntireMessage()) return absl::OkStatus();
      return Malformed(absl::StrCat("invalid tag", what));
    }
    const int field = WireFormatLite::GetTagFieldNumber(tag);
    switch (read(field, WireFormatLite::GetTagWireType(tag), &in, &error)) {
      case Read::kDone:
        continue;
      case Read::kFailed:
        return error;
      case Read::kSkip:
        break;
    }
    if (field == 0 || !WireFormatLite::SkipField(&in, tag)) {
      return Malformed(absl::StrCat("invalid or truncated field", what));
    }
  }
}

// Reads a length-delimited field into *out, or sets *error.
Read ReadString(google::protobuf::io::CodedInputStream* in, absl::string_view bytes,
                absl::string_view* out, absl::Status* error) {
  if (ReadBytes(in, bytes, out)) return Read::kDone;
  *error = Malformed("truncated string field");
  return Read::kFailed;
}

// Reads a varint field as protobuf reads an int32-backed enum: the low 32 bits.
Read ReadEnum(google::protobuf::io::CodedInputStream* in, int32_t* out, absl::Status* error) {
  uint64_t raw = 0;
  if (!in->ReadVarint64(&raw)) {
    *error = Malformed("truncated varint");
    return Read::kFailed;
  }
  *out = static_cast<int32_t>(raw);
  return Read::kDone;
}

// A VirtualEventSession's bytes (kSessionWireFields), merged into *out as protobuf merges a
// message field sent more than once.
absl::Status ParseSession(absl::string_view bytes, SessionFields* out) {
  out->present = true;
  return WalkFields(bytes, " in virtual_event_session",
                    [&](int field, WireFormatLite::WireType type,
                        google::protobuf::io::CodedInputStream* in, absl::Status* error) {
                      if (type == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
                        if (field == kSessionEventIdField) {
                          return ReadString(in, bytes, &out->event_id, error);
                        }
                        if (field == kSessionIdField) {
                          return ReadString(in, bytes, &out->session_id, error);
                        }
                      }
                      if (field == kSessionKindField &&
                          type == WireFormatLite::WIRETYPE_VARINT) {
                        return ReadEnum(in, &out->kind, error);
                      }
                      return Read::kSkip;
                    });
}

// The source of a request: user_id and meeting_id, or a virtual event session.
absl::Status ValidateSource(absl::string_view user_id, absl::string_view meeting_id,
                            const SessionFields& session) {
  if (!session.present) {
    if (absl::Status s = ValidateId("user_id", user_id); !s.ok()) return s;
    return ValidateId("meeting_id", meeting_id);
  }
  if (!user_id.empty() || !meeting_id.empty()) {
    return InvalidField(
        "virtual_event_session",
        "is set together with user_id or meeting_id; a request reads either an online "
        "meeting (user_id and meeting_id) or a webinar or town hall session, not both");
  }
  if (session.kind != rollcall::v1::VIRTUAL_EVENT_KIND_WEBINAR &&
      session.kind != rollcall::v1::VIRTUAL_EVENT_KIND_TOWN_HALL) {
    return InvalidField("virtual_event_session.kind",
                        absl::StrCat("is ", session.kind,
                                     "; use VIRTUAL_EVENT_KIND_WEBINAR or "
                                     "VIRTUAL_EVENT_KIND_TOWN_HALL"));
  }
  if (absl::Status s = ValidateId("virtual_event_session.event_id", session.event_id); !s.ok()) {
    return s;
  }
  return ValidateId("virtual_event_session.session_id", session.session_id);
}

template <typename Request>
absl::Status ValidateReportRequest(const Request& request) {
  if (absl::Status s =
          ValidateSource(request.user_id(), request.meeting_id(),
                         SessionFieldsOf(request));
      !s.ok()) {
    return s;
  }
  return ValidateId("report_id", request.report_id());
}

// The first string field of `bytes` (a `type` message), nested ones included, that is not
// valid UTF-8: its path, or "" when there is none or the bytes do not parse (protobuf's
// parser then says so). Unknown fields are not checked: protobuf keeps them as bytes.
std::string FirstInvalidString(absl::string_view bytes, const google::protobuf::Descriptor* type,
                               int depth) {
  using google::protobuf::FieldDescriptor;
  if (depth > 8) return "";
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                                            static_cast<int>(bytes.size()));
  while (true) {
    const uint32_t tag = in.ReadTag();
    if (tag == 0) return "";
    const FieldDescriptor* field = type->FindFieldByNumber(WireFormatLite::GetTagFieldNumber(tag));
    if (field != nullptr &&
        WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED &&
        (field->type() == FieldDescriptor::TYPE_STRING ||
         field->type() == FieldDescriptor::TYPE_MESSAGE)) {
      absl::string_view value;
      if (!ReadBytes(&in, bytes, &value)) return "";
      if (field->type() == FieldDescriptor::TYPE_STRING) {
        if (!common::utf8::IsValid(value)) return field->name();
      } else {
        const std::string nested = FirstInvalidString(value, field->message_type(), depth + 1);
        if (!nested.empty()) return absl::StrCat(field->name(), ".", nested);
      }
    } else if (!WireFormatLite::SkipField(&in, tag)) {
      return "";
    }
  }
}

}  // namespace

bool ParseCommonRequest(absl::string_view bytes, RequestFields* out) {
  constexpr auto kTag = [](int field, WireFormatLite::WireType type) {
    return static_cast<uint8_t>((field << 3) | type);
  };
  constexpr uint8_t kUserId = kTag(kUserIdField, WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
  constexpr uint8_t kMeetingId = kTag(kMeetingIdField, WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
  constexpr uint8_t kReportId = kTag(kReportIdField, WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
  constexpr uint8_t kView = kTag(kViewField, WireFormatLite::WIRETYPE_VARINT);
  static_assert(kUserIdField < 16 && kMeetingIdField < 16 && kReportIdField < 16 &&
                    kViewField < 16,
                "the shortcut reads each tag as one byte");
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  const uint8_t* const end = p + bytes.size();
  while (p != end) {
    const uint8_t tag = *p++;
    if (p == end) return false;
    if (tag == kView) {
      if (*p >= 0x80) return false;
      out->view = static_cast<rollcall::v1::ReportView>(*p++);
      continue;
    }
    absl::string_view* field;
    switch (tag) {
      case kUserId:
        field = &out->user_id;
        break;
      case kMeetingId:
        field = &out->meeting_id;
        break;
      case kReportId:
        field = &out->report_id;
        break;
      default:
        return false;
    }
    std::size_t length = *p++;
    if (length >= 0x80) {
      if (p == end || *p >= 0x80) return false;
      length = (length & 0x7f) | (static_cast<std::size_t>(*p++) << 7);
    }
    if (length > static_cast<std::size_t>(end - p)) return false;
    *field = absl::string_view(reinterpret_cast<const char*>(p), length);
    p += length;
  }
  return true;
}

absl::Status ParseRequest(absl::string_view bytes, RequestFields* out) {
  *out = RequestFields();
  if (ABSL_PREDICT_TRUE(ParseCommonRequest(bytes, out))) return absl::OkStatus();
  *out = RequestFields();
  if (bytes.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    return Malformed("too large");
  }
  // One case per entry of kRequestWireFields; a field in another wire type is skipped, as
  // protobuf skips it.
  return WalkFields(
      bytes, "",
      [&](int field, WireFormatLite::WireType type, google::protobuf::io::CodedInputStream* in,
          absl::Status* error) {
        if (type == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
          switch (field) {
            case kUserIdField:
              return ReadString(in, bytes, &out->user_id, error);
            case kMeetingIdField:
              return ReadString(in, bytes, &out->meeting_id, error);
            case kReportIdField:
              return ReadString(in, bytes, &out->report_id, error);
            case kSessionField: {
              absl::string_view session;
              if (ReadString(in, bytes, &session, error) == Read::kFailed) return Read::kFailed;
              *error = ParseSession(session, &out->session);
              return error->ok() ? Read::kDone : Read::kFailed;
            }
            default:
              return Read::kSkip;
          }
        }
        if (field == kViewField && type == WireFormatLite::WIRETYPE_VARINT) {
          int32_t view = 0;
          const Read read = ReadEnum(in, &view, error);
          out->view = static_cast<rollcall::v1::ReportView>(view);
          return read;
        }
        return Read::kSkip;
      });
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
  if (absl::Status s = ValidateSource(request.user_id, request.meeting_id, request.session);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ValidateId("report_id", request.report_id); !s.ok()) return s;
  if (!rollcall::v1::ReportView_IsValid(request.view)) {
    return InvalidField("view", absl::StrCat("has the unknown value ", request.view,
                                             " (use REPORT_VIEW_BASIC or REPORT_VIEW_FULL)"));
  }
  return absl::OkStatus();
}

absl::Status ValidateRequest(const rollcall::v1::GetAttendanceReportRequest& request) {
  return ValidateRequest(
      RequestFields{request.user_id(), request.meeting_id(), request.report_id(), request.view(),
                    SessionFieldsOf(request)});
}

absl::Status ValidateRequest(const rollcall::v1::ListAttendanceReportsRequest& request) {
  return ValidateSource(
      request.user_id(), request.meeting_id(),
      SessionFieldsOf(request));
}

absl::Status ValidateRequest(const rollcall::v1::ListAttendanceRecordsRequest& request) {
  if (absl::Status s = ValidateReportRequest(request); !s.ok()) return s;
  if (request.page_size() < 0 || request.page_size() > kMaxPageSize) {
    common::ErrorDetails details;
    details.reason = std::string(common::reason::kInvalidPageSize);
    details.metadata[std::string(common::meta::kField)] = "page_size";
    return common::MakeError(
        absl::StatusCode::kInvalidArgument,
        absl::StrCat("page_size is ", request.page_size(), "; use 1 to ", kMaxPageSize,
                     ", or 0 for ", kDefaultPageSize),
        details);
  }
  return absl::OkStatus();
}

absl::Status ValidateRequest(const rollcall::v1::StreamAttendanceRecordsRequest& request) {
  return ValidateReportRequest(request);
}

absl::Status ValidateRequest(const rollcall::v1::ResolveOnlineMeetingRequest& request) {
  if (absl::Status s = ValidateId("user_id", request.user_id()); !s.ok()) return s;
  const absl::string_view url = request.join_web_url();
  if (absl::Status s = ValidateId("join_web_url", url, kMaxJoinUrlBytes); !s.ok()) return s;
  constexpr absl::string_view kScheme = "https://";
  const absl::string_view host =
      url.size() > kScheme.size() ? url.substr(kScheme.size()) : absl::string_view();
  if (!absl::StartsWithIgnoreCase(url, kScheme) || host.empty() ||
      host.find_first_of("/?#") == 0) {
    return InvalidField("join_web_url",
                        "must be the meeting's https:// join link "
                        "(https://teams.microsoft.com/l/meetup-join/...)");
  }
  if (url.find(' ') != absl::string_view::npos) {
    return InvalidField("join_web_url", "contains a space; Teams join links have none");
  }
  return absl::OkStatus();
}

absl::Status ParseMessage(absl::string_view bytes, google::protobuf::Message* out) {
  out->Clear();
  const std::string type = out->GetDescriptor()->name();
  if (bytes.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    return Malformed("too large", type);
  }
  const std::string invalid = FirstInvalidString(bytes, out->GetDescriptor(), 0);
  if (!invalid.empty()) return InvalidField(invalid, "is not valid UTF-8");
  if (!out->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    out->Clear();
    return Malformed("invalid or truncated field", type);
  }
  return absl::OkStatus();
}

absl::Status ParseMessage(const grpc::ByteBuffer& request, google::protobuf::Message* out) {
  grpc::Slice storage;
  if (!request.TrySingleSlice(&storage).ok() && !request.DumpToSingleSlice(&storage).ok()) {
    out->Clear();
    return Malformed("unreadable message", out->GetDescriptor()->name());
  }
  return ParseMessage(
      absl::string_view(reinterpret_cast<const char*>(storage.begin()), storage.size()), out);
}

}  // namespace rollcall::service
