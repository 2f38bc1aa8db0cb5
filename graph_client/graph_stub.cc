#include "graph_client/graph_stub.h"

#include <cstdint>
#include <random>

namespace rollcall::graph {

std::string NewClientRequestId() {
  thread_local std::mt19937_64 random = [] {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device(), device(), device()};
    return std::mt19937_64(seed);
  }();
  uint64_t high = random();
  uint64_t low = random();
  high = (high & ~uint64_t{0xF000}) | uint64_t{0x4000};          // version 4
  low = (low & ~(uint64_t{0x3} << 62)) | (uint64_t{0x2} << 62);  // variant 10xx
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  id.reserve(36);
  for (int i = 0; i < 32; ++i) {
    if (i == 8 || i == 12 || i == 16 || i == 20) id.push_back('-');
    const uint64_t word = i < 16 ? high : low;
    const int shift = 60 - 4 * (i % 16);
    id.push_back(kHex[(word >> shift) & 0xF]);
  }
  return id;
}

}  // namespace rollcall::graph
