// Helpers shared by the C++ benchmarks of native/core (bench/*.cc).
#pragma once

#include <algorithm>
#include <string>
#include <vector>

namespace fastmha_bench {

// The median of a benchmark's samples (the upper one of an even count).
inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// A command-line list, "1,2,4" or "paper,bert", split at its commas.
inline std::vector<std::string> splitList(const char* s) {
  std::vector<std::string> parts(1);
  for (; *s; ++s) {
    if (*s == ',') parts.emplace_back();
    else parts.back() += *s;
  }
  return parts;
}

}  // namespace fastmha_bench
