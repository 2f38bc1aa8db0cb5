// HttpTransport over libcurl's easy interface.
//
// Connections, TLS sessions and DNS answers live in one CURLSH share handle, so every easy
// handle (and so every thread) reuses them. Easy handles are pooled: the options that are the
// same for every request are set once when a handle is made, and every option that differs
// between requests (URL, method, body, headers, timeout, callback data) is set again before
// each transfer, so nothing from one request leaks into the next without curl_easy_reset.
//
// The proxy is CurlTransportOptions::proxy and nothing else: CURLOPT_PROXY is set before every
// transfer ("" for none) and CURLOPT_NOPROXY to "", so libcurl never reads HTTPS_PROXY,
// ALL_PROXY or NO_PROXY from the environment by itself. Which requests use it is decided here
// (https:// to a host that no_proxy does not name), so that an error knows whether the proxy was
// in the way and says so, naming the proxy without its credentials.

#include <curl/curl.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/mutex.h"
#include "graph_client/http_transport.h"
#include "graph_client/url_encoding.h"

namespace rollcall::graph {
namespace {

// At most this many idle easy handles (and idle connections) are kept.
constexpr std::size_t kMaxIdleHandles = 64;

void GlobalInitOnce() {
  static std::once_flag once;
  // Never cleaned up: the transport may be used until the process exits.
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// The share handle with one mutex per kind of shared data, as libcurl's lock callbacks ask.
class SharedCache {
 public:
  SharedCache() : share_(curl_share_init()) {
    curl_share_setopt(share_, CURLSHOPT_LOCKFUNC, &SharedCache::Lock);
    curl_share_setopt(share_, CURLSHOPT_UNLOCKFUNC, &SharedCache::Unlock);
    curl_share_setopt(share_, CURLSHOPT_USERDATA, this);
    curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  }
  // Every easy handle using the share must have been cleaned up before.
  ~SharedCache() { curl_share_cleanup(share_); }
  SharedCache(const SharedCache&) = delete;
  SharedCache& operator=(const SharedCache&) = delete;

  CURLSH* get() const { return share_; }

 private:
  // libcurl takes and releases these in separate callbacks, which the analysis cannot pair.
  static void Lock(CURL*, curl_lock_data data, curl_lock_access, void* self)
      ABSL_NO_THREAD_SAFETY_ANALYSIS {
    static_cast<SharedCache*>(self)->MutexFor(data).Lock();
  }
  static void Unlock(CURL*, curl_lock_data data, void* self) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    static_cast<SharedCache*>(self)->MutexFor(data).Unlock();
  }
  common::Mutex& MutexFor(curl_lock_data data) {
    const auto index = static_cast<std::size_t>(data);
    return mutexes_[index < mutexes_.size() ? index : 0];
  }

  CURLSH* const share_;
  std::array<common::Mutex, CURL_LOCK_DATA_LAST> mutexes_;
};

// One easy handle and the buffer curl writes its error text into.
struct EasyHandle {
  CURL* curl = nullptr;
  char error[CURL_ERROR_SIZE] = {};

  EasyHandle() : curl(curl_easy_init()) {}
  ~EasyHandle() {
    if (curl != nullptr) curl_easy_cleanup(curl);
  }
  EasyHandle(const EasyHandle&) = delete;
  EasyHandle& operator=(const EasyHandle&) = delete;
};

// What the callbacks of one transfer fill in.
struct Transfer {
  std::size_t max_body_bytes = 0;
  bool body_too_large = false;
  std::string body;
  HttpHeaders headers;
};

std::size_t OnBody(char* data, std::size_t size, std::size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const std::size_t bytes = size * count;
  if (bytes > transfer->max_body_bytes - transfer->body.size()) {
    transfer->body_too_large = true;
    return 0;  // makes curl abort with CURLE_WRITE_ERROR
  }
  transfer->body.append(data, bytes);
  return bytes;
}

// Called once per header line, status lines and the blank line that ends a header block
// included. Keeps only the headers of the last response (a 1xx's are dropped).
std::size_t OnHeader(char* data, std::size_t size, std::size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const std::size_t bytes = size * count;
  absl::string_view line(data, bytes);
  if (absl::StartsWith(line, "HTTP/")) {
    transfer->headers.clear();
    return bytes;
  }
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.empty()) return bytes;
  if ((line.front() == ' ' || line.front() == '\t') && !transfer->headers.empty()) {
    // An obsolete folded continuation of the previous header's value.
    std::string& value = transfer->headers.back().second;
    absl::StrAppend(&value, value.empty() ? "" : " ", absl::StripAsciiWhitespace(line));
    return bytes;
  }
  const std::size_t colon = line.find(':');
  if (colon == absl::string_view::npos || colon == 0) return bytes;  // not a header; ignore
  transfer->headers.emplace_back(absl::AsciiStrToLower(line.substr(0, colon)),
                                 std::string(absl::StripAsciiWhitespace(line.substr(colon + 1))));
  return bytes;
}

// A URL parsed by libcurl's own parser, so that what is shown of it is what libcurl uses.
class ParsedUrl {
 public:
  explicit ParsedUrl(const std::string& url) : url_(curl_url()) {
    ok_ = url_ != nullptr &&
          curl_url_set(url_, CURLUPART_URL, url.c_str(), CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK;
  }
  ~ParsedUrl() { curl_url_cleanup(url_); }
  ParsedUrl(const ParsedUrl&) = delete;
  ParsedUrl& operator=(const ParsedUrl&) = delete;

  bool ok() const { return ok_; }
  // The part, or "" when it is missing.
  std::string Get(CURLUPart part) const {
    if (!ok_) return "";
    char* value = nullptr;
    if (curl_url_get(url_, part, &value, 0) != CURLUE_OK || value == nullptr) return "";
    std::string out(value);
    curl_free(value);
    return out;
  }

 private:
  CURLU* const url_;
  bool ok_ = false;
};

struct ProxyParts {
  std::string scheme;  // lower-case
  std::string host;    // IPv6 in brackets
  std::string port;    // always set
};

// The parts of a proxy URL as libcurl reads CURLOPT_PROXY (no scheme: http://; no port: 1080,
// or 443 for an HTTPS proxy); nullopt when libcurl would refuse it.
std::optional<ProxyParts> ParseProxy(absl::string_view url) {
  if (url.empty()) return std::nullopt;
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return std::nullopt;
  }
  std::string text(url);
  if (!absl::StrContains(text, "://")) text = absl::StrCat("http://", text);
  const ParsedUrl parsed(text);
  if (!parsed.ok()) return std::nullopt;
  ProxyParts parts;
  parts.scheme = absl::AsciiStrToLower(parsed.Get(CURLUPART_SCHEME));
  parts.host = parsed.Get(CURLUPART_HOST);
  parts.port = parsed.Get(CURLUPART_PORT);
  bool known = false;
  for (absl::string_view scheme : {"http", "https", "socks4", "socks4a", "socks5", "socks5h"}) {
    known = known || parts.scheme == scheme;
  }
  if (!known || parts.host.empty()) return std::nullopt;
  if (parts.port.empty()) parts.port = parts.scheme == "https" ? "443" : "1080";
  return parts;
}

// Milliseconds for curl's timeouts: rounded up, and at least 1 (0 would mean "none").
long ToCurlMillis(absl::Duration d) {
  const int64_t ms = absl::ToInt64Milliseconds(absl::Ceil(d, absl::Milliseconds(1)));
  return static_cast<long>(std::clamp<int64_t>(ms, 1, std::numeric_limits<long>::max()));
}

class CurlTransport final : public HttpTransport {
 public:
  explicit CurlTransport(const CurlTransportOptions& options)
      : options_(options), proxy_address_(ProxyAddress(options.proxy.url)) {}

  ~CurlTransport() override {
    common::MutexLock lock(&pool_mu_);
    idle_.clear();  // before the share handle goes
  }

  absl::StatusOr<HttpResponse> Send(const HttpRequest& request) override {
    const bool is_get = request.method == "GET";
    if (!is_get && request.method != "POST") {
      return absl::InvalidArgumentError(
          absl::StrCat("unsupported HTTP method \"", request.method, "\""));
    }
    const absl::Duration time_left = request.deadline - options_.clock->Now();
    if (time_left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(absl::StrCat(
          "the deadline passed before the HTTP request to ", UrlOrigin(request.url), " started"));
    }
    const absl::Duration timeout = std::min(options_.total_timeout, time_left);

    for (const auto& [name, value] : request.headers) {
      if (name.empty() || name.find_first_of(":\r\n", 0) != std::string::npos ||
          value.find_first_of("\r\n\0", 0, 3) != std::string::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("malformed HTTP request header \"", absl::CHexEscape(name), "\""));
      }
    }

    // The proxy, for an https:// request to a host NO_PROXY does not name. http:// is only
    // ever a loopback test server's, and goes direct: a proxy would see its bearer token.
    bool via_proxy = false;
    if (!options_.proxy.url.empty() && absl::StartsWithIgnoreCase(request.url, "https://")) {
      const ParsedUrl url(request.url);
      via_proxy = !BypassesProxy(url.Get(CURLUPART_HOST), options_.proxy.no_proxy);
      if (via_proxy && proxy_address_.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "HTTP ", request.method, " to ", UrlOrigin(request.url),
            ": the HTTPS proxy's URL is not a proxy URL (http://HOST:PORT); it is not shown"));
      }
    }

    std::unique_ptr<EasyHandle> handle = Acquire();
    if (handle == nullptr || handle->curl == nullptr) {
      return absl::ResourceExhaustedError("could not create a libcurl easy handle");
    }
    CURL* curl = handle->curl;

    curl_slist* headers = nullptr;
    for (const auto& [name, value] : request.headers) {
      headers = curl_slist_append(headers, absl::StrCat(name, ": ", value).c_str());
    }
    if (!is_get) headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip

    Transfer transfer;
    transfer.max_body_bytes = options_.max_response_bytes;
    handle->error[0] = '\0';
    curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, ToCurlMillis(timeout));
    // "" is no proxy at all, whatever the environment says.
    curl_easy_setopt(curl, CURLOPT_PROXY, via_proxy ? options_.proxy.url.c_str() : "");
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &transfer);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &transfer);
    if (is_get) {
      curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);  // also undoes a previous POST
    } else {
      curl_easy_setopt(curl, CURLOPT_POST, 1L);
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(request.body.size()));
    }

    const CURLcode code = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    // Whether the connection (the TLS handshake too, for https) was ever established.
    curl_off_t connected_after = 0;
    curl_easy_getinfo(curl,
                      absl::StartsWithIgnoreCase(request.url, "https:") ? CURLINFO_APPCONNECT_TIME_T
                                                                        : CURLINFO_CONNECT_TIME_T,
                      &connected_after);
    // Through a proxy: whether its TCP connection was made, and its answer to CONNECT (0: none).
    ProxyOutcome proxy;
    if (via_proxy) {
      curl_off_t tcp_connected_after = 0;
      curl_easy_getinfo(curl, CURLINFO_CONNECT_TIME_T, &tcp_connected_after);
      proxy.reached = tcp_connected_after > 0;
      curl_easy_getinfo(curl, CURLINFO_HTTP_CONNECTCODE, &proxy.connect_status);
    }
    // Bytes of status line and headers received (1xx responses included): zero means the
    // server never answered.
    long header_bytes = 0;
    curl_easy_getinfo(curl, CURLINFO_HEADER_SIZE, &header_bytes);

    // Drop every pointer into this call's memory before the handle goes back to the pool.
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, nullptr);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, nullptr);
    if (!is_get) curl_easy_setopt(curl, CURLOPT_POSTFIELDS, nullptr);
    curl_slist_free_all(headers);
    std::string error_text = handle->error[0] != '\0' ? handle->error
                                                      : curl_easy_strerror(code);
    Release(std::move(handle));

    if (code != CURLE_OK) {
      if (via_proxy && MayShowProxyCredentials(error_text)) error_text = curl_easy_strerror(code);
      const bool answered = header_bytes > 0 || !transfer.body.empty();
      absl::Status error =
          via_proxy ? MapProxyError(code, request, error_text, proxy,
                                    timeout > options_.connect_timeout)
                    : absl::OkStatus();
      if (!error.ok()) return error;
      error = MapCurlError(code, transfer, request, error_text, connected_after > 0,
                           timeout > options_.connect_timeout, answered);
      if (!via_proxy) return error;
      // Said where it went, so that a TLS or timeout error behind a proxy is not looked for
      // on the direct path alone.
      absl::Status through(error.code(), absl::StrCat(error.message(), " (through the HTTPS proxy ",
                                                      proxy_address_, ")"));
      return WithTransportFailure(std::move(through), GetTransportFailure(error));
    }
    HttpResponse response;
    response.status = status;
    response.headers = std::move(transfer.headers);
    response.body = std::move(transfer.body);
    return response;
  }

 private:
  struct ProxyOutcome {
    bool reached = false;     // the TCP connection to the proxy was made
    long connect_status = 0;  // the proxy's HTTP status for CONNECT; 0: none arrived
  };

  // Whether `text` (libcurl's error text) might hold the proxy URL's user name or password.
  bool MayShowProxyCredentials(absl::string_view text) const {
    const std::string& url = options_.proxy.url;
    const std::size_t scheme_end = url.find("://");
    const std::size_t start = scheme_end == std::string::npos ? 0 : scheme_end + 3;
    const std::size_t at = url.find('@', start);
    if (at == std::string::npos) return false;  // no credentials in it
    for (absl::string_view part : absl::StrSplit(
             absl::string_view(url).substr(start, at - start), absl::ByAnyChar(":@"))) {
      if (!part.empty() && absl::StrContains(text, part)) return true;
    }
    return absl::StrContains(text, "@");
  }

  // The status for a transfer through the proxy that failed because of the proxy: it refused
  // CONNECT, or could not be reached. OK when the failure was past the proxy. Either way the
  // request never reached the server, so it is safe to try again (kBeforeResponse).
  absl::Status MapProxyError(CURLcode code, const HttpRequest& request,
                             const std::string& error_text, const ProxyOutcome& proxy,
                             bool connect_timeout_first) const {
    const std::string head = absl::StrCat("HTTP ", request.method, " to ", UrlOrigin(request.url),
                                          " failed: ");
    const auto before_response = [](absl::Status status) {
      return WithTransportFailure(std::move(status), TransportFailure::kBeforeResponse);
    };
    if (proxy.connect_status != 0 &&
        (proxy.connect_status < 200 || proxy.connect_status > 299)) {
      absl::string_view hint;
      switch (proxy.connect_status) {
        case 407:
          hint = ": it wants credentials (a user name and password in the proxy URL), or "
                 "refused the ones given";
          break;
        case 403:
          hint = ": its policy does not allow this host";
          break;
        case 502:
        case 503:
        case 504:
          hint = ": it could not reach the host";
          break;
        default:
          break;
      }
      return before_response(absl::UnavailableError(absl::StrCat(
          head, "the HTTPS proxy ", proxy_address_, " refused CONNECT (HTTP ",
          proxy.connect_status, ")", hint)));
    }
    if (code == CURLE_OPERATION_TIMEDOUT && !proxy.reached && !connect_timeout_first) {
      // The caller's deadline ran out first: late, not unreachable.
      return absl::DeadlineExceededError(absl::StrCat(
          head, "the deadline passed while connecting to the HTTPS proxy ", proxy_address_,
          " (", error_text, ")"));
    }
    const bool unreachable =
        code == CURLE_COULDNT_RESOLVE_PROXY ||
        (!proxy.reached && (code == CURLE_COULDNT_CONNECT || code == CURLE_OPERATION_TIMEDOUT));
    if (unreachable) {
      return before_response(absl::UnavailableError(absl::StrCat(
          head, "could not reach the HTTPS proxy ", proxy_address_, " (", error_text, ")")));
    }
#if LIBCURL_VERSION_NUM >= 0x074900  // 7.73.0: CURLE_PROXY, a failed proxy handshake
    if (code == CURLE_PROXY) {
      return before_response(absl::UnavailableError(absl::StrCat(
          head, "the HTTPS proxy ", proxy_address_, " failed the handshake (", error_text, ")")));
    }
#endif
    return absl::OkStatus();
  }

  // The status for a failed transfer. `connected`: the connection (and TLS session) was
  // established; `connect_timeout_first`: the connect timeout was shorter than the total one;
  // `answered`: at least one byte of the response arrived.
  absl::Status MapCurlError(CURLcode code, const Transfer& transfer, const HttpRequest& request,
                            const std::string& error_text, bool connected,
                            bool connect_timeout_first, bool answered) const {
    const std::string what =
        absl::StrCat("HTTP ", request.method, " to ", UrlOrigin(request.url), " failed: ",
                     error_text);
    const auto before_response = [&] {
      return WithTransportFailure(absl::UnavailableError(what), TransportFailure::kBeforeResponse);
    };
    const auto truncated = [&] {
      return WithTransportFailure(
          absl::UnavailableError(absl::StrCat(
              "HTTP ", request.method, " to ", UrlOrigin(request.url),
              ": the connection closed before the whole body arrived (", error_text, ")")),
          TransportFailure::kTruncatedBody);
    };
    switch (code) {
      case CURLE_OPERATION_TIMEDOUT:
        // The connect timeout expiring before the total one means "unreachable", not "late".
        if (!connected && connect_timeout_first) return before_response();
        return absl::DeadlineExceededError(what);
      case CURLE_COULDNT_RESOLVE_HOST:
      case CURLE_COULDNT_RESOLVE_PROXY:
      case CURLE_COULDNT_CONNECT:
      case CURLE_SSL_CONNECT_ERROR:  // the handshake failed (not a certificate that is bad)
      case CURLE_GOT_NOTHING:        // the connection closed without a byte of response
        return before_response();
      case CURLE_SEND_ERROR:
      case CURLE_RECV_ERROR:
        // A reset before the status line is the same as a refused connection; after it, the
        // response was lost part-way.
        return answered ? truncated() : before_response();
      case CURLE_PARTIAL_FILE:  // fewer body bytes than Content-Length or the chunks promised
        return truncated();
      case CURLE_WRITE_ERROR:
      case CURLE_FILESIZE_EXCEEDED:
        if (transfer.body_too_large || code == CURLE_FILESIZE_EXCEEDED) {
          return absl::ResourceExhaustedError(absl::StrCat(
              "HTTP ", request.method, " to ", UrlOrigin(request.url),
              ": response body exceeds ", options_.max_response_bytes, " bytes"));
        }
        return absl::InternalError(what);
      case CURLE_URL_MALFORMAT:
      case CURLE_UNSUPPORTED_PROTOCOL:
        return absl::InvalidArgumentError(what);
      case CURLE_OUT_OF_MEMORY:
        return absl::ResourceExhaustedError(what);
      case CURLE_BAD_FUNCTION_ARGUMENT:
      case CURLE_UNKNOWN_OPTION:
      case CURLE_NOT_BUILT_IN:
        return absl::InternalError(what);
      default:
        // DNS, connect, TLS (handshake, certificate), send, receive, HTTP/2 and protocol
        // errors: the far end could not be used this time.
        return absl::UnavailableError(what);
    }
  }

  // A pooled handle, or a new one with the options every request shares.
  std::unique_ptr<EasyHandle> Acquire() {
    {
      common::MutexLock lock(&pool_mu_);
      if (!idle_.empty()) {
        std::unique_ptr<EasyHandle> handle = std::move(idle_.back());
        idle_.pop_back();
        return handle;
      }
    }
    auto handle = std::make_unique<EasyHandle>();
    CURL* curl = handle->curl;
    if (curl == nullptr) return handle;
    curl_easy_setopt(curl, CURLOPT_SHARE, share_.get());
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, handle->error);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!options_.ca_bundle_path.empty()) {
      curl_easy_setopt(curl, CURLOPT_CAINFO, options_.ca_bundle_path.c_str());
      curl_easy_setopt(curl, CURLOPT_PROXY_CAINFO, options_.ca_bundle_path.c_str());
    }
    // The proxy is the program's decision (options_.proxy, set per request): libcurl reads no
    // NO_PROXY of its own ("" matches no host), and CURLOPT_PROXY is always set, to "" for none,
    // which keeps it from reading HTTPS_PROXY and ALL_PROXY.
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "");
    // A proxy's answer to CONNECT is not the server's response: its headers stay out of it.
    curl_easy_setopt(curl, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, ToCurlMillis(options_.connect_timeout));
    curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE,
                     static_cast<curl_off_t>(std::min<std::size_t>(
                         options_.max_response_bytes, std::numeric_limits<curl_off_t>::max())));
    curl_easy_setopt(curl, CURLOPT_USERAGENT, options_.user_agent.c_str());
    curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");  // what libcurl can decode
    curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
    // The shared connection cache keeps at most this many idle connections (libcurl's default
    // of 5 would close connections whenever more than 5 calls run at once).
    curl_easy_setopt(curl, CURLOPT_MAXCONNECTS, static_cast<long>(kMaxIdleHandles));
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &OnBody);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &OnHeader);
    return handle;
  }

  // Pools `handle`, or cleans it up (outside the lock) when the pool is full.
  void Release(std::unique_ptr<EasyHandle> handle) {
    {
      common::MutexLock lock(&pool_mu_);
      if (idle_.size() < kMaxIdleHandles) {
        idle_.push_back(std::move(handle));
        return;
      }
    }
    // The pool is full: `handle` is cleaned up here, outside the lock.
  }

  const CurlTransportOptions options_;
  const std::string proxy_address_;  // HOST:PORT of options_.proxy.url, without credentials
  SharedCache share_;  // declared before the pool: destroyed after every handle
  common::Mutex pool_mu_;
  std::vector<std::unique_ptr<EasyHandle>> idle_ ABSL_GUARDED_BY(pool_mu_);
};

}  // namespace

std::string ProxyAddress(absl::string_view url) {
  const std::optional<ProxyParts> parts = ParseProxy(url);
  return parts.has_value() ? absl::StrCat(parts->host, ":", parts->port) : "";
}

std::string ProxyUrlForLog(absl::string_view url) {
  const std::optional<ProxyParts> parts = ParseProxy(url);
  return parts.has_value() ? absl::StrCat(parts->scheme, "://", parts->host, ":", parts->port)
                           : "";
}

std::unique_ptr<HttpTransport> MakeCurlTransport(const CurlTransportOptions& options) {
  GlobalInitOnce();
  return std::make_unique<CurlTransport>(options);
}

}  // namespace rollcall::graph
