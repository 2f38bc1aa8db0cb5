#pragma once
// FUZZ_CHECK: the fuzz targets' assertion. A broken invariant prints what broke and aborts, which
// libFuzzer reports as a crash and saves the input that caused it (crash-<sha1> in the
// -artifact_prefix folder). Not an assert(): it must fire in every build type.

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(condition, ...)                                                   \
  do {                                                                               \
    if (!(condition)) {                                                              \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK(%s) failed: ", __FILE__, __LINE__,     \
                   #condition);                                                      \
      std::fprintf(stderr, __VA_ARGS__);                                             \
      std::fputc('\n', stderr);                                                      \
      std::abort();                                                                  \
    }                                                                                \
  } while (0)
