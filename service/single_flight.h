#pragma once
// SingleFlight: the callers waiting for each key's one load in flight, so that concurrent
// misses for a key make one load, whatever the load is and wherever it runs. It holds waiters
// and their deadlines only; running the load and deciding what waiters get is the caller's.
//
// A flight's life: Join starts it (the caller's `start` schedules the load, under this
// object's lock, so that nobody joins a flight whose load was refused) or adds a waiter to
// it; the load asks Deadline(), the latest deadline of the waiters at that moment, and runs to
// it; when it ends, Take hands back the waiters to answer, and the flight is gone, unless the
// load ran out of time and `keep_later` keeps the waiters with more time than it had: those
// stay, and the load runs again for them (Take sets *again).
//
// Thread-safe. One mutex, held for bounded work and never while a waiter's callback runs; it
// is taken only by misses, never by a cache hit. `start` runs under it and may take other
// locks (the executor's, an LRU shard's) that are never held while calling into this object.

#include <algorithm>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/mutex.h"

namespace rollcall::service {

template <typename Done>
class SingleFlight {
 public:
  enum class Joined {
    kJoined,      // a flight was in progress: `done` waits on it
    kStarted,     // `start` returned true: a new flight with `done` as its first waiter
    kNotStarted,  // `start` returned false: no flight, `done` left with the caller
  };

  SingleFlight() = default;
  SingleFlight(const SingleFlight&) = delete;
  SingleFlight& operator=(const SingleFlight&) = delete;

  // Joins the flight of `key` with `done` (moved from unless kNotStarted), or, when none is in
  // flight, calls `start` (under the lock) and starts one if it returns true.
  Joined Join(absl::string_view key, absl::Time deadline, Done& done,
              absl::FunctionRef<bool()> start) {
    common::MutexLock lock(&mu_);
    if (const auto flight = flights_.find(key); flight != flights_.end()) {
      flight->second.push_back(Waiter{std::move(done), deadline});
      ++waiters_;
      return Joined::kJoined;
    }
    if (!start()) return Joined::kNotStarted;
    std::vector<Waiter>& waiters = flights_[std::string(key)];
    waiters.push_back(Waiter{std::move(done), deadline});
    ++waiters_;
    return Joined::kStarted;
  }

  // The latest deadline of the waiters of `key`'s flight; InfinitePast when there is none.
  absl::Time Deadline(absl::string_view key) const {
    common::MutexLock lock(&mu_);
    absl::Time latest = absl::InfinitePast();
    if (const auto flight = flights_.find(key); flight != flights_.end()) {
      for (const Waiter& waiter : flight->second) latest = std::max(latest, waiter.deadline);
    }
    return latest;
  }

  // Ends a run of `key`'s load, which ran to `deadline`: returns the waiters to answer, in the
  // order they joined. All of them, and the flight ends; or, with `keep_later`, only those
  // whose deadline is no later than `deadline`: the others stay for another run, and *again
  // is set (the flight goes on; the caller runs the load again).
  std::vector<Done> Take(absl::string_view key, absl::Time deadline, bool keep_later,
                         bool* again) {
    std::vector<Done> out;
    *again = false;
    common::MutexLock lock(&mu_);
    const auto flight = flights_.find(key);
    if (flight == flights_.end()) return out;
    std::vector<Waiter> staying;
    for (Waiter& waiter : flight->second) {
      if (keep_later && waiter.deadline > deadline) {
        staying.push_back(std::move(waiter));
      } else {
        out.push_back(std::move(waiter.done));
      }
    }
    waiters_ -= out.size();
    if (staying.empty()) {
      flights_.erase(flight);
    } else {
      flight->second = std::move(staying);
      *again = true;
    }
    return out;
  }

  // Flights in progress, and callers waiting on them.
  std::size_t flights() const {
    common::MutexLock lock(&mu_);
    return flights_.size();
  }
  std::size_t waiters() const {
    common::MutexLock lock(&mu_);
    return waiters_;
  }

 private:
  struct Waiter {
    Done done;
    absl::Time deadline;
  };

  mutable common::Mutex mu_;
  absl::flat_hash_map<std::string, std::vector<Waiter>> flights_ ABSL_GUARDED_BY(mu_);
  std::size_t waiters_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace rollcall::service
