// When the flow wakes its source consumer's broker threads (fetch_refill.h): once after each
// time librdkafka 2.0.2 stopped fetching on a full queue, as soon as half of it is drained.
#include "mirror/fetch_refill.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>

namespace ferry::mirror {
namespace {

// librdkafka 2.0.2's defaults: queued.min.messages 100000, queued.max.messages.kbytes 65536.
constexpr int64_t kMessages = 100000;
constexpr int64_t kBytes = 65536LL * 1024;

TEST(RefillTrigger, AQueueThatNeverFilledIsNeverWoken) {
  RefillTrigger t(kMessages, kBytes);
  // A mirror keeping up: the queue goes up and down, far from either limit, and runs dry.
  for (int64_t q : {0, 10, 30000, 2000, 0, 45000, 0}) EXPECT_FALSE(t.observe(q, 1024)) << q;
  EXPECT_EQ(t.wakes(), 0u);
}

TEST(RefillTrigger, WakesOnceWhenAFullQueueIsHalfDrained) {
  RefillTrigger t(kMessages, kBytes);
  // 1 KiB records: the byte limit (64 MiB = 65,536 records) is reached before the count limit.
  EXPECT_FALSE(t.observe(65536, 1024));  // full: librdkafka stops fetching
  EXPECT_FALSE(t.observe(50000, 1024));  // 48.8 MiB: not half drained yet
  EXPECT_FALSE(t.observe(32768, 1024));  // exactly half: not below it
  EXPECT_TRUE(t.observe(32767, 1024));   // below half of both limits: wake
  EXPECT_FALSE(t.observe(20000, 1024));  // once per fill
  EXPECT_FALSE(t.observe(0, 1024));
  EXPECT_EQ(t.wakes(), 1u);
  // Filled again (the wake worked), drained again: one more wake.
  EXPECT_FALSE(t.observe(60000, 1024));
  EXPECT_TRUE(t.observe(1000, 1024));
  EXPECT_EQ(t.wakes(), 2u);
}

TEST(RefillTrigger, ArmedFromAFillUntilItsWake) {
  // Callers look at every record while armed, so the wake is not left to the next empty poll.
  RefillTrigger t(kMessages, kBytes);
  EXPECT_FALSE(t.armed());
  t.observe(40000, 1024);
  EXPECT_FALSE(t.armed()) << "40 MiB is below 3/4 of the byte limit";
  t.observe(60000, 1024);
  EXPECT_TRUE(t.armed());
  t.observe(40000, 1024);
  EXPECT_TRUE(t.armed()) << "not half drained yet";
  EXPECT_TRUE(t.observe(100, 1024));
  EXPECT_FALSE(t.armed());
}

TEST(RefillTrigger, TheCountLimitCountsForSmallRecords) {
  RefillTrigger t(kMessages, kBytes);
  // 100-byte records: 100,000 of them are 10 MB, far below the byte limit.
  EXPECT_FALSE(t.observe(75000, 100));  // 3/4 of queued.min.messages: stopping
  EXPECT_FALSE(t.observe(50000, 100));
  EXPECT_TRUE(t.observe(49999, 100));
}

TEST(RefillTrigger, AQueueRunDryWakesWhenItHadFilled) {
  // An empty poll is observed as 0 messages: after a fill it wakes at once.
  RefillTrigger t(kMessages, kBytes);
  EXPECT_FALSE(t.observe(70000, 1024));
  EXPECT_TRUE(t.observe(0, 0));  // no average yet still counts as drained
}

TEST(RefillTrigger, SmallestLegalLimitsStillWake) {
  // queued.min.messages = 1 and queued.max.messages.kbytes = 1: librdkafka stops at one record.
  RefillTrigger t(1, 1024);
  EXPECT_FALSE(t.observe(1, 10));
  EXPECT_TRUE(t.observe(0, 10));
  EXPECT_FALSE(t.observe(0, 10));
  // Limits below 1 (a misread configuration) behave as 1 rather than dividing by zero.
  RefillTrigger z(0, 0);
  EXPECT_FALSE(z.observe(1, 10));
  EXPECT_TRUE(z.observe(0, 10));
}

TEST(RefillTrigger, NeverTwoWakesWithoutARefillInBetween) {
  // Seeded property: over random queue lengths, between two wakes the queue was seen at 3/4 of a
  // limit, and every wake happened below half of both.
  const uint32_t seed = std::random_device{}();
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  std::mt19937 rng(seed);
  for (int round = 0; round < 200; ++round) {
    const int64_t max_messages = 1 + static_cast<int64_t>(rng() % 200000);
    const int64_t max_bytes = 1024 * (1 + static_cast<int64_t>(rng() % 131072));
    const double avg = 1 + rng() % 100000;
    RefillTrigger t(max_messages, max_bytes);
    bool filled_since_wake = false;
    for (int i = 0; i < 500; ++i) {
      const int64_t q = static_cast<int64_t>(rng() % static_cast<uint64_t>(max_messages + 1));
      const double bytes = static_cast<double>(q) * avg;
      if (q * 4 >= max_messages * 3 || bytes * 4 >= static_cast<double>(max_bytes) * 3) filled_since_wake = true;
      if (t.observe(q, avg)) {
        ASSERT_TRUE(filled_since_wake) << "round " << round << " step " << i;
        ASSERT_LT(q * 2, max_messages);
        ASSERT_LT(bytes * 2, static_cast<double>(max_bytes));
        filled_since_wake = false;
      }
    }
  }
}

}  // namespace
}  // namespace ferry::mirror
