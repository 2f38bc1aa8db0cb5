#include "service/upstream_executor.h"

#include <utility>

#include "common/clock.h"

namespace rollcall::service {

UpstreamExecutor::UpstreamExecutor(int threads, std::size_t max_queued,
                                   const common::Clock* clock)
    : capacity_(static_cast<std::size_t>(threads < 1 ? 1 : threads) + max_queued), clock_(clock) {
  if (threads < 1) threads = 1;
  {
    common::MutexLock lock(&mu_);
    live_workers_ = static_cast<std::size_t>(threads);
  }
  workers_.reserve(static_cast<std::size_t>(threads));
  for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

UpstreamExecutor::~UpstreamExecutor() {
  Shutdown();
}

bool UpstreamExecutor::Schedule(absl::AnyInvocable<void() &&> task) {
  {
    common::MutexLock lock(&mu_);
    // queue_.size() + running_ does not change when a worker takes a task, so a task just
    // queued for an idle worker never makes the next one look refused.
    if (stopping_ || queue_.size() + running_ >= capacity_) {
      ++rejected_;
      return false;
    }
    queue_.push_back(std::move(task));
    work_.Signal();
  }
  return true;
}

bool UpstreamExecutor::Shutdown(absl::Time deadline) {
  {
    common::MutexLock lock(&mu_);
    stopping_ = true;
    work_.SignalAll();
    while (live_workers_ != 0) {
      if (clock_->Now() >= deadline) return false;
      clock_->WaitUntil(&progress_, deadline);
    }
    if (joined_) return true;
    joined_ = true;
  }
  // Every worker has left its loop: these joins return at once.
  for (std::thread& worker : workers_) worker.join();
  return true;
}

std::size_t UpstreamExecutor::queued() const {
  common::MutexLock lock(&mu_);
  return queue_.size();
}

std::size_t UpstreamExecutor::running() const {
  common::MutexLock lock(&mu_);
  return running_;
}

uint64_t UpstreamExecutor::rejected() const {
  common::MutexLock lock(&mu_);
  return rejected_;
}

bool UpstreamExecutor::AwaitIdle(absl::Duration timeout) const {
  const common::Clock* const wall = common::SystemClock();
  const absl::Time deadline = wall->Now() + timeout;
  common::MutexLock lock(&mu_);
  while (running_ != 0 || !queue_.empty()) {
    if (wall->Now() >= deadline) return false;
    wall->WaitUntil(&progress_, deadline);
  }
  return true;
}

void UpstreamExecutor::WorkerLoop() {
  common::MutexLock lock(&mu_);
  while (true) {
    while (!stopping_ && queue_.empty()) {
      work_.Wait();
    }
    if (queue_.empty()) break;  // stopping, and everything accepted has run
    absl::AnyInvocable<void() &&> task = std::move(queue_.front());
    queue_.pop_front();
    ++running_;
    mu_.Unlock();
    std::move(task)();
    task = nullptr;  // destroy what it captured before counting it finished
    mu_.Lock();
    --running_;
    progress_.SignalAll();
  }
  --live_workers_;
  progress_.SignalAll();
}

}  // namespace rollcall::service
