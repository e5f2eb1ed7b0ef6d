#include "bench/ack_timing.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>

namespace ferry::bench {

std::optional<AckTimingWindow> parse_ack_timing(std::string_view stats_json) {
  const auto doc = nlohmann::json::parse(stats_json.begin(), stats_json.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("brokers") || !doc["brokers"].is_object())
    return std::nullopt;
  AckTimingWindow out;
  for (const auto& [name, b] : doc["brokers"].items()) {
    if (!b.is_object() || !b.contains("nodeid") || !b["nodeid"].is_number_integer() || b["nodeid"].get<int64_t>() < 0)
      continue;  // bootstrap and logical brokers
    auto p99_ms = [&b](const char* window) {
      if (!b.contains(window) || !b[window].is_object()) return -1.0;
      const auto& w = b[window];
      if (!w.contains("cnt") || !w["cnt"].is_number() || w["cnt"].get<double>() <= 0) return -1.0;
      if (!w.contains("p99") || !w["p99"].is_number()) return -1.0;
      return w["p99"].get<double>() / 1000.0;  // microseconds
    };
    out.queue_p99_ms = std::max(out.queue_p99_ms, p99_ms("int_latency"));
    out.outbuf_p99_ms = std::max(out.outbuf_p99_ms, p99_ms("outbuf_latency"));
    out.rtt_p99_ms = std::max(out.rtt_p99_ms, p99_ms("rtt"));
  }
  return out;
}

}  // namespace ferry::bench
