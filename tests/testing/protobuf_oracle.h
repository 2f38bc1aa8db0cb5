#pragma once
// An oracle for what graph_client's mapping (graph_client/json_mapping.h) must make of a Graph
// report body, computed without it: protobuf's own JSON parser
// (google::protobuf::util::JsonStringToMessage) reads the body into rollcall.v1's
// MeetingAttendanceReport, whose proto3 JSON names are Graph's property names. Only what proto3
// JSON cannot say is rewritten first, as bench/json_map_bench.cc does:
//   - "@odata.type" becomes "odataType" (the odata_type fields' JSON name);
//   - other OData annotations ("@odata.context", "@odata.nextLink", ...) are dropped: metadata
//     that the mapping leaves out too;
//   - an identity's members that no Identity field names move into its "additionalProperties"
//     object (Identity is an open type: Rollcall keeps them in that Struct), and so do a
//     report's and a record's (whose OData annotations, any name holding '@', are dropped).
// Anything else protobuf does not know is an error (no ignore_unknown_fields), so the oracle
// never silently drops what Graph sent.

#include <string>

#include "absl/status/statusor.h"
#include "rollcall/v1/attendance.pb.h"

namespace rollcall::testing {

// The report that a GET .../attendanceReports/{id} body (with or without $expand) holds.
absl::StatusOr<rollcall::v1::MeetingAttendanceReport> OracleReport(const std::string& body);

// The JSON protobuf's parser is given (for failure messages).
absl::StatusOr<std::string> OracleJson(const std::string& body);

}  // namespace rollcall::testing
