#pragma once
// A minimal plaintext HTTP/1.1 server on 127.0.0.1 for testing the libcurl transport. It binds
// port 0 and listens before the constructor returns, so a client may connect at once: there
// is nothing to wait for. Each connection is served by its own thread, request after request
// (keep-alive), by a handler that returns raw response bytes or asks to stall (hold the request
// unanswered until the server stops).

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/mutex.h"

namespace rollcall::testing {

class LocalHttpServer {
 public:
  struct Request {
    std::string method;
    std::string target;  // path and query, as sent
    std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
    std::string body;
    int connection = 0;  // 1 for the first connection accepted, 2 for the next, ...

    // The first value of header `name` (lower-case), or "".
    std::string Header(const std::string& name) const;
  };

  struct Reply {
    std::string raw;     // bytes to write: status line, headers, blank line, body
    bool stall = false;  // write nothing and hold the connection until the server stops
    bool close = false;  // after writing `raw` (which may be empty), close the connection
    // When not empty: after `raw`, write this again and again, `forever_interval_ms` apart,
    // until the client goes away or the server stops (a body that never ends).
    std::string forever = "";
    int forever_interval_ms = 0;
  };

  using Handler = std::function<Reply(const Request&)>;

  explicit LocalHttpServer(Handler handler);
  ~LocalHttpServer();  // stops: closes every connection and joins every thread
  LocalHttpServer(const LocalHttpServer&) = delete;
  LocalHttpServer& operator=(const LocalHttpServer&) = delete;

  int port() const { return port_; }
  // "http://127.0.0.1:<port><path>"
  std::string Url(const std::string& path) const;

  std::vector<Request> requests() const;
  int connections_accepted() const;

  // A complete response with Content-Length (or chunked transfer coding when `chunked`).
  static std::string Response(int status, const std::string& body,
                              const std::vector<std::pair<std::string, std::string>>& headers =
                                  {},
                              bool chunked = false);

 private:
  void AcceptLoop();
  void Serve(int fd, int connection);

  Handler handler_;
  int listen_fd_ = -1;
  int wake_pipe_[2] = {-1, -1};
  int port_ = 0;

  mutable common::Mutex mu_;
  common::CondVar stopping_cv_{&mu_};
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<int> connection_fds_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> connection_threads_ ABSL_GUARDED_BY(mu_);
  std::vector<Request> requests_ ABSL_GUARDED_BY(mu_);
  int connections_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread accept_thread_;
};

}  // namespace rollcall::testing
