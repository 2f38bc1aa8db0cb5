#include "tests/testing/local_http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace rollcall::testing {
namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Trim(const std::string& s) {
  const auto begin = s.find_first_not_of(" \t");
  if (begin == std::string::npos) return {};
  const auto end = s.find_last_not_of(" \t\r");
  return s.substr(begin, end - begin + 1);
}

bool WriteAll(int fd, const std::string& data) {
  std::size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

[[noreturn]] void Die(const char* what) {
  std::perror(what);
  std::abort();
}

}  // namespace

std::string LocalHttpServer::Request::Header(const std::string& name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) return value;
  }
  return {};
}

LocalHttpServer::LocalHttpServer(Handler handler) : handler_(std::move(handler)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) Die("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) Die("bind");
  if (::listen(listen_fd_, 64) != 0) Die("listen");
  socklen_t len = sizeof(addr);
  if (::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    Die("getsockname");
  }
  port_ = ntohs(addr.sin_port);
  if (::pipe2(wake_pipe_, O_CLOEXEC) != 0) Die("pipe2");
  accept_thread_ = std::thread([this] { AcceptLoop(); });
}

LocalHttpServer::~LocalHttpServer() {
  std::vector<std::thread> threads;
  {
    common::MutexLock lock(&mu_);
    stopping_ = true;
    for (int fd : connection_fds_) ::shutdown(fd, SHUT_RDWR);  // wakes blocked reads
    stopping_cv_.SignalAll();
  }
  const char byte = 'x';
  (void)!::write(wake_pipe_[1], &byte, 1);
  accept_thread_.join();
  {
    common::MutexLock lock(&mu_);
    threads.swap(connection_threads_);
  }
  for (auto& t : threads) t.join();
  common::MutexLock lock(&mu_);  // every connection thread has ended
  for (int fd : connection_fds_) ::close(fd);
  ::close(listen_fd_);
  ::close(wake_pipe_[0]);
  ::close(wake_pipe_[1]);
}

std::string LocalHttpServer::Url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

std::vector<LocalHttpServer::Request> LocalHttpServer::requests() const {
  common::MutexLock lock(&mu_);
  return requests_;
}

int LocalHttpServer::connections_accepted() const {
  common::MutexLock lock(&mu_);
  return connections_;
}

std::string LocalHttpServer::Response(
    int status, const std::string& body,
    const std::vector<std::pair<std::string, std::string>>& headers, bool chunked) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " Status\r\n";
  for (const auto& [name, value] : headers) out += name + ": " + value + "\r\n";
  if (chunked) {
    out += "Transfer-Encoding: chunked\r\n\r\n";
    constexpr std::size_t kChunk = 100;
    for (std::size_t i = 0; i < body.size(); i += kChunk) {
      const std::string piece = body.substr(i, kChunk);
      char size[32];
      std::snprintf(size, sizeof(size), "%zx\r\n", piece.size());
      out += size + piece + "\r\n";
    }
    out += "0\r\n\r\n";
  } else {
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  }
  return out;
}

void LocalHttpServer::AcceptLoop() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) continue;
    if (fds[1].revents != 0) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    common::MutexLock lock(&mu_);
    if (stopping_) {
      ::close(fd);
      return;
    }
    connection_fds_.push_back(fd);
    const int connection = ++connections_;
    connection_threads_.emplace_back([this, fd, connection] { Serve(fd, connection); });
  }
}

void LocalHttpServer::Serve(int fd, int connection) {
  std::string buffer;
  char chunk[4096];
  const auto read_more = [&] {
    const ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0) return false;
    buffer.append(chunk, static_cast<std::size_t>(n));
    return true;
  };
  for (;;) {
    std::size_t head_end;
    while ((head_end = buffer.find("\r\n\r\n")) == std::string::npos) {
      if (!read_more()) return;
    }
    Request request;
    request.connection = connection;
    const std::string head = buffer.substr(0, head_end);
    buffer.erase(0, head_end + 4);
    std::size_t line_end = head.find("\r\n");
    const std::string request_line = head.substr(0, line_end);
    const std::size_t space1 = request_line.find(' ');
    const std::size_t space2 = request_line.find(' ', space1 + 1);
    request.method = request_line.substr(0, space1);
    request.target = request_line.substr(space1 + 1, space2 - space1 - 1);
    std::size_t content_length = 0;
    while (line_end != std::string::npos) {
      const std::size_t next = head.find("\r\n", line_end + 2);
      const std::string line = head.substr(line_end + 2, next - line_end - 2);
      line_end = next;
      const std::size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = Lower(line.substr(0, colon));
      std::string value = Trim(line.substr(colon + 1));
      if (name == "content-length") content_length = std::strtoul(value.c_str(), nullptr, 10);
      request.headers.emplace_back(std::move(name), std::move(value));
    }
    while (buffer.size() < content_length) {
      if (!read_more()) return;
    }
    request.body = buffer.substr(0, content_length);
    buffer.erase(0, content_length);
    {
      common::MutexLock lock(&mu_);
      requests_.push_back(request);
    }

    const Reply reply = handler_(request);
    if (reply.stall) {
      common::MutexLock lock(&mu_);
      while (!stopping_) stopping_cv_.Wait();
      return;
    }
    if (!WriteAll(fd, reply.raw)) return;
    if (!reply.forever.empty()) {
      for (;;) {
        {
          common::MutexLock lock(&mu_);
          if (stopping_) return;
        }
        if (!WriteAll(fd, reply.forever)) return;  // the client closed the connection
        if (reply.forever_interval_ms > 0) {
          std::this_thread::sleep_for(std::chrono::milliseconds(reply.forever_interval_ms));
        }
      }
    }
    if (reply.close) {
      ::shutdown(fd, SHUT_RDWR);  // the client reads end-of-stream; the fd closes on stop
      return;
    }
  }
}

}  // namespace rollcall::testing
