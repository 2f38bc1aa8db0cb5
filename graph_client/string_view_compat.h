#pragma once
// Debian's Abseil (20220623) is built with ABSL_OPTION_USE_STD_STRING_VIEW 0: absl::string_view
// is its own type and does not convert from std::string_view. Rollcall's interfaces use
// std::string_view; these convert at the seams where a view meets an Abseil function.

#include <string_view>

#include "absl/strings/string_view.h"

namespace rollcall::graph {

inline absl::string_view ToAbsl(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}
inline std::string_view ToStd(absl::string_view s) {
  return std::string_view(s.data(), s.size());
}

}  // namespace rollcall::graph
