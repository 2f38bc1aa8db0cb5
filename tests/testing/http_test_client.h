#pragma once
// A plain-socket HTTP/1.1 client for tests of the metrics endpoint: it sends exactly the bytes
// it is given (garbage included) and returns exactly what came back.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"

namespace rollcall::service::test {

// A connected TCP socket to 127.0.0.1:`port` whose reads give up after `timeout_seconds`; -1 on
// failure. The caller closes it.
inline int ConnectLoopback(int port, int timeout_seconds = 30) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval timeout{timeout_seconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

inline bool SendAll(int fd, absl::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Everything the peer sends until it closes (or the read timeout).
inline std::string ReadAll(int fd) {
  std::string out;
  char buffer[4096];
  while (true) {
    const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) break;
    out.append(buffer, static_cast<std::size_t>(n));
  }
  return out;
}

// Sends `request`, optionally half-closes, and returns the whole answer ("" when none).
inline std::string HttpExchange(int port, absl::string_view request, bool half_close = true) {
  const int fd = ConnectLoopback(port);
  if (fd < 0) return "";
  SendAll(fd, request);
  if (half_close) shutdown(fd, SHUT_WR);
  std::string answer = ReadAll(fd);
  close(fd);
  return answer;
}

// The status code of an HTTP answer ("HTTP/1.1 200 OK..." -> 200); 0 when there is none.
inline int HttpStatus(absl::string_view answer) {
  int status = 0;
  if (answer.size() < 12 || !absl::SimpleAtoi(answer.substr(9, 3), &status)) return 0;
  return status;
}

// The body of an HTTP answer.
inline std::string HttpBody(absl::string_view answer) {
  const std::size_t end = answer.find("\r\n\r\n");
  return end == absl::string_view::npos ? "" : std::string(answer.substr(end + 4));
}

}  // namespace rollcall::service::test
