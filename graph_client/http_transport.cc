#include "graph_client/http_transport.h"

#include "absl/strings/match.h"
#include "graph_client/string_view_compat.h"

namespace rollcall::graph {

std::optional<std::string> HttpResponse::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(key, ToAbsl(name))) return value;
  }
  return std::nullopt;
}

}  // namespace rollcall::graph
