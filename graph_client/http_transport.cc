#include "graph_client/http_transport.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace rollcall::graph {
namespace {

// The payload key of a TransportFailure; its value is one of the names below.
constexpr absl::string_view kTransportFailureUrl = "rollcall.graph/TransportFailure";
constexpr absl::string_view kBeforeResponse = "before_response";
constexpr absl::string_view kTruncatedBody = "truncated_body";

// An IPv4 or IPv6 address in network order, 4 or 16 bytes used.
struct IpAddress {
  int family = 0;  // AF_INET, AF_INET6; 0: not an address
  std::array<uint8_t, 16> bytes{};
  int bits() const { return family == AF_INET ? 32 : 128; }
};

IpAddress ParseIp(absl::string_view text) {
  IpAddress ip;
  const std::string s(text);
  if (inet_pton(AF_INET, s.c_str(), ip.bytes.data()) == 1) {
    ip.family = AF_INET;
  } else if (inet_pton(AF_INET6, s.c_str(), ip.bytes.data()) == 1) {
    ip.family = AF_INET6;
  }
  return ip;
}

// Whether the first `bits` bits of `a` and `b` (one family) are the same.
bool SamePrefix(const IpAddress& a, const IpAddress& b, int bits) {
  for (int i = 0; i < bits; ++i) {
    const uint8_t mask = static_cast<uint8_t>(0x80u >> (i % 8));
    if ((a.bytes[i / 8] & mask) != (b.bytes[i / 8] & mask)) return false;
  }
  return true;
}

absl::string_view WithoutBrackets(absl::string_view host) {
  if (absl::StartsWith(host, "[") && absl::EndsWith(host, "]")) {
    host.remove_prefix(1);
    host.remove_suffix(1);
  }
  return host;
}

}  // namespace

ProxySettings ProxyFromEnvironment(
    const std::function<std::optional<std::string>(const std::string& name)>& getenv) {
  ProxySettings proxy;
  for (const char* name : {"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"}) {
    std::optional<std::string> value = getenv(name);
    if (value.has_value() && !value->empty()) {
      proxy.url = std::move(*value);
      proxy.url_variable = name;
      break;
    }
  }
  for (const char* name : {"no_proxy", "NO_PROXY"}) {
    std::optional<std::string> value = getenv(name);
    if (value.has_value() && !value->empty()) {
      proxy.no_proxy = std::move(*value);
      proxy.no_proxy_variable = name;
      break;
    }
  }
  return proxy;
}

bool BypassesProxy(absl::string_view host_text, absl::string_view no_proxy) {
  if (absl::StripAsciiWhitespace(no_proxy) == "*") return true;
  std::string host = absl::AsciiStrToLower(WithoutBrackets(host_text));
  while (absl::EndsWith(host, ".")) host.pop_back();
  if (host.empty()) return false;
  const IpAddress host_ip = ParseIp(host);
  for (absl::string_view entry :
       absl::StrSplit(no_proxy, absl::ByAnyChar(", \t"), absl::SkipEmpty())) {
    std::string token = absl::AsciiStrToLower(entry);
    if (host_ip.family != 0) {
      // An address matches an address, or a range of addresses: never a name.
      absl::string_view address = token;
      int bits = host_ip.bits();
      if (const std::size_t slash = address.find('/'); slash != absl::string_view::npos) {
        if (!absl::SimpleAtoi(address.substr(slash + 1), &bits) || bits < 0 ||
            bits > host_ip.bits()) {
          continue;
        }
        address = address.substr(0, slash);
      }
      const IpAddress range = ParseIp(WithoutBrackets(address));
      if (range.family == host_ip.family && SamePrefix(host_ip, range, bits)) return true;
      continue;
    }
    absl::string_view name = token;
    if (!absl::ConsumePrefix(&name, "*.")) absl::ConsumePrefix(&name, ".");
    while (absl::ConsumeSuffix(&name, ".")) {
    }
    if (name.empty()) continue;
    if (host == name) return true;
    if (host.size() > name.size() && absl::EndsWith(host, name) &&
        host[host.size() - name.size() - 1] == '.') {
      return true;
    }
  }
  return false;
}

absl::Status WithTransportFailure(absl::Status status, TransportFailure failure) {
  switch (failure) {
    case TransportFailure::kUnclassified:
      status.ErasePayload(kTransportFailureUrl);
      break;
    case TransportFailure::kBeforeResponse:
      status.SetPayload(kTransportFailureUrl, absl::Cord(kBeforeResponse));
      break;
    case TransportFailure::kTruncatedBody:
      status.SetPayload(kTransportFailureUrl, absl::Cord(kTruncatedBody));
      break;
  }
  return status;
}

TransportFailure GetTransportFailure(const absl::Status& status) {
  const auto payload = status.GetPayload(kTransportFailureUrl);  // absl::optional here
  if (!payload.has_value()) return TransportFailure::kUnclassified;
  if (*payload == kBeforeResponse) return TransportFailure::kBeforeResponse;
  if (*payload == kTruncatedBody) return TransportFailure::kTruncatedBody;
  return TransportFailure::kUnclassified;
}

std::optional<std::string> HttpResponse::Header(absl::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(key, name)) return value;
  }
  return std::nullopt;
}

}  // namespace rollcall::graph
