#pragma once
// A small, bounded thread pool for work that blocks on Microsoft Graph. gRPC's callback
// threads must never block, so every cache miss's load runs here: at most `threads` Graph calls
// at a time, at most `max_queued` loads waiting behind them. Cache hits never come here.
//
// Thread-safe. One mutex guards the queue; a task never runs under it. Shutdown's deadline is
// an instant of the injected clock; AwaitIdle, for tests, bounds its wait in real time.

#include <cstddef>
#include <deque>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/mutex.h"

namespace rollcall::service {

class UpstreamExecutor {
 public:
  // Starts `threads` (>= 1) worker threads. `max_queued` may be 0: then a task is accepted only
  // when a thread is free to run it. `clock` (never null) outlives the executor.
  UpstreamExecutor(int threads, std::size_t max_queued,
                   const common::Clock* clock = common::SystemClock());
  // Shutdown(), then joins, however long the tasks still running take.
  ~UpstreamExecutor();

  UpstreamExecutor(const UpstreamExecutor&) = delete;
  UpstreamExecutor& operator=(const UpstreamExecutor&) = delete;

  // Thread-safe, never blocks on a task. Accepts `task` when fewer than threads + max_queued
  // tasks are accepted and unfinished (running or waiting), so exactly `max_queued` can wait
  // while every thread is busy. Returns false (and drops `task` without running it) otherwise,
  // or after Shutdown(); the caller then owns the failure.
  bool Schedule(absl::AnyInvocable<void() &&> task);

  // Thread-safe; must not be called from a task. Stops accepting tasks, lets the workers run
  // every task already accepted, and waits for them until `deadline` (of the clock). Returns true
  // when every worker has finished and been joined; false when `deadline` passed first (tasks
  // are still running; the destructor joins them). Later calls wait again.
  bool Shutdown(absl::Time deadline = absl::InfiniteFuture());

  // Tasks waiting for a thread (not running). For metrics.
  std::size_t queued() const;
  // Tasks running. For metrics.
  std::size_t running() const;
  // Tasks refused by Schedule (full, or shut down) since construction. For metrics.
  uint64_t rejected() const;

  // Blocks until no task is running or queued, or `timeout` passes; returns whether none is.
  // A task counts as running until it returns, so after its last callback. For tests.
  bool AwaitIdle(absl::Duration timeout) const;

 private:
  void WorkerLoop();

  const std::size_t capacity_;  // threads + max_queued
  const common::Clock* const clock_;
  mutable common::Mutex mu_;
  // Signalled when a task is queued or stopping_ is set (workers wait on it).
  common::CondVar work_{&mu_};
  // Signalled when a task finishes or a worker leaves (Shutdown and AwaitIdle wait on it).
  mutable common::CondVar progress_{&mu_};
  std::deque<absl::AnyInvocable<void() &&>> queue_ ABSL_GUARDED_BY(mu_);
  std::size_t running_ ABSL_GUARDED_BY(mu_) = 0;
  std::size_t live_workers_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t rejected_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool joined_ ABSL_GUARDED_BY(mu_) = false;
  // Written by the constructor and by the one caller that joins (joined_ under mu_ decides).
  std::vector<std::thread> workers_;
};

}  // namespace rollcall::service
