#pragma once
// The Graph and identity bodies of tests/data/graph/ (copied from Microsoft's docs), for any
// test folder: CMake sets ROLLCALL_EXAMPLES_DIR on rollcall_testing.

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace rollcall::testing {

inline std::filesystem::path ExamplesDir() { return ROLLCALL_EXAMPLES_DIR; }

inline std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

inline std::string ReadExample(const std::string& name) { return ReadFile(ExamplesDir() / name); }

// Names of the example files that start with `prefix` and end in .json, sorted.
inline std::vector<std::string> ExampleNames(const std::string& prefix) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(ExamplesDir())) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) == 0 && entry.path().extension() == ".json") names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

// A gtest-safe test-name suffix for a file name.
inline std::string TestNameFor(const std::string& file) {
  std::string name;
  for (char c : file.substr(0, file.rfind('.'))) {
    name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  }
  return name;
}

}  // namespace rollcall::testing
