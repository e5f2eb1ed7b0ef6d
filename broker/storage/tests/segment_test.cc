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

TEST(Segment, SealedAndSyncedLetsItsDescriptorGoAndReadsReopenByName) {
  TempDir dir;
  const IndexPolicy policy{500, 1 << 20};
  auto seg = Segment::create(dir.path(), 0, 0);
  BatchSpec spec = simple_spec(3, 1'000, 50);
  auto b = encode_batch(spec);
  seg->append(b.data(), b.size(), {*parse_batch_header(b.data(), b.size())}, policy);

  seg->seal();
  EXPECT_TRUE(seg->keeps_descriptor()) << "unsynced writes keep the writing descriptor";
  seg->sync(/*with_indexes=*/false);
  EXPECT_TRUE(seg->keeps_descriptor()) << "the indexes are not synced yet";
  seg->sync();
  EXPECT_FALSE(seg->keeps_descriptor());
  EXPECT_EQ(descriptors_in(dir.path()), 0);

  // Readers share one reopened descriptor while any holds it.
  {
    auto held = seg->file();
    BatchReader rd = seg->reader(0);
    EXPECT_EQ(held, seg->file());
    EXPECT_EQ(descriptors_in(dir.path()), 1);
    ASSERT_EQ(rd.next(true), BatchReader::Status::batch);
    EXPECT_EQ(std::vector<uint8_t>(rd.bytes(), rd.bytes() + rd.header().size_in_bytes()), b);
  }
  EXPECT_EQ(descriptors_in(dir.path()), 0);

  // Deleted: a reader that holds the descriptor still reads; nobody reopens the name.
  BatchReader before = seg->reader(0);
  seg->remove_files();
  ASSERT_EQ(before.next(true), BatchReader::Status::batch);
  EXPECT_EQ(before.header().base_offset, 0);
  BatchReader same = seg->reader(0);  // shares the descriptor `before` holds
  EXPECT_EQ(same.next(false), BatchReader::Status::batch);
  before = BatchReader(nullptr, 0, 0);
  same = BatchReader(nullptr, 0, 0);
  EXPECT_THROW(seg->file(), std::system_error);
}

TEST(Segment, ALoadedSegmentBelowTheActiveOneHoldsNoDescriptorWhenClean) {
  TempDir dir;
  const IndexPolicy policy{500, 1 << 20};
  {
    auto seg = Segment::create(dir.path(), 0, 0);
    auto b = encode_batch(simple_spec(2, 1'000, 10));
    seg->append(b.data(), b.size(), {*parse_batch_header(b.data(), b.size())}, policy);
    seg->seal();
    seg->sync();
  }
  auto seg = Segment::open(dir.path(), 0);
  auto r = seg->load(false, policy);
  ASSERT_TRUE(r.corruption.empty() && r.index_rebuilt.empty()) << r.corruption << r.index_rebuilt;
  EXPECT_TRUE(seg->keeps_descriptor());
  seg->mark_inactive();
  EXPECT_FALSE(seg->keeps_descriptor());
  EXPECT_EQ(seg->header_at(0)->last_offset(), 1);
}

}  // namespace
}  // namespace ferry::storage
