#pragma once
// A generic, field-by-field check that a rollcall.v1 message holds exactly what a Graph JSON
// body said: "nothing Graph sent is lost, nulls stay null". It walks the JSON with RapidJSON
// and the message with protobuf reflection, independently of the mapping under test:
//   - every JSON member must land in the field whose json_name it is (`@odata.type` in
//     odata_type; `@odata.context` is skipped, and so is every OData annotation (a name with
//     an '@') on a message without odata_type; on a message with additional_properties
//     (identity, report, record), members no field names must be there with the same value);
//   - JSON null: the field has no presence (a repeated field is empty);
//   - strings, numbers and booleans are equal; date-time strings equal the Timestamp as
//     instants (parsed here with absl's RFC 3339 parser); arrays compare element by element;
//   - and the message has no field set that the JSON lacks.
// Failures are reported with ADD_FAILURE naming the JSON path; Compare returns how many.

#include <string>

#include "google/protobuf/message.h"
#include "rapidjson/document.h"

namespace rollcall::testing {

int CompareJsonToProto(const rapidjson::Value& json, const google::protobuf::Message& message,
                       const std::string& path = "");

}  // namespace rollcall::testing
