#pragma once
// A minimal HTTP/1.1 endpoint for Prometheus: `GET /metrics` answers 200 with the text that a
// render callback builds (text exposition format 0.0.4), and closes the connection. Anything
// else is answered and closed too: another path 404, another method 405, a request that is not
// HTTP/1.x 400, request headers over the size cap 431, a client too slow to send its request
// within the per-connection timeout 408. Nothing a client sends can crash it or make it hold
// more than max_connections connections of max_request_bytes each.
//
// One thread, poll() over non-blocking sockets (the listener, a wake-up pipe and every open
// connection), so a slow or silent client never holds up another. Used by RollcallServer when
// metrics_listen is set; the scrape is plaintext and unauthenticated, so bind it to an
// address only the cluster can reach.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "service/log.h"

namespace rollcall::service {

// Builds Prometheus' text format: each metric's # HELP and # TYPE lines, then its samples.
class PrometheusText {
 public:
  // One counter (name should end in _total) or gauge without labels.
  void Counter(absl::string_view name, absl::string_view help, uint64_t value);
  void Gauge(absl::string_view name, absl::string_view help, double value);

  // A metric with one label: Family() once, then Sample() per label value.
  void Family(absl::string_view name, absl::string_view type, absl::string_view help);
  void Sample(absl::string_view name, absl::string_view label, absl::string_view label_value,
              uint64_t value);

  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

class MetricsServer {
 public:
  struct Options {
    // HOST:PORT ("127.0.0.1:9090", "[::]:0"); port 0 lets the OS choose (see port()).
    std::string listen;
    // Largest request (request line and headers) read; a larger one is answered 431.
    std::size_t max_request_bytes = 8 * 1024;
    // How long a connection may take from accept to its last response byte.
    absl::Duration connection_timeout = absl::Seconds(5);
    // Connections open at once; more wait in the listen backlog.
    int max_connections = 16;
  };

  // Called on the server's thread for each GET /metrics; returns the body.
  using Render = std::function<std::string()>;

  // Binds, listens and starts the thread. Errors: INVALID_ARGUMENT for a listen address that
  // is not HOST:PORT, UNAVAILABLE when it cannot be bound. `logger` may be null; it must
  // outlive the server.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(const Options& options,
                                                              Render render, Logger* logger);

  // Stop().
  ~MetricsServer();

  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // The port bound.
  int port() const { return port_; }

  // Closes the listener and every connection and joins the thread. Idempotent; not from the
  // render callback.
  void Stop();

  struct Stats {
    uint64_t connections = 0;  // accepted
    uint64_t scrapes = 0;      // 200 answers to GET /metrics
    uint64_t errors = 0;       // answers other than 200 (and timeouts)
  };
  Stats GetStats() const;

 private:
  class Loop;
  MetricsServer() = default;

  int port_ = 0;
  int wake_write_fd_ = -1;
  std::unique_ptr<Loop> loop_;
  std::thread thread_;
  bool stopped_ = false;
};

}  // namespace rollcall::service
