#include "service/striped_counters.h"

namespace rollcall::service::striped_internal {

std::size_t AssignStripe() {
  static std::atomic<std::size_t> next{0};
  return next.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace rollcall::service::striped_internal
