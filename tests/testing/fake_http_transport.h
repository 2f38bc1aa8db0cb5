#pragma once
// A scriptable rollcall::graph::HttpTransport that records every request. Thread-safe.
//
//   auto transport = std::make_shared<FakeHttpTransport>();
//   transport->Enqueue(FakeHttpTransport::Json(200, R"({"id":"r1"})"));  // answered in order
//   transport->SetHandler([](const HttpRequest& r) { ... });           // when the queue is empty
//   ... code under test ...
//   EXPECT_EQ(transport->requests()[0].url, "...");
//
// With neither a queued response nor a handler, Send returns UNAVAILABLE ("nothing scripted").

#include <cctype>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/mutex.h"
#include "graph_client/http_transport.h"

namespace rollcall::testing {

class FakeHttpTransport final : public rollcall::graph::HttpTransport {
 public:
  using HttpRequest = rollcall::graph::HttpRequest;
  using HttpResponse = rollcall::graph::HttpResponse;
  using HttpHeaders = rollcall::graph::HttpHeaders;
  // Called without the fake's lock held, so it may block (to hold a request in flight).
  using Handler = std::function<absl::StatusOr<HttpResponse>(const HttpRequest&)>;

  // A response with `body` and Content-Type: application/json, plus `headers`.
  static HttpResponse Json(long status, std::string body, HttpHeaders headers = {}) {
    HttpResponse response;
    response.status = status;
    response.headers.emplace_back("content-type", "application/json; charset=utf-8");
    for (auto& header : headers) response.headers.push_back(std::move(header));
    response.body = std::move(body);
    return response;
  }

  // Answers the next request that finds the queue non-empty.
  void Enqueue(absl::StatusOr<HttpResponse> response) {
    common::MutexLock lock(&mu_);
    queue_.push_back(std::move(response));
  }

  // Answers requests while the queue is empty.
  void SetHandler(Handler handler) {
    common::MutexLock lock(&mu_);
    handler_ = std::make_shared<Handler>(std::move(handler));
  }

  absl::StatusOr<HttpResponse> Send(const HttpRequest& request) override {
    std::shared_ptr<Handler> handler;
    {
      common::MutexLock lock(&mu_);
      requests_.push_back(request);
      if (!queue_.empty()) {
        absl::StatusOr<HttpResponse> response = std::move(queue_.front());
        queue_.pop_front();
        return response;
      }
      handler = handler_;
    }
    if (handler == nullptr) {
      return absl::UnavailableError("FakeHttpTransport: nothing scripted for this request");
    }
    return (*handler)(request);
  }

  // Every request sent so far, in order.
  std::vector<HttpRequest> requests() const {
    common::MutexLock lock(&mu_);
    return requests_;
  }

  std::size_t request_count() const {
    common::MutexLock lock(&mu_);
    return requests_.size();
  }

  // The value of header `name` (case-insensitive) in `request`, or "" when absent.
  static std::string HeaderOf(const HttpRequest& request, const std::string& name) {
    for (const auto& [key, value] : request.headers) {
      if (key.size() != name.size()) continue;
      bool same = true;
      for (std::size_t i = 0; i < key.size() && same; ++i) {
        same = std::tolower(static_cast<unsigned char>(key[i])) ==
               std::tolower(static_cast<unsigned char>(name[i]));
      }
      if (same) return value;
    }
    return {};
  }

 private:
  mutable common::Mutex mu_;
  std::deque<absl::StatusOr<HttpResponse>> queue_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<Handler> handler_ ABSL_GUARDED_BY(mu_);
  std::vector<HttpRequest> requests_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rollcall::testing
