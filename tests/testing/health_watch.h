#pragma once
// A grpc.health.v1.Health/Watch stream for a server as a whole (service ""), read by hand: the
// health proto is not compiled into the tests, so requests and replies are raw bytes
// (HealthCheckResponse{status: SERVING} is "\x08\x01", NOT_SERVING "\x08\x02"). Read() blocks
// until the server sends a change: a test waits on it for the server's own signal (e.g. that
// shutdown has begun) instead of polling Check. Needs gRPC++ (grpcpp) linked by its user.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"

namespace rollcall::testing {

class HealthWatch {
 public:
  static std::string Serving() { return std::string("\x08\x01", 2); }
  static std::string NotServing() { return std::string("\x08\x02", 2); }

  // `timeout` bounds the whole stream: only a failing test waits that long.
  explicit HealthWatch(const std::shared_ptr<grpc::Channel>& channel,
                       absl::Duration timeout = absl::Seconds(30))
      : generic_(channel) {
    context_.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    call_ = generic_.PrepareCall(&context_, "/grpc.health.v1.Health/Watch", &cq_);
    call_->StartCall(Tag(1));
    EXPECT_TRUE(Next(1));
    grpc::Slice empty("");
    call_->Write(grpc::ByteBuffer(&empty, 1), Tag(2));  // HealthCheckRequest{service: ""}
    EXPECT_TRUE(Next(2));
    call_->WritesDone(Tag(3));
    EXPECT_TRUE(Next(3));
  }
  ~HealthWatch() {
    context_.TryCancel();
    grpc::Status status;
    call_->Finish(&status, Tag(5));
    Next(5);
    cq_.Shutdown();
    void* tag;
    bool ok;
    while (cq_.Next(&tag, &ok)) {
    }
  }
  HealthWatch(const HealthWatch&) = delete;
  HealthWatch& operator=(const HealthWatch&) = delete;

  // The next HealthCheckResponse's bytes; "" when the stream ended.
  std::string Read() {
    grpc::ByteBuffer reply;
    call_->Read(&reply, Tag(4));
    if (!Next(4)) return "";
    std::vector<grpc::Slice> slices;
    EXPECT_TRUE(reply.Dump(&slices).ok());
    std::string out;
    for (const grpc::Slice& slice : slices) {
      out.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
    }
    return out;
  }

 private:
  static void* Tag(intptr_t n) { return reinterpret_cast<void*>(n); }
  bool Next(intptr_t expected) {
    void* tag = nullptr;
    bool ok = false;
    EXPECT_TRUE(cq_.Next(&tag, &ok));
    EXPECT_EQ(reinterpret_cast<intptr_t>(tag), expected);
    return ok;
  }
  grpc::GenericStub generic_;
  grpc::CompletionQueue cq_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call_;
};

}  // namespace rollcall::testing
