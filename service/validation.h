#pragma once
// What the service accepts from the network, checked before anything else happens: a request
// that fails here never reaches the cache or Graph.

#include <cstddef>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "google/protobuf/message.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/slice.h"
#include "rollcall/v1/attendance.pb.h"

namespace rollcall::service {

// The longest user_id, meeting_id or report_id accepted, in bytes. Graph's IDs are far shorter
// (an onlineMeeting ID is ~100 bytes, a report ID a GUID); the bound keeps keys, URLs and logs
// small whatever a caller sends.
inline constexpr std::size_t kMaxIdBytes = 1024;

// The longest join link ResolveOnlineMeeting accepts, in bytes (Teams links are ~300).
inline constexpr std::size_t kMaxJoinUrlBytes = 2048;
// ListAttendanceRecords' page sizes: the default (page_size 0) and the largest accepted.
inline constexpr int kDefaultPageSize = 100;
inline constexpr int kMaxPageSize = 1000;

// A VirtualEventSession's fields, viewing the request's bytes.
struct SessionFields {
  bool present = false;  // the request set virtual_event_session (even to an empty message)
  int kind = 0;          // as sent: may name no VirtualEventKind (validation refuses those)
  absl::string_view event_id;
  absl::string_view session_id;
};

// The virtual_event_session of any request message that has one, viewing the message.
template <typename Request>
SessionFields SessionFieldsOf(const Request& request) {
  SessionFields fields;
  fields.present = request.has_virtual_event_session();
  fields.kind = request.virtual_event_session().kind();
  fields.event_id = request.virtual_event_session().event_id();
  fields.session_id = request.virtual_event_session().session_id();
  return fields;
}

// A request's fields, viewing the bytes they were parsed from (valid while those are).
struct RequestFields {
  absl::string_view user_id;
  absl::string_view meeting_id;
  absl::string_view report_id;
  // As sent: an int32 value that may name no ReportView (ValidateRequest refuses those).
  rollcall::v1::ReportView view = rollcall::v1::REPORT_VIEW_UNSPECIFIED;
  SessionFields session;
};

// Every field of GetAttendanceReportRequest that ParseRequest reads, with the wire type it
// reads it in. It must name every field the message declares: a test walks the message's
// descriptor and fails on a field missing here (or here and not there), so that a field added
// to the proto cannot be skipped silently by the hand-written parser.
struct RequestWireField {
  int number;
  int wire_type;  // google::protobuf::internal::WireFormatLite::WireType
  absl::string_view name;
};
inline constexpr int kUserIdField = 1;
inline constexpr int kMeetingIdField = 2;
inline constexpr int kReportIdField = 3;
inline constexpr int kViewField = 4;
inline constexpr int kSessionField = 5;
inline constexpr RequestWireField kRequestWireFields[] = {
    {kUserIdField, 2, "user_id"},                 // string: length-delimited
    {kMeetingIdField, 2, "meeting_id"},           // string: length-delimited
    {kReportIdField, 2, "report_id"},             // string: length-delimited
    {kViewField, 0, "view"},                      // enum: varint
    {kSessionField, 2, "virtual_event_session"},  // message: length-delimited
};
// The same for the VirtualEventSession inside it.
inline constexpr int kSessionKindField = 1;
inline constexpr int kSessionEventIdField = 2;
inline constexpr int kSessionIdField = 3;
inline constexpr RequestWireField kSessionWireFields[] = {
    {kSessionKindField, 0, "kind"},          // enum: varint
    {kSessionEventIdField, 2, "event_id"},   // string: length-delimited
    {kSessionIdField, 2, "session_id"},      // string: length-delimited
};

// Parses the wire bytes of a GetAttendanceReportRequest into *out, like protobuf's parser
// (unknown fields skipped, the last occurrence of a field wins) but WITHOUT protobuf's UTF-8
// check on string fields, which fails the whole parse and logs to stderr outside our logger;
// ValidateRequest then reports bad UTF-8 naming the field. Nothing is copied: the IDs view
// `bytes`. Errors: INVALID_ARGUMENT (common::reason::kMalformedRequest, service/reasons.h) when the
// bytes are not a well-formed message.
absl::Status ParseRequest(absl::string_view bytes, RequestFields* out);

// ParseRequest's shortcut: the request as nearly every client encodes it (user_id, meeting_id
// and report_id, each under 16 KiB so that its length takes one or two bytes, and a view under
// 128, in any order, any of them repeated or left out, and nothing else) parsed with plain
// reads, as the full walk would parse it. False, with *out in no particular state, for
// anything else (a session, an unknown field, a longer varint, truncated bytes): ParseRequest
// then walks the bytes from the start. On a cache hit's path it costs about a fifth of the
// walk's instructions.
bool ParseCommonRequest(absl::string_view bytes, RequestFields* out);

// The same for a received message: parses its one slice in place, or, when gRPC delivered it
// in several, a copy joined into one. *storage holds those bytes for as long as *out is used.
absl::Status ParseRequest(const grpc::ByteBuffer& request, grpc::Slice* storage,
                          RequestFields* out);

// Checks a request. The source: either user_id and meeting_id, or virtual_event_session (kind
// WEBINAR or TOWN_HALL, event_id, session_id), not both. Every ID, report_id included:
// required, at most kMaxIdBytes bytes, valid UTF-8, no control characters (C0 U+0000..U+001F,
// DEL U+007F, C1 U+0080..U+009F). Any other byte is allowed ('/', '?', '#', '%', "..", spaces): the Graph client
// percent-encodes each ID as one path segment. view: a known ReportView value.
// Errors: INVALID_ARGUMENT with ErrorDetails reason INVALID_ID and metadata field=<field name>
// ("virtual_event_session.event_id" for a nested one), the message naming the field; the
// first failing field in declaration order is reported.
absl::Status ValidateRequest(const RequestFields& request);
// The same checks on a message protobuf parsed.
absl::Status ValidateRequest(const rollcall::v1::GetAttendanceReportRequest& request);

// The other requests, parsed by protobuf (ParseMessage) and checked like GetAttendanceReport's:
// the source and report_id as above; page_size from 0 to kMaxPageSize (the page token is the
// PageTokenSigner's to check); user_id as an ID and join_web_url an https:// URL with a host,
// at most kMaxJoinUrlBytes, valid UTF-8 with no control characters or spaces.
absl::Status ValidateRequest(const rollcall::v1::ListAttendanceReportsRequest& request);
absl::Status ValidateRequest(const rollcall::v1::ListAttendanceRecordsRequest& request);
absl::Status ValidateRequest(const rollcall::v1::StreamAttendanceRecordsRequest& request);
absl::Status ValidateRequest(const rollcall::v1::ResolveOnlineMeetingRequest& request);

// Parses a request of any type with protobuf, but first finds any string field (nested ones
// included) that is not valid UTF-8 and reports it by name (INVALID_ARGUMENT, INVALID_ID,
// field=<path>), where protobuf would fail the whole parse and log to stderr outside our
// logger. Bytes that are not a well-formed message: INVALID_ARGUMENT MALFORMED_REQUEST naming
// the message type.
absl::Status ParseMessage(const grpc::ByteBuffer& request, google::protobuf::Message* out);
absl::Status ParseMessage(absl::string_view bytes, google::protobuf::Message* out);

}  // namespace rollcall::service
