// Test support (header-only, for tests only): the seeds of a seeded property test, and the trace
// line that names a failing seed and how to replay it.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

namespace ferry::testing {

/// The seeds a property test runs: only FERRY_PROPERTY_SEED when it is set and not empty (a
/// replay of one failure), else `defaults`.
inline std::vector<uint64_t> property_seeds(std::vector<uint64_t> defaults) {
  if (const char* env = std::getenv("FERRY_PROPERTY_SEED"); env && *env) return {std::strtoull(env, nullptr, 10)};
  return defaults;
}

/// 1, 2, ..., n: the default seeds of a test that tries n random cases.
inline std::vector<uint64_t> first_seeds(uint64_t n) {
  std::vector<uint64_t> out;
  for (uint64_t s = 1; s <= n; ++s) out.push_back(s);
  return out;
}

/// "seed S (FERRY_PROPERTY_SEED=S replays it)", for SCOPED_TRACE.
inline std::string seed_trace(uint64_t seed) {
  return "seed " + std::to_string(seed) + " (FERRY_PROPERTY_SEED=" + std::to_string(seed) + " replays it)";
}

}  // namespace ferry::testing
