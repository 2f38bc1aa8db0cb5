#pragma once
// A small, bounded thread pool for work that blocks on Microsoft Graph. gRPC's callback
// threads must never block, so every cache miss's load runs here: at most `threads` Graph calls
// at a time, at most `max_queued` loads waiting behind them.

#include <cstddef>
#include <deque>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"

namespace rollcall::service {

class UpstreamExecutor {
 public:
  // Starts `threads` (>= 1) worker threads.
  UpstreamExecutor(int threads, std::size_t max_queued);
  // Shutdown(), then joins.
  ~UpstreamExecutor();

  UpstreamExecutor(const UpstreamExecutor&) = delete;
  UpstreamExecutor& operator=(const UpstreamExecutor&) = delete;

  // Thread-safe. Queues `task` to run on a worker thread. Returns false (and drops `task`
  // without running it) when max_queued tasks are already waiting or after Shutdown(); the
  // caller then owns the failure.
  bool Schedule(absl::AnyInvocable<void() &&> task);

  // Thread-safe, idempotent; must not be called from a task. Stops accepting tasks, runs every
  // task already queued, and joins the workers.
  void Shutdown();

  // Tasks waiting (not running). For stats.
  std::size_t queued() const;

 private:
  void WorkerLoop();

  const std::size_t max_queued_;
  mutable absl::Mutex mu_;
  std::deque<absl::AnyInvocable<void() &&>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Written by the constructor and by the one Shutdown() that joins (joining_ guards that).
  std::vector<std::thread> workers_;
  bool joining_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace rollcall::service
