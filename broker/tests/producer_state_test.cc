#include <gtest/gtest.h>

#include <climits>
#include <filesystem>
#include <fstream>

#include "broker/core/producer_state.h"
#include "common/testing/temp_dir.h"

using namespace ferry::broker;
using ferry::protocol::ErrorCode;
using ferry::storage::BatchHeader;

namespace {

BatchHeader batch(int64_t pid, int16_t epoch, int32_t seq, int32_t records, int64_t base_offset = 0) {
  BatchHeader h{};
  h.base_offset = base_offset;
  h.producer_id = pid;
  h.producer_epoch = epoch;
  h.base_sequence = seq;
  h.last_offset_delta = records - 1;
  h.record_count = records;
  return h;
}

}  // namespace

TEST(ProducerState, SequencesMustFollowAndDuplicatesReturnOriginalOffsets) {
  ProducerStateManager s;
  EXPECT_EQ(s.check({batch(7, 0, 0, 3)}).error, ErrorCode::NONE);
  s.record({batch(7, 0, 0, 3, 100)}, 1);
  EXPECT_EQ(s.check({batch(7, 0, 3, 2)}).error, ErrorCode::NONE);
  EXPECT_EQ(s.check({batch(7, 0, 4, 2)}).error, ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER);
  auto dup = s.check({batch(7, 0, 0, 3)});
  ASSERT_TRUE(dup.duplicate_of);
  EXPECT_EQ(dup.duplicate_of->base_offset, 100);
  EXPECT_EQ(dup.duplicate_of->last_offset, 102);
}

TEST(ProducerState, OnlyTheLastFiveBatchesAreRemembered) {
  ProducerStateManager s;
  for (int i = 0; i < 6; ++i) s.record({batch(1, 0, i, 1, i)}, 1);
  EXPECT_FALSE(s.check({batch(1, 0, 0, 1)}).duplicate_of);  // evicted: out of order now
  EXPECT_EQ(s.check({batch(1, 0, 0, 1)}).error, ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER);
  EXPECT_TRUE(s.check({batch(1, 0, 1, 1)}).duplicate_of);
}

TEST(ProducerState, EpochsFenceAndRestartSequences) {
  ProducerStateManager s;
  s.record({batch(1, 3, 0, 1, 0)}, 1);
  EXPECT_EQ(s.check({batch(1, 2, 1, 1)}).error, ErrorCode::INVALID_PRODUCER_EPOCH);
  EXPECT_EQ(s.check({batch(1, 4, 1, 1)}).error, ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER);
  EXPECT_EQ(s.check({batch(1, 4, 0, 1)}).error, ErrorCode::NONE);
}

TEST(ProducerState, SequenceWrapsAtInt32Max) {
  ProducerStateManager s;
  s.record({batch(1, 0, INT32_MAX - 1, 2, 0)}, 1);  // sequences MAX-1, MAX
  EXPECT_EQ(s.check({batch(1, 0, 0, 1)}).error, ErrorCode::NONE);
  EXPECT_EQ(s.check({batch(1, 0, 1, 1)}).error, ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER);
}

TEST(ProducerState, BatchesOfOneRequestAreCheckedAsAChain) {
  ProducerStateManager s;
  EXPECT_EQ(s.check({batch(1, 0, 0, 2), batch(1, 0, 2, 2)}).error, ErrorCode::NONE);
  EXPECT_EQ(s.check({batch(1, 0, 0, 2), batch(1, 0, 3, 2)}).error, ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER);
  EXPECT_EQ(s.check({batch(-1, -1, -1, 5), batch(1, 0, 0, 1)}).error, ErrorCode::NONE);
}

TEST(ProducerState, ExpiryForgetsIdleProducers) {
  ProducerStateManager s;
  s.record({batch(1, 0, 0, 1, 0)}, 1000);
  s.record({batch(2, 0, 0, 1, 1)}, 5000);
  EXPECT_EQ(s.expire(6000, 2000), 1u);
  EXPECT_EQ(s.producers().count(1), 0u);
  EXPECT_EQ(s.producers().count(2), 1u);
}

TEST(ProducerState, SnapshotRoundTripsAndCorruptionIsRejected) {
  ferry::testing::TempDir tmp("ferry-producer-state");
  const std::filesystem::path& dir = tmp.path;
  auto file = dir / "producer-state.snapshot";
  ProducerStateManager a;
  a.record({batch(9, 2, 10, 4, 40), batch(11, 0, 0, 1, 44)}, 123);
  a.write_snapshot(file, 45);
  ProducerStateManager b;
  EXPECT_EQ(b.load_snapshot(file), 45);
  EXPECT_EQ(b.producers(), a.producers());

  std::ofstream(file) << "ferry-producer-state 1\noffset 45\nproducers 2\n9 2 123 1 10 13 40\n";  // truncated
  ProducerStateManager c;
  EXPECT_FALSE(c.load_snapshot(file));
  EXPECT_TRUE(c.producers().empty());
  EXPECT_FALSE(c.load_snapshot(dir / "missing"));
}
