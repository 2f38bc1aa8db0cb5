#pragma once
// What a test reads out of an absl::Status that carries common::ErrorDetails.

#include <string>

#include "absl/status/status.h"
#include "common/error_details.h"

namespace rollcall::testing {

inline std::string Reason(const absl::Status& status) {
  return rollcall::common::GetErrorDetails(status).reason;
}

// The metadata value under `key`, or "<absent>".
inline std::string Meta(const absl::Status& status, const std::string& key) {
  const auto details = rollcall::common::GetErrorDetails(status);
  const auto it = details.metadata.find(key);
  return it == details.metadata.end() ? "<absent>" : it->second;
}

// absl::Status::message() as a std::string (Debian's Abseil has its own string_view).
inline std::string Message(const absl::Status& status) { return std::string(status.message()); }

}  // namespace rollcall::testing
