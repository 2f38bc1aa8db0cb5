#pragma once
// One HTTP exchange: a request in, status/headers/body out. The libcurl implementation reuses
// connections and TLS sessions across calls and threads, verifies certificates, and caps the
// response size. Retry, logging and metrics wrap this interface rather than live inside it.

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace rollcall::graph {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  HttpHeaders headers;
  std::string body;
  // The call gives up at this instant (DEADLINE_EXCEEDED). InfiniteFuture: only the transport's
  // own total timeout applies.
  absl::Time deadline = absl::InfiniteFuture();
};

struct HttpResponse {
  long status = 0;
  // Header names are lower-cased; values are trimmed.
  HttpHeaders headers;
  std::string body;

  // The first header with this (case-insensitive) name, if any.
  std::optional<std::string> Header(std::string_view name) const;
};

class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  // Thread-safe. Any HTTP status is a successful exchange. Errors:
  //   DEADLINE_EXCEEDED   the request's deadline or the total timeout passed;
  //   UNAVAILABLE         DNS, connect, TLS or I/O failure (message says which, never a secret);
  //   RESOURCE_EXHAUSTED  the response body exceeded max_response_bytes;
  //   INVALID_ARGUMENT    the request itself is malformed (bad URL).
  virtual absl::StatusOr<HttpResponse> Send(const HttpRequest& request) = 0;
};

struct CurlTransportOptions {
  // PEM bundle of CAs to trust; empty means the system's default store.
  std::string ca_bundle_path;
  absl::Duration connect_timeout = absl::Seconds(5);
  absl::Duration total_timeout = absl::Seconds(30);
  std::size_t max_response_bytes = 64u << 20;
  std::string user_agent = "rollcall/0.1";
};

std::unique_ptr<HttpTransport> MakeCurlTransport(const CurlTransportOptions& options);

}  // namespace rollcall::graph
