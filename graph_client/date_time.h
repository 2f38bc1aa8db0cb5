#pragma once
// Graph's date-times (Edm.DateTimeOffset) to absl::Time and google.protobuf.Timestamp. Called
// by the report mapping for every join, leave and meeting time; pure functions, thread-safe.

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"

namespace rollcall::graph {

// An Edm.DateTimeOffset such as "2021-03-16T18:59:52.2782182Z":
// YYYY-MM-DDThh:mm:ss[.f{1,9}](Z|+hh:mm|-hh:mm), 't' and 'z' accepted in lower case.
// INVALID_ARGUMENT (quoting the text, escaped and cut at 64 bytes) for anything else, for a
// day or time of day that does not exist, or for more than 9 fractional digits.
absl::StatusOr<absl::Time> ParseDateTimeOffset(absl::string_view text);

// `t` as a Timestamp; false (and *out untouched) outside google.protobuf.Timestamp's range,
// 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z.
bool ToTimestamp(absl::Time t, google::protobuf::Timestamp* out);

}  // namespace rollcall::graph
