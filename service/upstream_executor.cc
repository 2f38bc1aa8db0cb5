#include "service/upstream_executor.h"

#include <utility>

namespace rollcall::service {

UpstreamExecutor::UpstreamExecutor(int threads, std::size_t max_queued)
    : max_queued_(max_queued) {
  if (threads < 1) threads = 1;
  workers_.reserve(static_cast<std::size_t>(threads));
  for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

UpstreamExecutor::~UpstreamExecutor() { Shutdown(); }

bool UpstreamExecutor::Schedule(absl::AnyInvocable<void() &&> task) {
  absl::MutexLock lock(&mu_);
  if (stopping_ || queue_.size() >= max_queued_) return false;
  queue_.push_back(std::move(task));
  return true;
}

void UpstreamExecutor::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (joining_) return;  // another caller joins
    joining_ = true;
  }
  for (std::thread& worker : workers_) worker.join();
}

std::size_t UpstreamExecutor::queued() const {
  absl::MutexLock lock(&mu_);
  return queue_.size();
}

void UpstreamExecutor::WorkerLoop() {
  while (true) {
    absl::AnyInvocable<void() &&> task;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](UpstreamExecutor* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
            return self->stopping_ || !self->queue_.empty();
          },
          this));
      if (queue_.empty()) return;  // stopping, and everything queued has run
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    std::move(task)();
  }
}

}  // namespace rollcall::service
