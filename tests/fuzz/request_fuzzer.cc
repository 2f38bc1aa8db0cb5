// request_fuzzer: what a caller controls, from the request bytes to the Graph URL.
//
// Each input is used twice:
//   1. as the wire bytes of a GetAttendanceReportRequest, as gRPC hands them to the service:
//      service::ParseRequest over a grpc::ByteBuffer (once as one slice, once cut into small
//      slices: the result must not depend on where slices end), checked against protobuf's own
//      parser on a twin message with `bytes` IDs (what protobuf accepts, ParseRequest accepts
//      with the same fields: it leaves UTF-8 to ValidateRequest);
//   2. as three raw IDs and a view (FuzzedDataProvider), for IDs no protobuf encoder would
//      make.
// Every request that parses then goes through service::ValidateRequest, which must agree with an
// independent statement of its contract (1..1024 bytes of RFC 3629 UTF-8 without C0 controls
// or DEL; a known view; the first bad field named), and every request that validates goes
// through the real GraphClient (with a transport that only records the URL) to check the URL:
// base, "users" (or "solutions/virtualEvents/webinars|townhalls" for a session), then exactly one
// segment per ID; each segment only unreserved characters and
// %XX, never "." or "..", and percent-decoding it gives the ID back exactly; the query is
// exactly "$expand=attendanceRecords" or absent, as the view says. EncodePathSegment must hold
// the same for any bytes at all, and service::ReportKey must give two requests the same key
// only when they ask for the same thing, of the same kind (IDs spelled as GUIDs included,
// which the key packs into 16 bytes).

#include <fuzzer/FuzzedDataProvider.h>
#include <grpcpp/impl/grpc_library.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/slice.h>

#include <algorithm>
#include <iterator>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/util/message_differencer.h"
#include "common/error_details.h"
#include "graph_client/graph_client.h"
#include "graph_client/http_transport.h"
#include "graph_client/token_credential.h"
#include "rollcall/v1/attendance.pb.h"
#include "service/cached_report.h"
#include "service/validation.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using rollcall::v1::GetAttendanceReportRequest;

constexpr char kBaseUrl[] = "https://graph.example/v1.0";
constexpr std::size_t kMaxIdBytes = 1024;

// ---------------------------------------------------------------------------------------------
// The contract of ValidateRequest, restated independently of service/utf8.cc: IDs of 1..1024
// bytes of UTF-8 without control characters (C0, DEL, C1).

// Length of the well-formed UTF-8 sequence at text[pos] (RFC 3629, table 3-7 of Unicode), or 0.
std::size_t Utf8SequenceLength(absl::string_view text, std::size_t pos, uint32_t* code_point) {
  const auto b = [&](std::size_t i) -> unsigned {
    return pos + i < text.size() ? static_cast<unsigned char>(text[pos + i]) : 0x100;
  };
  const auto in = [](unsigned v, unsigned lo, unsigned hi) { return v >= lo && v <= hi; };
  const unsigned b0 = b(0);
  if (b0 <= 0x7F) {
    *code_point = b0;
    return 1;
  }
  if (in(b0, 0xC2, 0xDF) && in(b(1), 0x80, 0xBF)) {
    *code_point = ((b0 & 0x1F) << 6) | (b(1) & 0x3F);
    return 2;
  }
  const bool three = (b0 == 0xE0 && in(b(1), 0xA0, 0xBF)) ||
                     ((in(b0, 0xE1, 0xEC) || in(b0, 0xEE, 0xEF)) && in(b(1), 0x80, 0xBF)) ||
                     (b0 == 0xED && in(b(1), 0x80, 0x9F));
  if (three && in(b(2), 0x80, 0xBF)) {
    *code_point = ((b0 & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F);
    return 3;
  }
  const bool four = (b0 == 0xF0 && in(b(1), 0x90, 0xBF)) ||
                    (in(b0, 0xF1, 0xF3) && in(b(1), 0x80, 0xBF)) ||
                    (b0 == 0xF4 && in(b(1), 0x80, 0x8F));
  if (four && in(b(2), 0x80, 0xBF) && in(b(3), 0x80, 0xBF)) {
    *code_point = 0x10000;  // never a control character; the exact value does not matter
    return 4;
  }
  return 0;
}

bool IdIsAcceptable(absl::string_view id) {
  if (id.empty() || id.size() > kMaxIdBytes) return false;
  for (std::size_t pos = 0; pos < id.size();) {
    uint32_t code_point = 0;
    const std::size_t length = Utf8SequenceLength(id, pos, &code_point);
    if (length == 0 || code_point < 0x20 || (code_point >= 0x7F && code_point <= 0x9F)) {
      return false;
    }
    pos += length;
  }
  return true;
}

// The field ValidateRequest must name, or "" when the request is valid: the source (user and
// meeting, or a webinar or town hall session, never both), then the report and the view.
std::string ExpectedBadField(const GetAttendanceReportRequest& request) {
  if (request.has_virtual_event_session()) {
    const rollcall::v1::VirtualEventSession& session = request.virtual_event_session();
    if (!request.user_id().empty() || !request.meeting_id().empty()) {
      return "virtual_event_session";
    }
    if (session.kind() != 1 && session.kind() != 2) return "virtual_event_session.kind";
    if (!IdIsAcceptable(session.event_id())) return "virtual_event_session.event_id";
    if (!IdIsAcceptable(session.session_id())) return "virtual_event_session.session_id";
  } else {
    if (!IdIsAcceptable(request.user_id())) return "user_id";
    if (!IdIsAcceptable(request.meeting_id())) return "meeting_id";
  }
  if (!IdIsAcceptable(request.report_id())) return "report_id";
  if (request.view() < 0 || request.view() > 2) return "view";
  return "";
}

// ---------------------------------------------------------------------------------------------
// URL checks.

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool IsUnreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '.' || c == '_' || c == '~';
}

// `segment` is one safe path segment that decodes to exactly `id`.
void CheckSegment(absl::string_view id, absl::string_view segment) {
  FUZZ_CHECK(segment != "." && segment != "..", "a dot-segment for an ID of %zu bytes",
             id.size());
  std::string decoded;
  for (std::size_t i = 0; i < segment.size(); ++i) {
    const char c = segment[i];
    if (IsUnreserved(c)) {
      decoded.push_back(c);
      continue;
    }
    FUZZ_CHECK(c == '%' && i + 2 < segment.size() && HexValue(segment[i + 1]) >= 0 &&
                   HexValue(segment[i + 2]) >= 0,
               "segment has %#x at %zu: %.200s", static_cast<unsigned char>(c), i,
               std::string(segment).c_str());
    decoded.push_back(static_cast<char>(HexValue(segment[i + 1]) * 16 + HexValue(segment[i + 2])));
    i += 2;
  }
  FUZZ_CHECK(decoded == id, "segment %.200s decodes to something else than the ID",
             std::string(segment).c_str());
}

// Answers every request with Graph's 404 and remembers the last URL.
class RecordingTransport final : public rollcall::graph::HttpTransport {
 public:
  absl::StatusOr<rollcall::graph::HttpResponse> Send(
      const rollcall::graph::HttpRequest& request) override {
    ++requests;
    last_url = request.url;
    rollcall::graph::HttpResponse response;
    response.status = 404;
    response.headers = {{"content-type", "application/json"}};
    response.body =
        R"({"error":{"code":"NotFound","message":"The specified attendance report was not found.",)"
        R"("innerError":{"date":"2024-01-01T00:00:00","request-id":"r","client-request-id":"c"}}})";
    return response;
  }
  int requests = 0;
  std::string last_url;
};

class FixedCredential final : public rollcall::graph::TokenCredential {
 public:
  absl::StatusOr<rollcall::graph::AccessToken> GetToken(absl::Time) override {
    return rollcall::graph::AccessToken{"fuzz-token", absl::InfiniteFuture()};
  }
  rollcall::graph::Invalidation Invalidate(const std::string&) override {
    return {rollcall::graph::Invalidation::Outcome::kStale};
  }
};

struct Graph {
  std::shared_ptr<RecordingTransport> transport = std::make_shared<RecordingTransport>();
  std::unique_ptr<rollcall::graph::GraphClient> client;
  Graph() {
    rollcall::graph::GraphClientOptions options;
    options.base_url = kBaseUrl;
    options.retry.max_attempts = 1;
    client = rollcall::graph::MakeGraphClient(options, transport,
                                              std::make_shared<FixedCredential>());
  }
};

Graph& TheGraph() {
  static Graph* const graph = new Graph();
  return *graph;
}

// The URL the real GraphClient builds for a valid request.
void CheckUrl(const GetAttendanceReportRequest& request) {
  Graph& graph = TheGraph();
  const bool with_records = request.view() != rollcall::v1::REPORT_VIEW_BASIC;
  graph.transport->requests = 0;
  const bool session = request.has_virtual_event_session();
  const rollcall::v1::VirtualEventSession& event = request.virtual_event_session();
  rollcall::graph::ReportRef ref{request.user_id(), request.meeting_id(), request.report_id()};
  if (session) {
    ref = {event.event_id(), event.session_id(), request.report_id(),
           event.kind() == rollcall::v1::VIRTUAL_EVENT_KIND_TOWN_HALL
               ? rollcall::graph::ReportSource::kTownHall
               : rollcall::graph::ReportSource::kWebinar};
  }
  auto report = graph.client->GetAttendanceReport(ref, with_records,
                                                  absl::Now() + absl::Seconds(60));
  FUZZ_CHECK(!report.ok() && report.status().code() == absl::StatusCode::kNotFound,
             "Graph's 404 became %s", report.status().ToString().c_str());
  FUZZ_CHECK(graph.transport->requests == 1, "%d requests for one 404",
             graph.transport->requests);

  absl::string_view url = graph.transport->last_url;
  FUZZ_CHECK(url.substr(0, sizeof(kBaseUrl) - 1) == kBaseUrl, "URL %.300s not under the base",
             graph.transport->last_url.c_str());
  url.remove_prefix(sizeof(kBaseUrl) - 1);
  FUZZ_CHECK(url.find('#') == absl::string_view::npos, "a '#' in the URL");
  const std::size_t question = url.find('?');
  const absl::string_view path = url.substr(0, question);
  const absl::string_view query =
      question == absl::string_view::npos ? absl::string_view() : url.substr(question + 1);
  FUZZ_CHECK(query == (with_records ? "$expand=attendanceRecords" : ""), "query %.300s",
             std::string(query).c_str());
  const std::vector<absl::string_view> segments =
      absl::StrSplit(absl::string_view(path.data(), path.size()), '/');
  if (session) {
    const char* kind =
        event.kind() == rollcall::v1::VIRTUAL_EVENT_KIND_TOWN_HALL ? "townhalls" : "webinars";
    FUZZ_CHECK(segments.size() == 9 && segments[0].empty() && segments[1] == "solutions" &&
                   segments[2] == "virtualEvents" && segments[3] == kind &&
                   segments[5] == "sessions" && segments[7] == "attendanceReports",
               "path %.300s is not /solutions/virtualEvents/%s/{e}/sessions/{s}/"
               "attendanceReports/{r}",
               std::string(path).c_str(), kind);
    CheckSegment(event.event_id(), absl::string_view(segments[4].data(), segments[4].size()));
    CheckSegment(event.session_id(), absl::string_view(segments[6].data(), segments[6].size()));
    CheckSegment(request.report_id(), absl::string_view(segments[8].data(), segments[8].size()));
    return;
  }
  FUZZ_CHECK(segments.size() == 7 && segments[0].empty() && segments[1] == "users" &&
                 segments[3] == "onlineMeetings" && segments[5] == "attendanceReports",
             "path %.300s is not /users/{u}/onlineMeetings/{m}/attendanceReports/{r}",
             std::string(path).c_str());
  CheckSegment(request.user_id(), absl::string_view(segments[2].data(), segments[2].size()));
  CheckSegment(request.meeting_id(), absl::string_view(segments[4].data(), segments[4].size()));
  CheckSegment(request.report_id(), absl::string_view(segments[6].data(), segments[6].size()));
}

// ---------------------------------------------------------------------------------------------

void CheckRequest(const GetAttendanceReportRequest& request) {
  for (const std::string* id : {&request.user_id(), &request.meeting_id(), &request.report_id(),
                                &request.virtual_event_session().event_id(),
                                &request.virtual_event_session().session_id()}) {
    CheckSegment(*id, rollcall::graph::EncodePathSegment(*id));
  }
  const absl::Status status = rollcall::service::ValidateRequest(request);
  const std::string bad_field = ExpectedBadField(request);
  if (bad_field.empty()) {
    FUZZ_CHECK(status.ok(), "a valid request was refused: %s", status.ToString().c_str());
    CheckUrl(request);
    return;
  }
  FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument,
             "an invalid request (%s) got %s", bad_field.c_str(), status.ToString().c_str());
  const auto details = rollcall::common::GetErrorDetails(status);
  FUZZ_CHECK(details.reason == "INVALID_ID", "reason %s", details.reason.c_str());
  const auto field = details.metadata.find("field");
  FUZZ_CHECK(field != details.metadata.end() && field->second == bad_field,
             "ValidateRequest named %s, not %s",
             field == details.metadata.end() ? "nothing" : field->second.c_str(),
             bad_field.c_str());
}

// Parses as the server does, then copies the fields (views into `storage`) into *out.
absl::Status ParseSlices(const std::vector<grpc::Slice>& slices, GetAttendanceReportRequest* out) {
  const grpc::ByteBuffer buffer(slices.data(), slices.size());
  grpc::Slice storage;
  rollcall::service::RequestFields fields;
  const absl::Status status = rollcall::service::ParseRequest(buffer, &storage, &fields);
  out->set_user_id(std::string(fields.user_id));
  out->set_meeting_id(std::string(fields.meeting_id));
  out->set_report_id(std::string(fields.report_id));
  out->set_view(fields.view);
  if (fields.session.present) {
    rollcall::v1::VirtualEventSession* session = out->mutable_virtual_event_session();
    session->set_kind(static_cast<rollcall::v1::VirtualEventKind>(fields.session.kind));
    session->set_event_id(std::string(fields.session.event_id));
    session->set_session_id(std::string(fields.session.session_id));
  }
  return status;
}

// GetAttendanceReportRequest with `bytes` IDs and an int32 view, and its VirtualEventSession with
// an int32 kind and `bytes` IDs: the same wire format, parsed by protobuf without UTF-8 checks.
const google::protobuf::Message& BytesTwin() {
  static const google::protobuf::Message* const prototype = [] {
    google::protobuf::FileDescriptorProto file;
    file.set_name("request_twin.proto");
    file.set_package("rollcall.fuzz");
    file.set_syntax("proto3");
    using Field = google::protobuf::FieldDescriptorProto;
    const auto add = [](google::protobuf::DescriptorProto* message, const char* name,
                        int number, Field::Type type) {
      Field* field = message->add_field();
      field->set_name(name);
      field->set_number(number);
      field->set_label(Field::LABEL_OPTIONAL);
      field->set_type(type);
      return field;
    };
    google::protobuf::DescriptorProto* message = file.add_message_type();
    message->set_name("RequestTwin");
    add(message, "user_id", 1, Field::TYPE_BYTES);
    add(message, "meeting_id", 2, Field::TYPE_BYTES);
    add(message, "report_id", 3, Field::TYPE_BYTES);
    add(message, "view", 4, Field::TYPE_INT32);
    add(message, "virtual_event_session", 5, Field::TYPE_MESSAGE)
        ->set_type_name(".rollcall.fuzz.SessionTwin");
    google::protobuf::DescriptorProto* session = file.add_message_type();
    session->set_name("SessionTwin");
    add(session, "kind", 1, Field::TYPE_INT32);
    add(session, "event_id", 2, Field::TYPE_BYTES);
    add(session, "session_id", 3, Field::TYPE_BYTES);
    static google::protobuf::DescriptorPool pool;
    const google::protobuf::FileDescriptor* built = pool.BuildFile(file);
    FUZZ_CHECK(built != nullptr, "cannot build the twin descriptor");
    static google::protobuf::DynamicMessageFactory factory(&pool);
    return factory.GetPrototype(built->message_type(0));
  }();
  return *prototype;
}

bool Equal(const GetAttendanceReportRequest& a, const GetAttendanceReportRequest& b) {
  const rollcall::v1::VirtualEventSession& sa = a.virtual_event_session();
  const rollcall::v1::VirtualEventSession& sb = b.virtual_event_session();
  return a.user_id() == b.user_id() && a.meeting_id() == b.meeting_id() &&
         a.report_id() == b.report_id() && a.view() == b.view() &&
         a.has_virtual_event_session() == b.has_virtual_event_session() &&
         sa.kind() == sb.kind() && sa.event_id() == sb.event_id() &&
         sa.session_id() == sb.session_id();
}

void CheckWireRequest(const uint8_t* data, size_t size) {
  const char* bytes = reinterpret_cast<const char*>(data);
  GetAttendanceReportRequest whole;
  const absl::Status whole_status = ParseSlices({grpc::Slice(bytes, size)}, &whole);

  std::vector<grpc::Slice> pieces;
  const std::size_t piece = size == 0 ? 1 : 1 + data[size - 1] % 7;
  for (std::size_t at = 0; at < size; at += piece) {
    pieces.emplace_back(bytes + at, std::min(piece, size - at));
  }
  GetAttendanceReportRequest cut;
  const absl::Status cut_status = ParseSlices(pieces, &cut);
  FUZZ_CHECK(whole_status == cut_status && (!whole_status.ok() || Equal(whole, cut)),
             "slices of %zu bytes changed the parse: %s vs %s", piece,
             whole_status.ToString().c_str(), cut_status.ToString().c_str());

  // protobuf's parser on a twin of the message whose IDs are `bytes` (no UTF-8 check, which
  // ParseRequest leaves to ValidateRequest): whatever protobuf accepts, ParseRequest accepts and
  // reads the same fields from. (ParseRequest may accept a little more: CodedInputStream reads
  // an over-long tag varint that protobuf's generated parser refuses, as an unknown field.)
  auto twin = std::unique_ptr<google::protobuf::Message>(BytesTwin().New());
  const bool twin_ok = twin->ParseFromArray(data, static_cast<int>(size));
  FUZZ_CHECK(!twin_ok || whole_status.ok(), "protobuf accepts, ParseRequest says %s",
             whole_status.ToString().c_str());
  if (!whole_status.ok()) {
    FUZZ_CHECK(whole_status.code() == absl::StatusCode::kInvalidArgument, "%s",
               whole_status.ToString().c_str());
    return;
  }
  if (!twin_ok) {
    CheckRequest(whole);
    return;
  }
  const auto* reflection = twin->GetReflection();
  const auto* type = twin->GetDescriptor();
  const auto* session_field = type->FindFieldByNumber(5);
  const bool has_session = reflection->HasField(*twin, session_field);
  const google::protobuf::Message& session = reflection->GetMessage(*twin, session_field);
  const auto* session_reflection = session.GetReflection();
  const auto* session_type = session.GetDescriptor();
  const rollcall::v1::VirtualEventSession& parsed_session = whole.virtual_event_session();
  FUZZ_CHECK(reflection->GetString(*twin, type->FindFieldByNumber(1)) == whole.user_id() &&
                 reflection->GetString(*twin, type->FindFieldByNumber(2)) == whole.meeting_id() &&
                 reflection->GetString(*twin, type->FindFieldByNumber(3)) == whole.report_id() &&
                 reflection->GetInt32(*twin, type->FindFieldByNumber(4)) == whole.view() &&
                 has_session == whole.has_virtual_event_session() &&
                 session_reflection->GetInt32(session, session_type->FindFieldByNumber(1)) ==
                     parsed_session.kind() &&
                 session_reflection->GetString(session, session_type->FindFieldByNumber(2)) ==
                     parsed_session.event_id() &&
                 session_reflection->GetString(session, session_type->FindFieldByNumber(3)) ==
                     parsed_session.session_id(),
             "ParseRequest and protobuf read different fields");
  GetAttendanceReportRequest by_protobuf;
  if (by_protobuf.ParseFromArray(data, static_cast<int>(size))) {
    FUZZ_CHECK(Equal(whole, by_protobuf), "protobuf reads different fields");
  }
  CheckRequest(whole);
}

void CheckKeys(const GetAttendanceReportRequest& a, const GetAttendanceReportRequest& b,
               rollcall::service::KeyKind kind_a, rollcall::service::KeyKind kind_b) {
  using rollcall::service::ReportKey;
  const ReportKey ka(kind_a, a.user_id(), a.meeting_id(), a.report_id(), a.view());
  const ReportKey kb(kind_b, b.user_id(), b.meeting_id(), b.report_id(), b.view());
  const bool same_request = kind_a == kind_b && a.user_id() == b.user_id() &&
                            a.meeting_id() == b.meeting_id() &&
                            a.report_id() == b.report_id() &&
                            ka.with_records() == kb.with_records();
  FUZZ_CHECK((ka.encoded() == kb.encoded()) == same_request,
             "two requests share a cache key, or one request has two");
  FUZZ_CHECK(ka.with_records() == (a.view() != rollcall::v1::REPORT_VIEW_BASIC), "view");
}

// An ID: bytes as they come, or, for the cache key's packed GUIDs, 16 bytes spelled as a GUID
// in Graph's lowercase form or in capitals, or the 16 bytes themselves: spellings that must
// not share a key unless they are the same ID.
std::string ConsumeId(FuzzedDataProvider& fdp) {
  const int shape = fdp.ConsumeIntegralInRange<int>(0, 3);
  if (shape == 0) return fdp.ConsumeRandomLengthString(kMaxIdBytes + 8);
  std::string bytes = fdp.ConsumeBytesAsString(16);
  bytes.resize(16);
  if (shape == 3) return bytes;
  const char* digits = shape == 1 ? "0123456789abcdef" : "0123456789ABCDEF";
  std::string guid;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) guid += '-';
    const auto byte = static_cast<unsigned char>(bytes[i]);
    guid += digits[byte >> 4];
    guid += digits[byte & 0x0f];
  }
  return guid;
}

GetAttendanceReportRequest ConsumeRequest(FuzzedDataProvider& fdp) {
  GetAttendanceReportRequest request;
  request.set_user_id(ConsumeId(fdp));
  request.set_meeting_id(ConsumeId(fdp));
  request.set_report_id(ConsumeId(fdp));
  request.set_view(static_cast<rollcall::v1::ReportView>(fdp.ConsumeIntegralInRange<int>(-1, 3)));
  if (fdp.ConsumeBool()) {  // a webinar or town hall session, perhaps with a user or meeting too
    rollcall::v1::VirtualEventSession* session = request.mutable_virtual_event_session();
    session->set_kind(
        static_cast<rollcall::v1::VirtualEventKind>(fdp.ConsumeIntegralInRange<int>(-1, 3)));
    session->set_event_id(fdp.ConsumeRandomLengthString(kMaxIdBytes + 8));
    session->set_session_id(fdp.ConsumeRandomLengthString(kMaxIdBytes + 8));
    if (fdp.ConsumeBool()) request.clear_user_id();
    if (fdp.ConsumeBool()) request.clear_meeting_id();
  }
  return request;
}

// Any kind a key may have.
rollcall::service::KeyKind ConsumeKind(FuzzedDataProvider& fdp) {
  using rollcall::service::KeyKind;
  constexpr KeyKind kKinds[] = {KeyKind::kMeetingReport,  KeyKind::kWebinarReport,
                                KeyKind::kTownHallReport, KeyKind::kMeetingReports,
                                KeyKind::kWebinarReports, KeyKind::kTownHallReports,
                                KeyKind::kJoinLink};
  return kKinds[fdp.ConsumeIntegralInRange<std::size_t>(0, std::size(kKinds) - 1)];
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // protobuf logs every string that is not UTF-8; the checks say what matters.
  google::protobuf::SetLogHandler(nullptr);
  static grpc::internal::GrpcLibraryInitializer grpc_library;
  grpc_library.summon();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  CheckWireRequest(data, size);

  FuzzedDataProvider fdp(data, size);
  const GetAttendanceReportRequest first = ConsumeRequest(fdp);
  CheckRequest(first);
  GetAttendanceReportRequest second;
  if (fdp.ConsumeBool()) {  // the same IDs, perhaps another view
    second = first;
    second.set_view(
        static_cast<rollcall::v1::ReportView>(fdp.ConsumeIntegralInRange<int>(-1, 3)));
  } else {
    second = ConsumeRequest(fdp);
  }
  const rollcall::service::KeyKind kind = ConsumeKind(fdp);
  CheckKeys(first, second, kind, fdp.ConsumeBool() ? kind : ConsumeKind(fdp));
  return 0;
}
