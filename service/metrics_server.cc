#include "service/metrics_server.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <list>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

namespace rollcall::service {
namespace {

constexpr absl::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";
// Bytes read and thrown away after the answer, so that closing does not reset the connection
// (and lose the answer) while the client is still sending; then the connection is closed.
constexpr std::size_t kMaxDrainBytes = 64 * 1024;
constexpr std::size_t kReadChunk = 4096;

void AppendEscapedLabelValue(absl::string_view value, std::string* out) {
  for (char c : value) {
    switch (c) {
      case '\\': out->append("\\\\"); break;
      case '"': out->append("\\\""); break;
      case '\n': out->append("\\n"); break;
      default: out->push_back(c);
    }
  }
}

void AppendHelp(absl::string_view name, absl::string_view type, absl::string_view help,
                std::string* out) {
  absl::StrAppend(out, "# HELP ", name, " ");
  for (char c : help) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '\n') {
      out->append("\\n");
    } else {
      out->push_back(c);
    }
  }
  absl::StrAppend(out, "\n# TYPE ", name, " ", type, "\n");
}

std::string FormatDouble(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    return absl::StrCat(static_cast<int64_t>(value));
  }
  return absl::StrFormat("%.17g", value);
}

absl::string_view ReasonPhrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 431: return "Request Header Fields Too Large";
    default: return "Error";
  }
}

// Splits HOST:PORT (IPv6 in brackets); false when it is not that shape.
bool SplitHostPort(absl::string_view listen, std::string* host, std::string* port) {
  const std::size_t colon = listen.rfind(':');
  if (colon == absl::string_view::npos || colon == 0 || colon + 1 == listen.size()) return false;
  absl::string_view h = listen.substr(0, colon);
  const absl::string_view p = listen.substr(colon + 1);
  uint32_t number = 0;
  if (!absl::SimpleAtoi(p, &number) || number > 65535 ||
      !absl::ascii_isdigit(static_cast<unsigned char>(p[0]))) {
    return false;
  }
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') {
    h = h.substr(1, h.size() - 2);
  } else if (h.find(':') != absl::string_view::npos) {
    return false;
  }
  if (h.empty()) return false;
  *host = std::string(h);
  *port = std::string(p);
  return true;
}

}  // namespace

void PrometheusText::Counter(absl::string_view name, absl::string_view help, uint64_t value) {
  AppendHelp(name, "counter", help, &text_);
  absl::StrAppend(&text_, name, " ", value, "\n");
}

void PrometheusText::Gauge(absl::string_view name, absl::string_view help, double value) {
  AppendHelp(name, "gauge", help, &text_);
  absl::StrAppend(&text_, name, " ", FormatDouble(value), "\n");
}

void PrometheusText::Family(absl::string_view name, absl::string_view type,
                            absl::string_view help) {
  AppendHelp(name, type, help, &text_);
}

void PrometheusText::Sample(absl::string_view name, absl::string_view label,
                            absl::string_view label_value, uint64_t value) {
  absl::StrAppend(&text_, name, "{", label, "=\"");
  AppendEscapedLabelValue(label_value, &text_);
  absl::StrAppend(&text_, "\"} ", value, "\n");
}

// The server's thread and everything it owns. Only Run's thread touches the connections.
class MetricsServer::Loop {
 public:
  Loop(const Options& options, Render render, Logger* logger, int listen_fd, int wake_read_fd)
      : options_(options),
        render_(std::move(render)),
        logger_(logger),
        listen_fd_(listen_fd),
        wake_read_fd_(wake_read_fd) {}

  ~Loop() {
    for (Connection& c : connections_) close(c.fd);
    close(listen_fd_);
    close(wake_read_fd_);
  }

  // Serves until the wake-up pipe becomes readable (or is closed).
  void Run();

  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> scrapes{0};
  std::atomic<uint64_t> errors{0};

 private:
  enum class State { kReading, kWriting, kDraining, kClosed };
  struct Connection {
    int fd = -1;
    absl::Time deadline;
    State state = State::kReading;
    std::string in;
    std::string out;
    std::size_t sent = 0;
    std::size_t drained = 0;
  };

  void AcceptAll(absl::Time now);
  void OnReadable(Connection& c);
  void OnWritable(Connection& c);
  // Looks at what has arrived; answers when there is enough to decide.
  void MaybeAnswer(Connection& c, bool eof);
  void Answer(Connection& c, int status, const std::string& body, bool head_only,
              absl::string_view extra_headers = "");
  void Close(Connection& c);

  const Options options_;
  const Render render_;
  Logger* const logger_;
  const int listen_fd_;
  const int wake_read_fd_;
  std::list<Connection> connections_;
  absl::Time accept_paused_until_ = absl::InfinitePast();
};

void MetricsServer::Loop::Run() {
  std::vector<pollfd> fds;
  while (true) {
    const absl::Time now = absl::Now();
    fds.clear();
    fds.push_back(pollfd{wake_read_fd_, POLLIN, 0});
    const bool accepting = static_cast<int>(connections_.size()) < options_.max_connections &&
                           now >= accept_paused_until_;
    fds.push_back(pollfd{accepting ? listen_fd_ : -1, POLLIN, 0});
    absl::Time next_wake = accepting ? absl::InfiniteFuture() : accept_paused_until_;
    for (const Connection& c : connections_) {
      fds.push_back(pollfd{c.fd, static_cast<short>(c.state == State::kWriting ? POLLOUT : POLLIN),
                           0});
      next_wake = std::min(next_wake, c.deadline);
    }
    int timeout_ms = -1;
    if (next_wake != absl::InfiniteFuture()) {
      timeout_ms = static_cast<int>(std::clamp<int64_t>(
          absl::ToInt64Milliseconds(absl::Ceil(next_wake - now, absl::Milliseconds(1))), 0,
          60 * 1000));
    }
    const int ready = poll(fds.data(), fds.size(), timeout_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      if (logger_ != nullptr) logger_->Error("metrics: poll failed", {{"error", strerror(errno)}});
      return;
    }
    if (fds[0].revents != 0) return;  // Stop()

    std::size_t i = 2;
    for (Connection& c : connections_) {
      const short revents = fds[i++].revents;
      if (revents == 0) continue;
      if (c.state == State::kWriting) {
        OnWritable(c);
      } else {
        OnReadable(c);
      }
    }
    const absl::Time after = absl::Now();
    for (Connection& c : connections_) {
      if (c.state == State::kClosed || after < c.deadline) continue;
      if (c.state == State::kReading) {
        // Best effort: one non-blocking send, then close whatever happened.
        Answer(c, 408, "the request did not arrive in time\n", false);
      }
      Close(c);
    }
    connections_.remove_if([](const Connection& c) { return c.state == State::kClosed; });
    if (accepting && fds[1].revents != 0) AcceptAll(after);
  }
}

void MetricsServer::Loop::AcceptAll(absl::Time now) {
  while (static_cast<int>(connections_.size()) < options_.max_connections) {
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED) {
        return;
      }
      // Out of descriptors or memory: stop accepting for a moment rather than spin.
      if (logger_ != nullptr) {
        logger_->Warn("metrics: accept failed", {{"error", strerror(errno)}});
      }
      accept_paused_until_ = now + absl::Milliseconds(100);
      return;
    }
    accepted.fetch_add(1, std::memory_order_relaxed);
    Connection& c = connections_.emplace_back();
    c.fd = fd;
    c.deadline = now + options_.connection_timeout;
  }
}

void MetricsServer::Loop::OnReadable(Connection& c) {
  char buffer[kReadChunk];
  while (c.state == State::kReading || c.state == State::kDraining) {
    std::size_t want = sizeof(buffer);
    if (c.state == State::kReading) {
      // One byte past the cap is enough to know the request is too large.
      want = std::min(want, options_.max_request_bytes + 1 - c.in.size());
    }
    const ssize_t n = recv(c.fd, buffer, want, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      Close(c);  // reset by the peer
      return;
    }
    if (n == 0) {
      if (c.state == State::kReading) {
        MaybeAnswer(c, /*eof=*/true);
      } else {
        Close(c);
      }
      return;
    }
    if (c.state == State::kDraining) {
      c.drained += static_cast<std::size_t>(n);
      if (c.drained > kMaxDrainBytes) Close(c);
      continue;
    }
    c.in.append(buffer, static_cast<std::size_t>(n));
    MaybeAnswer(c, /*eof=*/false);
  }
}

void MetricsServer::Loop::MaybeAnswer(Connection& c, bool eof) {
  // Until the request line is complete, only its size and the end of input can decide.
  const std::size_t line_end = c.in.find('\n');
  if (line_end == std::string::npos) {
    if (c.in.size() > options_.max_request_bytes) {
      Answer(c, 431, "request too large\n", false);
    } else if (eof) {
      if (c.in.empty()) {
        Close(c);  // connected and left: nothing to answer
      } else {
        Answer(c, 400, "incomplete request\n", false);
      }
    }
    return;
  }

  // METHOD SP TARGET SP HTTP/1.x: a bad one is answered at once, headers or not.
  absl::string_view line(c.in.data(), line_end);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  const std::size_t sp1 = line.find(' ');
  const std::size_t sp2 = sp1 == absl::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  bool valid = sp1 != absl::string_view::npos && sp2 != absl::string_view::npos && sp1 > 0 &&
               sp2 > sp1 + 1 && line.find(' ', sp2 + 1) == absl::string_view::npos;
  absl::string_view method;
  absl::string_view target;
  if (valid) {
    method = line.substr(0, sp1);
    target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    const absl::string_view version = line.substr(sp2 + 1);
    valid = (version == "HTTP/1.1" || version == "HTTP/1.0") && target.front() == '/';
    for (char ch : method) valid = valid && ch >= 'A' && ch <= 'Z';
    for (char ch : target) {
      const auto byte = static_cast<unsigned char>(ch);
      valid = valid && byte > 0x20 && byte < 0x7f;
    }
  }
  if (!valid) {
    Answer(c, 400, "not an HTTP/1.x request\n", false);
    return;
  }

  // The headers are read (up to the cap) and ignored.
  const bool headers_done = c.in.find("\r\n\r\n") != std::string::npos ||
                            c.in.find("\n\n") != std::string::npos;
  if (!headers_done) {
    if (c.in.size() > options_.max_request_bytes) {
      Answer(c, 431, "request too large\n", false);
    } else if (eof) {
      Answer(c, 400, "incomplete request\n", false);
    }
    return;
  }
  const bool head = method == "HEAD";
  if (method != "GET" && !head) {
    Answer(c, 405, "only GET /metrics\n", false, "Allow: GET, HEAD\r\n");
    return;
  }
  const absl::string_view path = target.substr(0, target.find('?'));
  if (path != "/metrics") {
    Answer(c, 404, "only /metrics is here\n", head);
    return;
  }
  scrapes.fetch_add(1, std::memory_order_relaxed);
  Answer(c, 200, render_(), head);
}

void MetricsServer::Loop::Answer(Connection& c, int status, const std::string& body,
                                 bool head_only, absl::string_view extra_headers) {
  if (status != 200) errors.fetch_add(1, std::memory_order_relaxed);
  c.out = absl::StrCat("HTTP/1.1 ", status, " ", ReasonPhrase(status),
                       "\r\nContent-Type: ", status == 200 ? kContentType : "text/plain",
                       "\r\nContent-Length: ", body.size(), "\r\n", extra_headers,
                       "Connection: close\r\n\r\n");
  if (!head_only) c.out += body;
  c.in.clear();
  c.in.shrink_to_fit();
  c.sent = 0;
  c.state = State::kWriting;
  OnWritable(c);
}

void MetricsServer::Loop::OnWritable(Connection& c) {
  while (c.sent < c.out.size()) {
    const ssize_t n = send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      Close(c);
      return;
    }
    c.sent += static_cast<std::size_t>(n);
  }
  c.out.clear();
  c.out.shrink_to_fit();
  // All sent: tell the client, then read until it closes (see kMaxDrainBytes).
  shutdown(c.fd, SHUT_WR);
  c.state = State::kDraining;
}

void MetricsServer::Loop::Close(Connection& c) {
  if (c.state == State::kClosed) return;
  close(c.fd);
  c.fd = -1;
  c.state = State::kClosed;
}

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(const Options& options,
                                                                    Render render,
                                                                    Logger* logger) {
  std::string host;
  std::string port;
  if (!SplitHostPort(options.listen, &host, &port)) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics address must be HOST:PORT, got \"", options.listen, "\""));
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* addresses = nullptr;
  const int gai = getaddrinfo(host.c_str(), port.c_str(), &hints, &addresses);
  if (gai != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot resolve metrics address ", options.listen, ": ", gai_strerror(gai)));
  }
  int listen_fd = -1;
  std::string last_error = "no address";
  for (addrinfo* a = addresses; a != nullptr && listen_fd < 0; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                          a->ai_protocol);
    if (fd < 0) {
      last_error = strerror(errno);
      continue;
    }
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, 64) != 0) {
      last_error = strerror(errno);
      close(fd);
      continue;
    }
    listen_fd = fd;
  }
  freeaddrinfo(addresses);
  if (listen_fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on metrics address ", options.listen, ": ", last_error));
  }
  sockaddr_storage bound{};
  socklen_t bound_len = sizeof(bound);
  getsockname(listen_fd, reinterpret_cast<sockaddr*>(&bound), &bound_len);
  int bound_port = 0;
  if (bound.ss_family == AF_INET) {
    bound_port = ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  } else if (bound.ss_family == AF_INET6) {
    bound_port = ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  }

  int wake[2];
  if (pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0) {
    close(listen_fd);
    return absl::InternalError(absl::StrCat("pipe2: ", strerror(errno)));
  }
  std::unique_ptr<MetricsServer> server(new MetricsServer());
  server->port_ = bound_port;
  server->wake_write_fd_ = wake[1];
  server->loop_ = std::make_unique<Loop>(options, std::move(render), logger, listen_fd, wake[0]);
  server->thread_ = std::thread([loop = server->loop_.get()] { loop->Run(); });
  return server;
}

MetricsServer::~MetricsServer() { Stop(); }

void MetricsServer::Stop() {
  if (stopped_) return;
  stopped_ = true;
  const char byte = 0;
  if (write(wake_write_fd_, &byte, 1) < 0) {
    // The pipe cannot be full (one byte, once); closing it wakes the loop all the same.
  }
  close(wake_write_fd_);
  if (thread_.joinable()) thread_.join();
  loop_.reset();
}

MetricsServer::Stats MetricsServer::GetStats() const {
  Stats stats;
  if (loop_ == nullptr) return stats;
  stats.connections = loop_->accepted.load(std::memory_order_relaxed);
  stats.scrapes = loop_->scrapes.load(std::memory_order_relaxed);
  stats.errors = loop_->errors.load(std::memory_order_relaxed);
  return stats;
}

}  // namespace rollcall::service
