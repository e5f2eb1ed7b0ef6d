// Log::truncate_to / truncate_fully_and_start_at: a follower dropping a divergent tail (KIP-101,
// KIP-279; Kafka's UnifiedLog.truncateTo / truncateFullyAndStartAt). Real files in a temp dir;
// log_truncate_property_test.cc checks random histories against a model of the batches.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <random>
#include <set>
#include <stdexcept>
#include <thread>

#include "common/testing/property_seed.h"
#include "broker/storage/log.h"
#include "broker/storage/tests/batch_builder.h"

namespace ferry::storage {
namespace {

using namespace ferry::storage::testing;
namespace fs = std::filesystem;

int64_t bytes_of(const std::vector<Stored>& s, size_t from, size_t to) {
  int64_t n = 0;
  for (size_t i = from; i < to; ++i) n += static_cast<int64_t>(s[i].bytes.size());
  return n;
}

// A batch as a leader would replicate it: offsets and leader epoch already in place.
Stored replicate(Log& log, int64_t base, int records, int32_t epoch, int64_t ts = 5'000) {
  BatchSpec spec = simple_spec(records, ts, 20);
  spec.base_offset = base;
  spec.partition_leader_epoch = epoch;
  auto blob = encode_batch(spec);
  auto [e, res] = log.append_with_offsets(blob, headers_of(blob));
  EXPECT_EQ(e, errc::ok) << to_string(e);
  EXPECT_EQ(res.base_offset, base);
  return Stored{base, base + records - 1, blob};
}

std::string checkpoint_of(const fs::path& dir) {
  std::ifstream in(dir / kLeaderEpochCheckpointFile);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(LogTruncate, CutsTheActiveSegmentAtABatchBoundaryOrAtTheStartOfTheBatchHoldingTheOffset) {
  TempDir dir;
  LogConfig cfg;
  cfg.index_interval_bytes = 100;  // several index entries in the one segment
  auto log = Log::open(dir.path(), cfg, 0, 0, nullptr);
  std::vector<Stored> s;
  for (int i = 0; i < 8; ++i) s.push_back(append_ok(*log, simple_batch(3, 1'000 + 100 * i, 30)));  // batch i: 3i..3i+2
  ASSERT_EQ(log->log_end_offset(), 24);

  auto [e, changed] = log->truncate_to(15);  // batch 5 starts at 15
  EXPECT_EQ(e, errc::ok);
  EXPECT_TRUE(changed);
  EXPECT_EQ(log->log_end_offset(), 15);
  EXPECT_EQ(read_all(*log, 0), concat(s, 0, 5));
  EXPECT_EQ(log->size_bytes(), bytes_of(s, 0, 5));
  EXPECT_EQ(static_cast<int64_t>(fs::file_size(dir.path() / "00000000000000000000.log")), bytes_of(s, 0, 5));

  std::tie(e, changed) = log->truncate_to(10);  // inside batch 3 (9..11): it goes whole
  EXPECT_EQ(e, errc::ok);
  EXPECT_TRUE(changed);
  EXPECT_EQ(log->log_end_offset(), 9);
  EXPECT_LE(log->recovery_point(), 9);
  EXPECT_EQ(read_all(*log, 0), concat(s, 0, 3));
  for (int64_t o = 0; o < 9; ++o) EXPECT_EQ(read_all(*log, o), concat(s, batch_containing(s, o), 3)) << o;
  EXPECT_EQ(log->read(10, 1 << 20, INT64_MAX, true).first, errc::offset_out_of_range);
  // The time index and max timestamp forgot the dropped batches (batch i: timestamps 1000+100i ..+20).
  EXPECT_EQ(log->offset_for_timestamp(1'210), std::make_optional(std::pair<int64_t, int64_t>{7, 1'210}));
  EXPECT_FALSE(log->offset_for_timestamp(1'221).has_value());
  EXPECT_EQ(log->max_timestamp(), std::make_optional(std::pair<int64_t, int64_t>{1'220, 8}));

  // A follower continues at the new log end, and so does a leader.
  Stored r = replicate(*log, 9, 4, 0, 1'500);  // 9..12
  Stored a = append_ok(*log, simple_batch(2, 2'000, 30));
  EXPECT_EQ(a.base, 13);
  EXPECT_EQ(log->log_end_offset(), 15);
  auto expect = concat(s, 0, 3);
  expect.insert(expect.end(), r.bytes.begin(), r.bytes.end());
  expect.insert(expect.end(), a.bytes.begin(), a.bytes.end());
  EXPECT_EQ(read_all(*log, 0), expect);
  EXPECT_EQ(log->offset_for_timestamp(1'300), std::make_optional(std::pair<int64_t, int64_t>{9, 1'500}));
  EXPECT_EQ(log->offset_for_timestamp(1'600), std::make_optional(std::pair<int64_t, int64_t>{13, 2'000}));
}

TEST(LogTruncate, DeletesTheSegmentsAboveTheCutAndCutsTheOneBelow) {
  TempDir dir;
  LogConfig cfg;
  cfg.segment_bytes = 2048;
  cfg.index_interval_bytes = 256;
  auto log = Log::open(dir.path(), cfg, 0, 0, nullptr);
  std::vector<Stored> s;
  for (int i = 0; i < 120; ++i) s.push_back(append_ok(*log, simple_batch(i % 5 + 1, 1'000 + 100 * i, 20 + (i * 37) % 100)));
  const std::vector<int64_t> bases = [&] {
    auto b = segment_bases(dir.path());
    return std::vector<int64_t>(b.begin(), b.end());
  }();
  ASSERT_GT(bases.size(), 10u);

  // Inside a batch in the middle of segment k.
  const size_t k = bases.size() / 2;
  size_t j = batch_containing(s, bases[k]) + 2;
  while (s[j].last == s[j].base) ++j;
  ASSERT_LT(s[j].last, bases[k + 1]);
  ASSERT_EQ(log->truncate_to(s[j].base + 1), std::make_pair(errc::ok, true));
  EXPECT_EQ(log->log_end_offset(), s[j].base);
  EXPECT_EQ(segment_bases(dir.path()), std::set<int64_t>(bases.begin(), bases.begin() + static_cast<std::ptrdiff_t>(k + 1)));
  EXPECT_EQ(files_with_ext(dir.path(), ".index").size(), k + 1);
  EXPECT_EQ(files_with_ext(dir.path(), ".timeindex").size(), k + 1);
  EXPECT_EQ(log->size_bytes(), bytes_of(s, 0, j));
  for (int64_t o = 0; o < s[j].base; o += 3) EXPECT_EQ(read_all(*log, o), concat(s, batch_containing(s, o), j)) << o;

  // Exactly at a segment boundary: segment k-2 and above go, segment k-3 is active again.
  ASSERT_EQ(log->truncate_to(bases[k - 2]), std::make_pair(errc::ok, true));
  EXPECT_EQ(log->log_end_offset(), bases[k - 2]);
  EXPECT_EQ(segment_bases(dir.path()), std::set<int64_t>(bases.begin(), bases.begin() + static_cast<std::ptrdiff_t>(k - 2)));
  const size_t kept = batch_containing(s, bases[k - 2]);
  EXPECT_EQ(read_all(*log, 0), concat(s, 0, kept));
  s.resize(kept);
  for (int i = 0; i < 20; ++i) s.push_back(append_ok(*log, simple_batch(2, 50'000 + 10 * i, 30)));
  EXPECT_EQ(s[kept].base, bases[k - 2]);
  EXPECT_EQ(read_all(*log, 0), concat(s, 0, s.size()));
  const int64_t leo = log->log_end_offset();
  log->close();

  RecoveryReport report;
  auto reopened = Log::open(dir.path(), cfg, 0, leo, &report);
  EXPECT_TRUE(report.actions.empty()) << report.actions.front();
  EXPECT_EQ(reopened->log_end_offset(), leo);
  EXPECT_EQ(read_all(*reopened, 0), concat(s, 0, s.size()));
}

TEST(LogTruncate, ASealedSegmentThatBecomesActiveAgainTakesAppends) {
  TempDir dir;
  LogConfig cfg;
  cfg.segment_ms = 10;
  auto log = Log::open(dir.path(), cfg, 0, 0, nullptr);
  std::vector<Stored> s;
  s.push_back(append_ok(*log, simple_batch(3), 0));  // 0..2, segment 0
  s.push_back(append_ok(*log, simple_batch(3), 0));  // 3..5
  log->roll_if_due(100);                             // seals segment 0, flushes (its descriptor closes)
  s.push_back(append_ok(*log, simple_batch(3), 100));  // 6..8, segment 6
  ASSERT_EQ(segment_bases(dir.path()), (std::set<int64_t>{0, 6}));

  ASSERT_EQ(log->truncate_to(6), std::make_pair(errc::ok, true));
  EXPECT_EQ(segment_bases(dir.path()), (std::set<int64_t>{0}));
  s.pop_back();
  s.push_back(append_ok(*log, simple_batch(2), 5));  // 6..7, into segment 0 again (segment.ms not over)
  EXPECT_EQ(segment_bases(dir.path()), (std::set<int64_t>{0}));
  EXPECT_EQ(read_all(*log, 0), concat(s, 0, s.size()));
  EXPECT_EQ(static_cast<int64_t>(fs::file_size(dir.path() / "00000000000000000000.log")), bytes_of(s, 0, s.size()));
  log->close();
  auto reopened = Log::open(dir.path(), cfg, 0, 8, nullptr);
  EXPECT_EQ(reopened->log_end_offset(), 8);
  EXPECT_EQ(read_all(*reopened, 0), concat(s, 0, s.size()));
}

TEST(LogTruncate, AtOrPastTheLogEndNothingChangesBelowTheStartTheLogRestarts) {
  TempDir dir;
  auto log = Log::open(dir.path(), LogConfig{}, 0, 0, nullptr);
  std::vector<Stored> s;
  for (int i = 0; i < 4; ++i) s.push_back(append_ok(*log, simple_batch(5), 0, 1));  // 0..19, epoch 1
  EXPECT_EQ(log->truncate_to(20), std::make_pair(errc::ok, false));
  EXPECT_EQ(log->truncate_to(100), std::make_pair(errc::ok, false));
  EXPECT_EQ(log->truncate_to(-1).first, errc::offset_out_of_range);
  EXPECT_EQ(log->truncate_fully_and_start_at(-1), errc::offset_out_of_range);
  EXPECT_EQ(log->log_end_offset(), 20);
  EXPECT_EQ(read_all(*log, 0), concat(s, 0, 4));

  ASSERT_EQ(log->delete_records_before(12).first, errc::ok);
  ASSERT_EQ(log->truncate_to(7), std::make_pair(errc::ok, true));  // below the log start
  EXPECT_EQ(log->log_start_offset(), 7);
  EXPECT_EQ(log->log_end_offset(), 7);
  EXPECT_EQ(log->recovery_point(), 7);
  EXPECT_EQ(log->cleaner_checkpoint(), 7);
  EXPECT_EQ(segment_bases(dir.path()), (std::set<int64_t>{7}));
  EXPECT_TRUE(log->epoch_entries().empty());
  EXPECT_EQ(checkpoint_of(dir.path()), "0\n0\n");
  EXPECT_TRUE(read_all(*log, 7).empty());
  EXPECT_EQ(log->read(6, 1 << 20, INT64_MAX, true).first, errc::offset_out_of_range);
  Stored a = append_ok(*log, simple_batch(2), 0, 2);
  EXPECT_EQ(a.base, 7);
  EXPECT_EQ(log->epoch_entries(), (std::vector<EpochEntry>{{2, 7}}));

  // The log start inside the batch that holds the cut: nothing readable would survive.
  replicate(*log, 9, 5, 2);  // 9..13
  ASSERT_EQ(log->delete_records_before(11).first, errc::ok);
  ASSERT_EQ(log->truncate_to(12), std::make_pair(errc::ok, true));
  EXPECT_EQ(log->log_start_offset(), 12);
  EXPECT_EQ(log->log_end_offset(), 12);
  EXPECT_EQ(segment_bases(dir.path()), (std::set<int64_t>{12}));

  // Cutting at the base of the first segment empties it too.
  replicate(*log, 12, 3, 2);
  ASSERT_EQ(log->truncate_to(12), std::make_pair(errc::ok, true));
  EXPECT_EQ(log->log_end_offset(), 12);
  EXPECT_EQ(log->size_bytes(), 0);

  // Beyond the old log end, and back to 0.
  replicate(*log, 12, 3, 2);
  ASSERT_EQ(log->truncate_fully_and_start_at(1'000), errc::ok);
  EXPECT_EQ(log->log_start_offset(), 1'000);
  EXPECT_EQ(log->log_end_offset(), 1'000);
  EXPECT_EQ(log->recovery_point(), 1'000);
  EXPECT_EQ(segment_bases(dir.path()), (std::set<int64_t>{1'000}));
  EXPECT_EQ(append_ok(*log, simple_batch(1), 0, 3).base, 1'000);
  ASSERT_EQ(log->truncate_fully_and_start_at(0), errc::ok);
  EXPECT_EQ(log->log_start_offset(), 0);
  EXPECT_EQ(log->log_end_offset(), 0);
  EXPECT_EQ(segment_bases(dir.path()), (std::set<int64_t>{0}));
  EXPECT_TRUE(log->epoch_entries().empty());
  Stored b = append_ok(*log, simple_batch(4), 0, 3);
  EXPECT_EQ(b.base, 0);
  log->close();
  EXPECT_EQ(log->truncate_to(0).first, errc::storage_error);
  EXPECT_EQ(log->truncate_fully_and_start_at(0), errc::storage_error);

  auto reopened = Log::open(dir.path(), LogConfig{}, 0, 4, nullptr);
  EXPECT_EQ(reopened->log_end_offset(), 4);
  EXPECT_EQ(read_all(*reopened, 0), b.bytes);
  EXPECT_EQ(reopened->epoch_entries(), (std::vector<EpochEntry>{{3, 0}}));
}

TEST(LogTruncate, EpochHistoryIsCutAtTheNewLogEnd) {
  TempDir dir;
  auto log = Log::open(dir.path(), LogConfig{}, 0, 0, nullptr);
  for (int i = 0; i < 2; ++i) append_ok(*log, simple_batch(3), 0, 0);  // 0..5
  for (int i = 0; i < 3; ++i) append_ok(*log, simple_batch(3), 0, 1);  // 6..14
  for (int i = 0; i < 2; ++i) append_ok(*log, simple_batch(3), 0, 2);  // 15..20
  ASSERT_EQ(log->epoch_entries(), (std::vector<EpochEntry>{{0, 0}, {1, 6}, {2, 15}}));

  ASSERT_EQ(log->truncate_to(10), std::make_pair(errc::ok, true));  // inside 9..11
  EXPECT_EQ(log->log_end_offset(), 9);
  EXPECT_EQ(log->epoch_entries(), (std::vector<EpochEntry>{{0, 0}, {1, 6}}));
  EXPECT_EQ(checkpoint_of(dir.path()), "0\n2\n0 0\n1 6\n");
  EXPECT_EQ(log->end_offset_for_epoch(0), std::make_pair(0, int64_t{6}));
  EXPECT_EQ(log->end_offset_for_epoch(1), std::make_pair(1, int64_t{9}));
  EXPECT_EQ(log->end_offset_for_epoch(2), std::make_pair(-1, int64_t{-1}));

  ASSERT_EQ(log->truncate_to(7), std::make_pair(errc::ok, true));  // inside 6..8, epoch 1's first batch
  EXPECT_EQ(log->log_end_offset(), 6);
  EXPECT_EQ(log->epoch_entries(), (std::vector<EpochEntry>{{0, 0}}));
  EXPECT_EQ(log->end_offset_for_epoch(0), std::make_pair(0, int64_t{6}));
  EXPECT_EQ(log->end_offset_for_epoch(1), std::make_pair(-1, int64_t{-1}));

  append_ok(*log, simple_batch(3), 0, 3);  // 6..8 in epoch 3
  EXPECT_EQ(log->epoch_entries(), (std::vector<EpochEntry>{{0, 0}, {3, 6}}));
  log->close();
  auto reopened = Log::open(dir.path(), LogConfig{}, 0, 9, nullptr);
  EXPECT_EQ(reopened->epoch_entries(), (std::vector<EpochEntry>{{0, 0}, {3, 6}}));
  EXPECT_EQ(reopened->end_offset_for_epoch(2), std::make_pair(0, int64_t{6}));
}

TEST(LogTruncate, ATruncatedLogReopensTheSameAfterACleanCloseOrACrash) {
  TempDir dir;
  LogConfig cfg;
  cfg.segment_bytes = 1500;
  cfg.index_interval_bytes = 200;
  auto log = Log::open(dir.path() / "p", cfg, 0, 0, nullptr);
  std::vector<Stored> s;
  for (int i = 0; i < 60; ++i) s.push_back(append_ok(*log, simple_batch(i % 4 + 1, 1'000 + 10 * i, 40), 0, i < 30 ? 0 : 1));
  const int64_t old_leo = log->log_end_offset();
  const int64_t cut = s[45].base + 1;  // inside batch 45 (it has 2 records), in epoch 1
  ASSERT_EQ(s[45].last, s[45].base + 1);
  ASSERT_EQ(log->truncate_to(cut), std::make_pair(errc::ok, true));
  const int64_t leo = log->log_end_offset();
  ASSERT_EQ(leo, s[45].base);
  const auto records = concat(s, 0, 45);
  const std::vector<EpochEntry> epochs{{0, 0}, {1, s[30].base}};
  ASSERT_EQ(log->epoch_entries(), epochs);
  const int64_t rp = log->recovery_point();
  EXPECT_LE(rp, leo);

  // A crash right after the call returned: the files as they are now.
  fs::copy(dir.path() / "p", dir.path() / "crash", fs::copy_options::recursive);
  for (int64_t recovery_point : {rp, old_leo}) {  // the broker's checkpoint may predate the truncation
    SCOPED_TRACE(recovery_point);
    fs::remove_all(dir.path() / "c");
    fs::copy(dir.path() / "crash", dir.path() / "c", fs::copy_options::recursive);
    RecoveryReport report;
    auto c = Log::open(dir.path() / "c", cfg, 0, recovery_point, &report);
    EXPECT_EQ(report.truncated_bytes, 0);
    if (recovery_point == rp) {
      EXPECT_TRUE(report.actions.empty()) << report.actions.front();
    }
    EXPECT_EQ(c->log_end_offset(), leo);
    EXPECT_EQ(read_all(*c, 0), records);
    EXPECT_EQ(c->epoch_entries(), epochs);
  }
  // The process dies without close().
  log.reset();
  {
    auto c = Log::open(dir.path() / "p", cfg, 0, rp, nullptr);
    EXPECT_EQ(c->log_end_offset(), leo);
    EXPECT_EQ(read_all(*c, 0), records);
    EXPECT_EQ(c->epoch_entries(), epochs);
    c->close();
  }
  // And after a clean close.
  auto c = Log::open(dir.path() / "p", cfg, 0, leo, nullptr);
  EXPECT_EQ(c->log_end_offset(), leo);
  EXPECT_EQ(read_all(*c, 0), records);
  EXPECT_EQ(c->epoch_entries(), epochs);
}

TEST(LogTruncate, AnIoFailureTakesTheLogOfflineAndWhatWasCutStaysCut) {
  TempDir dir;
  auto log = Log::open(dir.path(), LogConfig{}, 0, 0, nullptr);
  std::vector<Stored> s;
  s.push_back(append_ok(*log, simple_batch(3), 0, 0));  // 0..2
  s.push_back(append_ok(*log, simple_batch(3), 0, 1));  // 3..5
  // The epoch checkpoint cannot be replaced: a non-empty directory stands in its place.
  fs::remove(dir.path() / kLeaderEpochCheckpointFile);
  fs::create_directories(dir.path() / kLeaderEpochCheckpointFile / "x");
  EXPECT_EQ(log->truncate_to(3), std::make_pair(errc::storage_error, false));
  EXPECT_EQ(log->log_end_offset(), 3);  // the records went before the history failed
  auto small = simple_batch(1);
  EXPECT_EQ(log->append(small, headers_of(small), 0, 0).first, errc::storage_error);
  EXPECT_EQ(log->truncate_to(0).first, errc::storage_error);
  EXPECT_EQ(log->truncate_fully_and_start_at(0), errc::storage_error);
  EXPECT_EQ(read_all(*log, 0), s[0].bytes);  // reads go on
  log->close();

  fs::remove_all(dir.path() / kLeaderEpochCheckpointFile);
  auto reopened = Log::open(dir.path(), LogConfig{}, 0, 3, nullptr);
  EXPECT_EQ(reopened->log_end_offset(), 3);
  EXPECT_EQ(read_all(*reopened, 0), s[0].bytes);
  EXPECT_EQ(reopened->epoch_entries(), (std::vector<EpochEntry>{{0, 0}}));
}

TEST(LogTruncate, ReadersRunningAlongsideTruncationsNeverSeeBrokenData) {
  TempDir dir;
  LogConfig cfg;
  cfg.segment_bytes = 1024;
  cfg.index_interval_bytes = 128;
  auto log = Log::open(dir.path(), cfg, 0, 0, nullptr);
  for (int i = 0; i < 100; ++i) append_ok(*log, simple_batch(i % 3 + 1, 1'000, 30));
  std::atomic<bool> stop{false};
  std::atomic<int> reads{0}, bad{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&, t] {
      std::mt19937_64 rng(t);
      while (!stop) {
        // Near the end, where the truncations cut.
        const int64_t leo = log->log_end_offset();
        const int64_t o = std::max<int64_t>(0, leo - 1 - static_cast<int64_t>(rng() % 40));
        auto [e, data] = log->read(o, 1 << 20, INT64_MAX, true);
        ++reads;
        if (e == errc::ok) {
          // Whole batches, offsets increasing, the first one reaching o.
          size_t pos = 0;
          int64_t prev = -1;
          while (pos < data.records.size()) {
            auto h = parse_batch_header(data.records.data() + pos, data.records.size() - pos);
            if (!h || h->size_in_bytes() > data.records.size() - pos || h->base_offset <= prev ||
                (prev < 0 && h->last_offset() < o) ||
                compute_batch_crc(data.records.data() + pos, h->size_in_bytes()) != h->crc) {
              ++bad;
              break;
            }
            prev = h->last_offset();
            pos += h->size_in_bytes();
          }
        } else if (e != errc::offset_out_of_range) {
          ++bad;  // a short read of a range cut under the reader is read again, not an error
        }
      }
    });
  }
  std::mt19937_64 rng(42);
  for (int round = 0; round < 150; ++round) {
    const int64_t leo = log->log_end_offset();
    EXPECT_EQ(log->truncate_to(std::max<int64_t>(0, leo - 1 - static_cast<int64_t>(rng() % 20))).first, errc::ok);
    for (int i = 0; i < 8; ++i) append_ok(*log, simple_batch(2, 1'000, 30));
  }
  stop = true;
  for (auto& r : readers) r.join();
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(bad.load(), 0);
  // The log itself stayed healthy.
  append_ok(*log, simple_batch(1));
}

}  // namespace
}  // namespace ferry::storage
