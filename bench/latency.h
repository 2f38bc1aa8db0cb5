#pragma once
// What the sequential latency clients of bench/ print: one JSON object with the call count and
// the median and 99th percentile, in milliseconds.

#include <algorithm>
#include <cstdio>
#include <vector>

namespace rollcall::bench {

// Sorts `ms` and prints {"count":N,"p50_ms":...,"p99_ms":...}. `ms` must not be empty.
inline void PrintLatencies(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  std::printf("{\"count\":%zu,\"p50_ms\":%.3f,\"p99_ms\":%.3f}\n", ms.size(), ms[ms.size() / 2],
              ms[std::min(ms.size() - 1, ms.size() * 99 / 100)]);
}

}  // namespace rollcall::bench
