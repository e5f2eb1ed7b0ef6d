// The sparse indexes must actually narrow the scan: lookups land on a batch boundary at or before
// the target, and no further back than about one index interval.
#include "broker/storage/segment.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "broker/storage/tests/batch_builder.h"

namespace ferry::storage {
namespace {

using namespace ferry::storage::testing;

struct Placed {
  int64_t position;
  BatchHeader header;
};

TEST(Segment, SparseIndexesSeekNearTheTarget) {
  TempDir dir;
  auto seg = Segment::create(dir.path(), 100, 0);
  const IndexPolicy policy{500, 1 << 20};
  std::vector<Placed> placed;
  int64_t next = 100, pos = 0;
  size_t largest = 0;
  for (int i = 0; i < 100; ++i) {
    BatchSpec s = simple_spec(2, 1'000 + 100 * i, 20 + (i * 17) % 80);
    s.base_offset = next;
    auto b = encode_batch(s);
    auto h = *parse_batch_header(b.data(), b.size());
    seg->append(b.data(), b.size(), {h}, policy);
    placed.push_back({pos, h});
    pos += static_cast<int64_t>(b.size());
    next = h.last_offset() + 1;
    largest = std::max(largest, b.size());
  }
  EXPECT_EQ(seg->size(), pos);
  EXPECT_EQ(seg->next_offset(), next);
  EXPECT_EQ(seg->max_timestamp(), placed.back().header.max_timestamp);
  const auto slack = static_cast<int64_t>(policy.interval_bytes + 2 * largest);
  auto is_boundary = [&](int64_t p) {
    return std::any_of(placed.begin(), placed.end(), [p](const Placed& x) { return x.position == p; });
  };
  int sought_past_start = 0;
  for (const auto& [position, h] : placed) {
    for (int64_t o : {h.base_offset, h.last_offset()}) {
      int64_t sp = seg->start_position(o);
      EXPECT_TRUE(is_boundary(sp)) << o;
      EXPECT_LE(sp, position) << o;
      EXPECT_LE(position - sp, slack) << o;
      sought_past_start += sp > 0;
    }
    int64_t tp = seg->start_position_for_time(h.base_timestamp);
    EXPECT_TRUE(is_boundary(tp)) << h.base_timestamp;
    EXPECT_LE(tp, position) << h.base_timestamp;
    EXPECT_LE(position - tp, slack) << h.base_timestamp;
  }
  EXPECT_GT(sought_past_start, 100);
  EXPECT_EQ(seg->start_position(99), 0);
  EXPECT_EQ(seg->start_position_for_time(0), 0);
}

TEST(Segment, CreateRefusesExistingFiles) {
  TempDir dir;
  auto seg = Segment::create(dir.path(), 0, 0);
  EXPECT_THROW(Segment::create(dir.path(), 0, 0), std::system_error);
  EXPECT_EQ(Segment::file_name(42, ".log"), "00000000000000000042.log");
}

}  // namespace
}  // namespace ferry::storage
