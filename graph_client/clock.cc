#include "graph_client/clock.h"

#include "absl/time/clock.h"

namespace rollcall::graph {
namespace {

class WallClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
  void SleepUntil(absl::Time until) const override {
    const absl::Duration wait = until - absl::Now();
    if (wait > absl::ZeroDuration()) absl::SleepFor(wait);
  }
};

}  // namespace

const Clock* SystemClock() {
  static const WallClock* const clock = new WallClock();
  return clock;
}

}  // namespace rollcall::graph
