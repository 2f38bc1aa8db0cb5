#include "common/clock.h"

#include <algorithm>
#include <chrono>

#include "absl/time/clock.h"

namespace rollcall::common {
namespace {

class WallClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
  void SleepUntil(absl::Time until) const override {
    const absl::Duration wait = until - absl::Now();
    if (wait > absl::ZeroDuration()) absl::SleepFor(wait);
  }
  void WaitUntil(CondVar* cv, absl::Time deadline) const override {
    if (deadline == absl::InfiniteFuture()) {
      cv->Wait();
      return;
    }
    // steady_clock, so that a wall-clock step cannot stretch or cut the wait.
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return;
    cv->WaitUntilRealTime(std::chrono::steady_clock::now() +
                          absl::ToChronoNanoseconds(std::min(left, absl::Hours(24))));
  }
};

}  // namespace

const Clock* SystemClock() {
  static const WallClock* const clock = new WallClock();
  return clock;
}

}  // namespace rollcall::common
