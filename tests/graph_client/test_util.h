#pragma once
// Small helpers shared by the graph_client tests.

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/error_details.h"
#include "gtest/gtest.h"

namespace rollcall::testing {

// The Graph and identity bodies of tests/data/graph/ (copied from Microsoft's docs), set by CMake.
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

inline std::string Reason(const absl::Status& status) {
  return rollcall::common::GetErrorDetails(status).reason;
}

inline std::string Meta(const absl::Status& status, const std::string& key) {
  const auto details = rollcall::common::GetErrorDetails(status);
  const auto it = details.metadata.find(key);
  return it == details.metadata.end() ? "<absent>" : it->second;
}

// absl::Status::message() as a std::string (Debian's Abseil has its own string_view).
inline std::string Message(const absl::Status& status) { return std::string(status.message()); }

}  // namespace rollcall::testing
