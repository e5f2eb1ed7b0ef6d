// Pins issue 13 defect 2: target topic limits: exact single-record batch sizes, worked out by hand
// from the Kafka protocol guide's v2 record layout, and the producer settings derived from them.
#include "mirror/target_limits.h"

#include <gtest/gtest.h>

namespace ferry::mirror {
namespace {

TEST(SingleRecordBatchBytes, MatchesTheV2LayoutWorkedByHand) {
  // body: attributes 1, timestampDelta 1, offsetDelta 1, key 1+1, value 1+10, header count 1 = 17;
  // length varint 1; header 61.
  EXPECT_EQ(single_record_batch_bytes(1, 10, {}), 61 + 1 + 17);
  // Null key and value encode as varint -1 (one byte each).
  EXPECT_EQ(single_record_batch_bytes(std::nullopt, std::nullopt, {}), 61 + 1 + 6);
  // 200 zigzags to 400: a two-byte varint, and so does the body length 207.
  EXPECT_EQ(single_record_batch_bytes(std::nullopt, 200, {}), 61 + 2 + 207);
  // One header "abc" -> 2 bytes: 1+3 + 1+2; an empty value is length 0, not null.
  EXPECT_EQ(single_record_batch_bytes(std::nullopt, 0, {{3, 2}}), 61 + 1 + 13);
  EXPECT_EQ(single_record_batch_bytes(std::nullopt, 0, {{3, std::nullopt}}), 61 + 1 + 11);
}

TEST(SingleRecordBatchBytes, GrowsByExactlyTheBytesAddedBetweenVarintBoundaries) {
  // Between varint boundaries one more value byte is one more batch byte: the check against a limit
  // is exact, not an estimate.
  for (size_t v = 100; v < 5000; v += 37) {
    const auto a = single_record_batch_bytes(5, v, {{13, 40}, {14, 20}});
    const auto b = single_record_batch_bytes(5, v + 1, {{13, 40}, {14, 20}});
    EXPECT_GE(b - a, 1);
    EXPECT_LE(b - a, 3);
  }
}

TEST(TargetLimits, TheSmallerOfSegmentAndMaxMessageBytesLimitsABatch) {
  auto l = target_limits_from_configs({{"segment.bytes", "65536"}, {"max.message.bytes", "1048588"}});
  EXPECT_EQ(l.batch_limit(), 65536);
  EXPECT_STREQ(l.limiting_key(), "segment.bytes");
  l = target_limits_from_configs({{"segment.bytes", "1073741824"}, {"max.message.bytes", "2000"}});
  EXPECT_EQ(l.batch_limit(), 2000);
  EXPECT_STREQ(l.limiting_key(), "max.message.bytes");
  // Unreadable values bound nothing rather than block everything.
  l = target_limits_from_configs({{"segment.bytes", "abc"}, {"max.message.bytes", "-1"}});
  EXPECT_EQ(l.batch_limit(), INT64_MAX);
}

TEST(ProducerSettings, DefaultProducerWhenItFitsElseABatchSizeUnderTheLimit) {
  EXPECT_EQ(producer_batch_size(target_limits_from_configs({{"max.message.bytes", "1048588"}})), std::nullopt);
  EXPECT_EQ(producer_batch_size(TargetLimits{}), std::nullopt);
  const auto small = producer_batch_size(target_limits_from_configs({{"segment.bytes", "65536"}}));
  ASSERT_TRUE(small);
  EXPECT_EQ(*small, 65536 - 61 - 64);
  EXPECT_EQ(producer_batch_size(target_limits_from_configs({{"segment.bytes", "100"}})), 1);
  // message.max.bytes never below librdkafka's default, and above a larger limit.
  EXPECT_EQ(producer_message_max_bytes(TargetLimits{}), 1'000'000);
  EXPECT_EQ(producer_message_max_bytes(target_limits_from_configs({{"segment.bytes", "2048"}})), 1'000'000);
  EXPECT_EQ(producer_message_max_bytes(target_limits_from_configs({{"max.message.bytes", "1048588"}})), 1048588 + 4096);
}

}  // namespace
}  // namespace ferry::mirror
