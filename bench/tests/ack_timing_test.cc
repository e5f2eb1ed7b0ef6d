// parse_ack_timing: librdkafka statistics documents (STATISTICS.md) reduced to the latency
// producer's per-window request timings.
#include <gtest/gtest.h>

#include "bench/latency_bench.h"

namespace ferry::bench {
namespace {

// The shape librdkafka 2.0 emits, cut to the fields read: a bootstrap broker (nodeid -1) whose
// windows would otherwise win, the leader with requests, and a second broker with none.
constexpr const char* kStats = R"({
  "name": "rdkafka#producer-1", "type": "producer",
  "brokers": {
    "127.0.0.1:9092/bootstrap": {"nodeid": -1,
      "int_latency": {"cnt": 5, "p99": 900000}, "outbuf_latency": {"cnt": 5, "p99": 900000},
      "rtt": {"cnt": 5, "p99": 900000}},
    "127.0.0.1:9092/0": {"nodeid": 0,
      "int_latency": {"min": 10, "max": 4000, "cnt": 9765, "p50": 600, "p99": 2127},
      "outbuf_latency": {"cnt": 812, "p99": 198},
      "rtt": {"cnt": 812, "p99": 38399}},
    "127.0.0.1:9093/1": {"nodeid": 1,
      "int_latency": {"cnt": 0, "p99": 0}, "outbuf_latency": {"cnt": 0, "p99": 0},
      "rtt": {"cnt": 0, "p99": 0}}
  }
})";

TEST(AckTiming, TakesTheP99OfBrokersWithANodeIdInMilliseconds) {
  const auto w = parse_ack_timing(kStats);
  ASSERT_TRUE(w.has_value());
  EXPECT_DOUBLE_EQ(w->queue_p99_ms, 2.127);
  EXPECT_DOUBLE_EQ(w->outbuf_p99_ms, 0.198);
  EXPECT_DOUBLE_EQ(w->rtt_p99_ms, 38.399);
}

TEST(AckTiming, AWindowWithoutRequestsIsMinusOne) {
  const auto w = parse_ack_timing(
      R"({"brokers": {"b/0": {"nodeid": 0, "int_latency": {"cnt": 0, "p99": 0}, "rtt": {"cnt": 0}}}})");
  ASSERT_TRUE(w.has_value());
  EXPECT_EQ(w->queue_p99_ms, -1);
  EXPECT_EQ(w->outbuf_p99_ms, -1);  // no outbuf_latency object at all
  EXPECT_EQ(w->rtt_p99_ms, -1);
}

TEST(AckTiming, NotStatisticsIsNothing) {
  EXPECT_FALSE(parse_ack_timing("").has_value());
  EXPECT_FALSE(parse_ack_timing("{\"brokers\": ").has_value());
  EXPECT_FALSE(parse_ack_timing("[1, 2]").has_value());
  EXPECT_FALSE(parse_ack_timing(R"({"name": "x"})").has_value());
  // Wrong types inside are skipped, not trusted.
  const auto w = parse_ack_timing(R"({"brokers": {"b/0": {"nodeid": "0", "rtt": {"cnt": 1, "p99": 5}},
                                                   "b/1": {"nodeid": 1, "rtt": {"cnt": "many", "p99": 5}}}})");
  ASSERT_TRUE(w.has_value());
  EXPECT_EQ(w->rtt_p99_ms, -1);
}

}  // namespace
}  // namespace ferry::bench
