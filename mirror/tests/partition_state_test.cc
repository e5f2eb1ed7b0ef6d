// The per-partition state of a flow (partition_state.h) without processes: what /status reports
// as next_offset and lag while records are produced, land, are skipped as loops or refused.
#include "mirror/partition_state.h"

#include <gtest/gtest.h>

namespace ferry::mirror {
namespace {

using std::chrono::seconds;

std::unique_ptr<PartitionState> make(int64_t start) {
  auto st = std::make_unique<PartitionState>("t", "east.t", 0, 1000);
  st->start_at(start);
  return st;
}

// One record handed over and acknowledged as a flow's delivery callback does it.
void land(PartitionState& st, int64_t upstream, int64_t downstream) {
  --st.in_flight;
  EXPECT_FALSE(st.landed(upstream, "west").has_value());
  (void)st.mapping.record(upstream, downstream);
  st.settle();
}

TEST(PartitionState, NextOffsetMovesOnlyWithAcknowledgements) {
  auto owned = make(10);
  PartitionState& st = *owned;
  st.observe_source_end(15, 1000, false);
  st.produced(10);
  st.produced(11);
  EXPECT_EQ(st.next_to_produce, 12);
  EXPECT_EQ(st.replicated_end.load(), 10);  // handed over is not replicated
  EXPECT_EQ(st.lag_records(), 5);
  land(st, 10, 100);
  EXPECT_EQ(st.replicated_end.load(), 11);
  land(st, 11, 101);
  EXPECT_EQ(st.replicated_end.load(), 12);
  EXPECT_EQ(st.in_flight, 0);
  EXPECT_EQ(st.lag_records(), 3);
  EXPECT_EQ(st.mapping.translate(11, 102), 101);
}

TEST(PartitionState, LoopsCountOnceEverythingBeforeThemLanded) {
  auto owned = make(0);
  PartitionState& st = *owned;
  // Nothing in flight: a skipped record counts at once.
  st.skipped_loop(0);
  EXPECT_EQ(st.replicated_end.load(), 1);
  // With a record in flight, the loop after it must wait for it: the target may still lose it.
  st.produced(1);
  st.skipped_loop(2);
  st.skipped_loop(3);
  EXPECT_EQ(st.replicated_end.load(), 1);
  EXPECT_EQ(st.next_to_produce, 4);
  land(st, 1, 50);
  EXPECT_EQ(st.replicated_end.load(), 4);
}

TEST(PartitionState, ARefusedRecordHoldsNextOffsetAndReportsAHoleOnce) {
  auto owned = make(0);
  PartitionState& st = *owned;
  const auto now = std::chrono::steady_clock::now();
  st.produced(0);
  st.produced(1);
  st.produced(2);
  st.refuse(1, 2'000'000, true, "east.t-0: west refuses source offset 1", now);
  EXPECT_EQ(st.replicated_end.load(), 0);
  EXPECT_EQ(st.recheck_at, now + kRefusedRecheck);
  // Offset 0, before the refused one, still lands.
  land(st, 0, 10);
  EXPECT_EQ(st.replicated_end.load(), 1);
  // Offset 2, after it, lands too: the target now lacks offset 1. Said once, next_offset stays.
  --st.in_flight;
  auto hole = st.landed(2, "west");
  ASSERT_TRUE(hole.has_value());
  EXPECT_EQ(*hole, "east.t-0: records after the refused source offset 1 reached west; east.t lacks it");
  EXPECT_FALSE(st.landed(2, "west").has_value());
  st.settle();
  EXPECT_EQ(st.replicated_end.load(), 1);
  const auto s = st.status(false);
  EXPECT_EQ(s.next_offset, 1);
  EXPECT_EQ(*s.error, "east.t-0: west refuses source offset 1; " + *hole);
  // A hole on the target is never resumed around, whatever the limits become.
  TargetLimits big;
  EXPECT_FALSE(st.may_resume(big, now + seconds(3600)));
}

TEST(PartitionState, ARefusedPartitionResumesFromTheRefusedRecordWhenItFits) {
  auto owned = make(5);
  PartitionState& st = *owned;
  TargetLimits small{1'000'000, INT64_MAX};
  st.limits = small;
  const auto now = std::chrono::steady_clock::now();
  st.refuse(7, 2'000'000, false, "too large", now);
  EXPECT_FALSE(st.may_resume(small, now + seconds(3600)));  // still does not fit
  TargetLimits grown{4'000'000, INT64_MAX};
  ASSERT_TRUE(st.may_resume(grown, now));
  EXPECT_EQ(st.resume_from_refusal(grown, nullptr), 7);
  EXPECT_EQ(st.next_to_produce, 7);
  EXPECT_EQ(st.replicated_end.load(), 7);
  EXPECT_TRUE(st.refused.empty());
  EXPECT_EQ(st.refused_at, -1);
  EXPECT_EQ(st.limits, grown);
  EXPECT_FALSE(st.status(false).error.has_value());
}

TEST(PartitionState, ATargetRefusalForAnotherReasonIsRetriedOnlyLater) {
  auto owned = make(0);
  PartitionState& st = *owned;
  const auto now = std::chrono::steady_clock::now();
  st.refuse(3, 100, true, "not authorized", now);  // fits: the target refused for another reason
  EXPECT_FALSE(st.may_resume(st.limits, now + seconds(1)));
  EXPECT_TRUE(st.may_resume(st.limits, now + kRefusedRetry));
  TargetLimits changed{INT64_MAX, 5'000'000};
  EXPECT_TRUE(st.may_resume(changed, now + seconds(1)));  // the topic changed: try at once
}

TEST(PartitionState, SourceEndViewRisesAndIsStamped) {
  auto owned = make(0);
  PartitionState& st = *owned;
  st.observe_source_end(20, 1000, true);
  EXPECT_EQ(st.source_end.load(), 20);
  EXPECT_EQ(st.source_end_ms.load(), 1000);
  // A consumer's older watermark never lowers a fresher ListOffsets answer...
  st.observe_source_end(18, 0, true);
  EXPECT_EQ(st.source_end.load(), 20);
  EXPECT_EQ(st.source_end_ms.load(), 1000);
  // ...but an answer read afresh is taken as is, and a later stamp replaces an older one only.
  st.observe_source_end(19, 2000, false);
  EXPECT_EQ(st.source_end.load(), 19);
  EXPECT_EQ(st.source_end_ms.load(), 2000);
  st.observe_source_end(25, 1500, true);
  EXPECT_EQ(st.source_end.load(), 25);
  EXPECT_EQ(st.source_end_ms.load(), 2000);
}

TEST(PartitionState, StatusIsTheContractEntry) {
  auto owned = make(3);
  PartitionState& st = *owned;
  EXPECT_FALSE(st.status(false).source_end_offset_ms.has_value());  // never read: null
  st.observe_source_end(2, 500, false);  // the source ends below what was copied
  st.produced(3);
  auto s = st.status(true);
  EXPECT_EQ(s.topic, "t");
  EXPECT_EQ(s.remote_topic, "east.t");
  EXPECT_EQ(s.next_offset, 3);
  EXPECT_EQ(s.source_end_offset, 2);
  EXPECT_EQ(s.lag_records, 0);  // never negative
  EXPECT_EQ(s.source_end_offset_ms, 500);
  EXPECT_EQ(s.in_flight, 1);
  EXPECT_FALSE(st.status(false).in_flight.has_value());
}

TEST(PartitionState, ARecreatedSourceStartsOverWithANewMapping) {
  auto owned = make(0);
  PartitionState& st = *owned;
  st.produced(0);
  land(st, 0, 40);
  ASSERT_TRUE(st.mapping.last_recorded().has_value());
  st.restart_after_recreate(0, 1000);
  EXPECT_FALSE(st.mapping.last_recorded().has_value());
  EXPECT_EQ(st.next_to_produce, 0);
  EXPECT_EQ(st.replicated_end.load(), 0);
}

}  // namespace
}  // namespace ferry::mirror
