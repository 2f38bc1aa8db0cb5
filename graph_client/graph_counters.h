#pragma once
// The counters behind GraphClient::Stats(), shared by the layers that see each event:
// MeteredStub (exchanges, retries, throttling, 5xx, transport failures, oversized bodies),
// AuthenticatingStub (token refreshes after a 401) and GraphClient (bodies that are not what
// Graph documents). Thread-safe: each counter only ever grows, with relaxed atomics.

#include <atomic>
#include <cstdint>

#include "graph_client/graph_client.h"

namespace rollcall::graph {

struct GraphCounters {
  std::atomic<uint64_t> http_requests{0};
  std::atomic<uint64_t> retries{0};
  std::atomic<uint64_t> throttled{0};
  std::atomic<uint64_t> server_errors{0};
  std::atomic<uint64_t> transport_errors{0};
  std::atomic<uint64_t> bad_responses{0};
  std::atomic<uint64_t> token_refreshes{0};

  static void Increment(std::atomic<uint64_t>& counter) {
    counter.fetch_add(1, std::memory_order_relaxed);
  }

  GraphClientStats Snapshot() const {
    GraphClientStats stats;
    stats.http_requests = http_requests.load(std::memory_order_relaxed);
    stats.retries = retries.load(std::memory_order_relaxed);
    stats.throttled = throttled.load(std::memory_order_relaxed);
    stats.server_errors = server_errors.load(std::memory_order_relaxed);
    stats.transport_errors = transport_errors.load(std::memory_order_relaxed);
    stats.bad_responses = bad_responses.load(std::memory_order_relaxed);
    stats.token_refreshes = token_refreshes.load(std::memory_order_relaxed);
    return stats;
  }
};

}  // namespace rollcall::graph
