#include "service/record_pages.h"

#include <cstdio>
#include <cstdlib>
#include <limits>

#include "absl/status/status.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "rollcall/v1/attendance.pb.h"

namespace rollcall::service {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::internal::WireFormatLite;

int Number(const Descriptor* message, const char* name, FieldDescriptor::Type type) {
  const FieldDescriptor* field = message->FindFieldByName(name);
  if (field == nullptr || field->type() != type) {
    std::fprintf(stderr, "%s has no field %s of the expected type\n",
                 std::string(message->full_name()).c_str(), name);
    std::abort();
  }
  return field->number();
}

// Every field number these functions read or write.
struct Numbers {
  int response_report, response_fetch_time, report_records;
  int list_records, list_next_page_token, list_total, list_fetch_time;
  int stream_records, stream_total, stream_fetch_time;
};

const Numbers& GetNumbers() {
  static const Numbers* const numbers = [] {
    using rollcall::v1::GetAttendanceReportResponse;
    using rollcall::v1::ListAttendanceRecordsResponse;
    using rollcall::v1::MeetingAttendanceReport;
    using rollcall::v1::StreamAttendanceRecordsResponse;
    constexpr auto kMessage = FieldDescriptor::TYPE_MESSAGE;
    constexpr auto kString = FieldDescriptor::TYPE_STRING;
    constexpr auto kInt32 = FieldDescriptor::TYPE_INT32;
    const Descriptor* response = GetAttendanceReportResponse::descriptor();
    const Descriptor* list = ListAttendanceRecordsResponse::descriptor();
    const Descriptor* stream = StreamAttendanceRecordsResponse::descriptor();
    return new Numbers{
        Number(response, "report", kMessage),
        Number(response, "graph_fetch_time", kMessage),
        Number(MeetingAttendanceReport::descriptor(), "attendance_records", kMessage),
        Number(list, "attendance_records", kMessage),
        Number(list, "next_page_token", kString),
        Number(list, "total_records", kInt32),
        Number(list, "graph_fetch_time", kMessage),
        Number(stream, "attendance_records", kMessage),
        Number(stream, "total_records", kInt32),
        Number(stream, "graph_fetch_time", kMessage),
    };
  }();
  return *numbers;
}

// Reads the next field of `bytes` from *pos: its number, and for a length-delimited field its
// bytes. False at the end or on malformed bytes (*ok false).
bool NextField(absl::string_view bytes, std::size_t* pos, int* number, bool* delimited,
               absl::string_view* value, bool* ok) {
  if (*pos >= bytes.size()) return false;
  const absl::string_view rest = bytes.substr(*pos);
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(rest.data()),
                                            static_cast<int>(rest.size()));
  const uint32_t tag = in.ReadTag();
  *number = WireFormatLite::GetTagFieldNumber(tag);
  *delimited =
      WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED;
  if (tag == 0) {
    *ok = false;
    return false;
  }
  if (*delimited) {
    uint32_t length = 0;
    if (!in.ReadVarint32(&length)) {
      *ok = false;
      return false;
    }
    const auto start = static_cast<std::size_t>(in.CurrentPosition());
    if (length > rest.size() - start) {
      *ok = false;
      return false;
    }
    *value = rest.substr(start, length);
    *pos += start + length;
    return true;
  }
  if (!WireFormatLite::SkipField(&in, tag)) {
    *ok = false;
    return false;
  }
  *pos += static_cast<std::size_t>(in.CurrentPosition());
  return true;
}

void PutVarint(uint64_t value, std::string* out) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>(value | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

void PutDelimited(int number, absl::string_view bytes, std::string* out) {
  PutVarint(WireFormatLite::MakeTag(number, WireFormatLite::WIRETYPE_LENGTH_DELIMITED), out);
  PutVarint(bytes.size(), out);
  out->append(bytes.data(), bytes.size());
}

absl::Status Corrupt() {
  return absl::InternalError("a cached report does not parse; this is a bug in Rollcall");
}

}  // namespace

absl::StatusOr<CachedResponseParts> SplitCachedResponse(absl::string_view response) {
  if (response.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    return Corrupt();
  }
  const Numbers& n = GetNumbers();
  CachedResponseParts parts;
  std::size_t pos = 0;
  int number = 0;
  bool delimited = false;
  bool ok = true;
  absl::string_view value;
  while (NextField(response, &pos, &number, &delimited, &value, &ok)) {
    if (!delimited) continue;
    if (number == n.response_report) parts.report = value;
    if (number == n.response_fetch_time) parts.fetch_time = value;
  }
  if (!ok) return Corrupt();
  return parts;
}

bool RecordWalker::Next(absl::string_view* record) {
  const int records = GetNumbers().report_records;
  int number = 0;
  bool delimited = false;
  absl::string_view value;
  while (NextField(report_, &pos_, &number, &delimited, &value, &ok_)) {
    if (delimited && number == records) {
      *record = value;
      ++index_;
      return true;
    }
  }
  return false;
}

absl::StatusOr<int> CountRecords(absl::string_view report) {
  RecordWalker walker(report);
  absl::string_view record;
  while (walker.Next(&record)) {
  }
  if (!walker.ok()) return Corrupt();
  return walker.index();
}

RecordsReply::RecordsReply(Kind kind) : kind_(kind) {}

void RecordsReply::AddRecord(absl::string_view record) {
  const Numbers& n = GetNumbers();
  PutDelimited(kind_ == Kind::kListPage ? n.list_records : n.stream_records, record, &bytes_);
}

void RecordsReply::SetNextPageToken(absl::string_view token) {
  if (token.empty()) return;
  PutDelimited(GetNumbers().list_next_page_token, token, &bytes_);
}

void RecordsReply::SetTotal(int total) {
  const Numbers& n = GetNumbers();
  if (total == 0) return;  // proto3's default: not written
  PutVarint(WireFormatLite::MakeTag(kind_ == Kind::kListPage ? n.list_total : n.stream_total,
                                    WireFormatLite::WIRETYPE_VARINT),
            &bytes_);
  PutVarint(static_cast<uint64_t>(total), &bytes_);
}

void RecordsReply::SetFetchTime(absl::string_view fetch_time_bytes) {
  const Numbers& n = GetNumbers();
  PutDelimited(kind_ == Kind::kListPage ? n.list_fetch_time : n.stream_fetch_time,
               fetch_time_bytes, &bytes_);
}

}  // namespace rollcall::service
