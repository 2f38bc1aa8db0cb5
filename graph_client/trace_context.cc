#include "graph_client/trace_context.h"

#include <utility>

namespace rollcall::graph {
namespace {

thread_local std::string t_traceparent;

bool LowerHex(absl::string_view text) {
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool AllZero(absl::string_view text) { return text.find_first_not_of('0') == text.npos; }

}  // namespace

bool IsValidTraceparent(absl::string_view value) {
  // 2 + 1 + 32 + 1 + 16 + 1 + 2
  if (value.size() != 55 || value[2] != '-' || value[35] != '-' || value[52] != '-') {
    return false;
  }
  const absl::string_view version = value.substr(0, 2), trace_id = value.substr(3, 32),
                          parent_id = value.substr(36, 16), flags = value.substr(53, 2);
  return version == "00" && LowerHex(trace_id) && LowerHex(parent_id) && LowerHex(flags) &&
         !AllZero(trace_id) && !AllZero(parent_id);
}

absl::string_view TraceIdOf(absl::string_view traceparent) {
  return IsValidTraceparent(traceparent) ? traceparent.substr(3, 32) : absl::string_view();
}

absl::string_view CurrentTraceparent() { return t_traceparent; }

TraceContextScope::TraceContextScope(absl::string_view traceparent)
    : previous_(std::move(t_traceparent)) {
  t_traceparent = IsValidTraceparent(traceparent) ? std::string(traceparent) : std::string();
}

TraceContextScope::~TraceContextScope() { t_traceparent = std::move(previous_); }

}  // namespace rollcall::graph
