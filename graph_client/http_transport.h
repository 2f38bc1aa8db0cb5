#pragma once
// One HTTP exchange: a request in, status/headers/body out. The libcurl implementation reuses
// connections and TLS sessions across calls and threads, verifies certificates, and caps the
// response size. Retry, logging and metrics wrap this interface rather than live inside it.

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace rollcall::graph {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  HttpHeaders headers;
  std::string body;
  // The call gives up at this instant (DEADLINE_EXCEEDED), on the transport's clock
  // (CurlTransportOptions::clock). InfiniteFuture: only the transport's own total timeout
  // applies.
  absl::Time deadline = absl::InfiniteFuture();
};

struct HttpResponse {
  long status = 0;
  // Header names are lower-cased; values are trimmed.
  HttpHeaders headers;
  std::string body;

  // The first header with this (case-insensitive) name, if any.
  std::optional<std::string> Header(absl::string_view name) const;
};

// How far a failed exchange got, when the transport can tell. Send attaches it to its error
// status as a payload that is private to graph_client/: GraphClient and the credential wrap
// transport errors in statuses of their own, so it never reaches a gRPC client.
enum class TransportFailure {
  // Nothing more is known (the default for an error without the payload). The server may have
  // received and acted on the request; a caller must not assume otherwise.
  kUnclassified,
  // Not one byte of the response arrived: DNS resolution, connect (refused or timed out), TLS
  // handshake, or a connection reset or closed before the status line (an empty reply). The
  // server never answered, so trying again is safe for requests without side effects.
  kBeforeResponse,
  // The status line and headers arrived, then the connection closed or reset before the whole
  // body (Content-Length not reached, chunked body unterminated). Not retried: the server did
  // answer, and what it answered is lost.
  kTruncatedBody,
};

// `status` (which must not be OK) with `failure` recorded on it; kUnclassified removes it.
absl::Status WithTransportFailure(absl::Status status, TransportFailure failure);
// What `status` records; kUnclassified for OK and for errors that record nothing.
TransportFailure GetTransportFailure(const absl::Status& status);
// Whether `status` is a Send error that happened before any byte of the response.
inline bool IsRetryableBeforeResponse(const absl::Status& status) {
  return GetTransportFailure(status) == TransportFailure::kBeforeResponse;
}

class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  // Thread-safe. Any HTTP status is a successful exchange. Errors:
  //   DEADLINE_EXCEEDED   the request's deadline or the total timeout passed;
  //   UNAVAILABLE         DNS, connect, TLS or I/O failure (message says which, never a secret);
  //                       marked (TransportFailure) kBeforeResponse when no response byte had
  //                       arrived, kTruncatedBody when the body was cut short;
  //   RESOURCE_EXHAUSTED  the response body exceeded max_response_bytes;
  //   INVALID_ARGUMENT    the request itself is malformed (bad URL).
  // Implementations never retry by themselves: retrying is the caller's decision.
  virtual absl::StatusOr<HttpResponse> Send(const HttpRequest& request) = 0;
};

// The outbound proxy, decided by the program (main reads the environment once, with
// ProxyFromEnvironment, logs it and passes it here) rather than by libcurl behind its back:
// the transport turns libcurl's own reading of HTTPS_PROXY, ALL_PROXY and NO_PROXY off, so a
// transport made without a proxy uses none, whatever the environment says.
struct ProxySettings {
  // The proxy of https:// requests (Graph and the token endpoint): http://HOST:PORT, also with
  // user:password@ (never logged or put in an error), or https://, socks4://, socks4a://,
  // socks5://, socks5h://; without a scheme, http://. Empty: no proxy. Plain http:// requests
  // (loopback test servers only) never use it.
  std::string url;
  // Hosts reached directly: names separated by commas or spaces (each covers its subdomains; a
  // leading dot or "*." is ignored), IP addresses, CIDR ranges (10.0.0.0/8), or "*" for all.
  std::string no_proxy;
  // The variables they were read from ("HTTPS_PROXY", "no_proxy"), for the start-up log.
  std::string url_variable;
  std::string no_proxy_variable;
};

// The variables libcurl reads for https:// URLs, in its order: https_proxy, HTTPS_PROXY,
// all_proxy, ALL_PROXY (the first one set and not empty), and no_proxy, NO_PROXY.
ProxySettings ProxyFromEnvironment(
    const std::function<std::optional<std::string>(const std::string& name)>& getenv);

// "HOST:PORT" of a proxy URL with its user name and password left out, the port libcurl uses
// when the URL gives none (1080, 443 for https://) filled in; "" when `url` is not a proxy URL
// libcurl accepts (and then nothing of it may be shown: it may hold a password).
std::string ProxyAddress(absl::string_view url);
// "SCHEME://HOST:PORT" of a proxy URL, without credentials, for logs; "" as ProxyAddress.
std::string ProxyUrlForLog(absl::string_view url);

// Whether `host` (a name, or an IP address, IPv6 without brackets) is reached directly under
// the NO_PROXY list `no_proxy`, as ProxySettings::no_proxy describes it.
bool BypassesProxy(absl::string_view host, absl::string_view no_proxy);

struct CurlTransportOptions {
  // PEM bundle of CAs to trust; empty means the system's default store.
  std::string ca_bundle_path;
  absl::Duration connect_timeout = absl::Seconds(5);
  absl::Duration total_timeout = absl::Seconds(30);
  std::size_t max_response_bytes = 64u << 20;
  std::string user_agent = "rollcall/0.1";
  // The clock HttpRequest::deadline is on: curl's timeout for a request is its deadline minus
  // this clock's now (capped by total_timeout), so a deadline from a fake clock set far from
  // the wall clock still gives the request the time it has left. Never null; outlives the
  // transport.
  const common::Clock* clock = common::SystemClock();
  // The proxy of https:// requests; none by default (the environment is never read here).
  // When a request goes through it, a failure of the proxy is named as one: "the HTTPS proxy
  // HOST:PORT refused CONNECT (HTTP 407)", "could not reach the HTTPS proxy HOST:PORT"
  // (UNAVAILABLE, before any response). Its URL must be one ProxyAddress accepts; otherwise
  // every request through it fails with INVALID_ARGUMENT.
  ProxySettings proxy;
};

std::unique_ptr<HttpTransport> MakeCurlTransport(const CurlTransportOptions& options);

}  // namespace rollcall::graph
