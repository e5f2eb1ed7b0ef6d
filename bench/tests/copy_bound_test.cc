// The CPU bound on a copy's speed that mirror mode reports next to its ratios (copy_bound.h).
#include "bench/copy_bound.h"

#include <gtest/gtest.h>

namespace ferry::bench {
namespace {

TEST(CopyCpuBound, AddsTheCostOfOneMBConsumedAndOneMBProduced) {
  // Produce-only kept 2 cores busy at 750 MB/s (2.667 ms/MB), consume-only 1 core at 1500 MB/s
  // (0.667 ms/MB): a copy costs 3.333 ms/MB, so 2 cores copy at most 600 MB/s.
  const auto b = copy_cpu_bound(2, 2.0, 750, 1.0, 1500);
  ASSERT_TRUE(b);
  EXPECT_NEAR(b->produce_cpu_ms_per_mb, 2.6667, 1e-3);
  EXPECT_NEAR(b->consume_cpu_ms_per_mb, 0.6667, 1e-3);
  EXPECT_NEAR(b->mb_per_s, 600.0, 1e-6);
  // Never above the slower phase alone: a copy does both.
  EXPECT_LT(b->mb_per_s, 750);
}

TEST(CopyCpuBound, MoreCoresRaiseTheBoundInProportion) {
  const auto two = copy_cpu_bound(2, 1.0, 500, 1.0, 500);
  const auto eight = copy_cpu_bound(8, 1.0, 500, 1.0, 500);
  ASSERT_TRUE(two && eight);
  EXPECT_NEAR(two->mb_per_s, 500.0, 1e-9);
  EXPECT_NEAR(eight->mb_per_s, 2000.0, 1e-9);
}

TEST(CopyCpuBound, NoBoundFromAPhaseThatMovedNothingOrUsedNoCpu) {
  EXPECT_FALSE(copy_cpu_bound(2, 1.0, 0, 1.0, 500));
  EXPECT_FALSE(copy_cpu_bound(2, 1.0, 500, 0.0, 500));
  EXPECT_FALSE(copy_cpu_bound(0, 1.0, 500, 1.0, 500));
}

}  // namespace
}  // namespace ferry::bench
