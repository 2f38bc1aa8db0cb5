#include "service/upstream_executor.h"

#include <utility>

namespace rollcall::service {

UpstreamExecutor::UpstreamExecutor(int threads, std::size_t max_queued)
    : capacity_(static_cast<std::size_t>(threads < 1 ? 1 : threads) + max_queued) {
  if (threads < 1) threads = 1;
  {
    absl::MutexLock lock(&mu_);
    live_workers_ = static_cast<std::size_t>(threads);
  }
  workers_.reserve(static_cast<std::size_t>(threads));
  for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

UpstreamExecutor::~UpstreamExecutor() {
  Shutdown();
}

bool UpstreamExecutor::Schedule(absl::AnyInvocable<void() &&> task) {
  absl::MutexLock lock(&mu_);
  // queue_.size() + running_ does not change when a worker takes a task, so a task just queued
  // for an idle worker never makes the next one look refused.
  if (stopping_ || queue_.size() + running_ >= capacity_) {
    ++rejected_;
    return false;
  }
  queue_.push_back(std::move(task));
  return true;
}

bool UpstreamExecutor::Shutdown(absl::Time deadline) {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    const bool finished = mu_.AwaitWithDeadline(
        absl::Condition(
            +[](std::size_t* live) { return *live == 0; }, &live_workers_),
        deadline);
    if (!finished) return false;
    if (joined_) return true;
    joined_ = true;
  }
  // Every worker has left its loop: these joins return at once.
  for (std::thread& worker : workers_) worker.join();
  return true;
}

std::size_t UpstreamExecutor::queued() const {
  absl::MutexLock lock(&mu_);
  return queue_.size();
}

std::size_t UpstreamExecutor::running() const {
  absl::MutexLock lock(&mu_);
  return running_;
}

uint64_t UpstreamExecutor::rejected() const {
  absl::MutexLock lock(&mu_);
  return rejected_;
}

bool UpstreamExecutor::AwaitIdle(absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(
      absl::Condition(
          +[](const UpstreamExecutor* self) ABSL_NO_THREAD_SAFETY_ANALYSIS {
            return self->running_ == 0 && self->queue_.empty();
          },
          this),
      timeout);
}

void UpstreamExecutor::WorkerLoop() {
  mu_.Lock();
  while (true) {
    mu_.Await(absl::Condition(
        +[](UpstreamExecutor* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
          return self->stopping_ || !self->queue_.empty();
        },
        this));
    if (queue_.empty()) break;  // stopping, and everything accepted has run
    absl::AnyInvocable<void() &&> task = std::move(queue_.front());
    queue_.pop_front();
    ++running_;
    mu_.Unlock();
    std::move(task)();
    task = nullptr;  // destroy what it captured before counting it finished
    mu_.Lock();
    --running_;
  }
  --live_workers_;
  mu_.Unlock();
}

}  // namespace rollcall::service
