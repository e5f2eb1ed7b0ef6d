// librdkafka's statistics reduced to one producer's request timings per window: where the time
// of an acknowledgement went (ferry-bench's latency phase).
#pragma once

#include <optional>
#include <string_view>

namespace ferry::bench {

/// One librdkafka statistics document's request timings (LatencyResult::ack_timing): the p99 of
/// `int_latency`, `outbuf_latency` and `rtt` in ms, the largest over the brokers with a node id
/// (bootstrap and logical brokers have -1), and -1 where no such broker had a request in the
/// window (`cnt` 0). Source: librdkafka STATISTICS.md, "brokers" and "Window stats" (µs).
struct AckTimingWindow {
  double queue_p99_ms = -1;
  double outbuf_p99_ms = -1;
  double rtt_p99_ms = -1;
};
/// Parses `stats_json` (the stats_cb argument); nullopt when it is not JSON or has no "brokers"
/// object.
std::optional<AckTimingWindow> parse_ack_timing(std::string_view stats_json);

}  // namespace ferry::bench
