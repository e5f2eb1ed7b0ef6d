// The leader epoch cache against the ground truth it summarises: a simulated log whose every
// record knows its epoch. Seeded; a failure prints its seed (FERRY_PROPERTY_SEED replays one).
#include "common/testing/property_seed.h"
#include "broker/storage/leader_epoch_cache.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <random>

#include "common/testing/temp_dir.h"

namespace ferry::storage {
namespace {

using ferry::testing::TempDir;

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(LeaderEpochCheckpoint, IsKafkasTextFormatAndRefusesAnythingElseNamingTheLine) {
  const std::vector<EpochEntry> entries = {{0, 0}, {3, 120}, {4, 120}};
  EXPECT_EQ(leader_epoch_checkpoint_text(entries), "0\n3\n0 0\n3 120\n4 120\n");
  EXPECT_EQ(parse_leader_epoch_checkpoint("0\n3\n0 0\n3 120\n4 120\n", "f"), entries);
  EXPECT_TRUE(parse_leader_epoch_checkpoint("0\n0\n", "f").empty());
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"1\n0\n", "f:1: expected version 0"},
      {"0\nx\n", "f:2: expected an entry count"},
      {"0\n2\n0 0\n", "f:3: the count line says 2 entries, the file has 1"},
      {"0\n1\n0 0 7\n", "f:3: expected \"<epoch> <start offset>\""},
      {"0\n1\n-1 0\n", "f:3: expected"},
      {"0\n2\n3 10\n2 20\n", "f:4: entries must ascend"},
      {"0\n2\n3 10\n4 5\n", "f:4: entries must ascend"},
  };
  for (const auto& [text, want] : bad) {
    try {
      parse_leader_epoch_checkpoint(text, "f");
      ADD_FAILURE() << "accepted " << text;
    } catch (const std::runtime_error& e) {
      EXPECT_EQ(std::string(e.what()).rfind(want, 0), 0u) << e.what();
    }
  }
}

TEST(LeaderEpochCache, FollowsKafkasAssignTruncateAndLookupRules) {
  TempDir dir;
  LeaderEpochCache c(dir.path);
  EXPECT_FALSE(c.loaded_from_file());
  EXPECT_EQ(c.end_offset_for(0, 10), std::make_pair(-1, int64_t{-1}));  // empty history
  EXPECT_FALSE(std::filesystem::exists(dir.path / kLeaderEpochCheckpointFile));
  c.assign(1, 0);
  c.assign(1, 5);  // same epoch, later offset: no change
  c.assign(3, 10);
  c.assign(-1, 12);  // no epoch (pre-v2): ignored
  c.assign(5, 20);
  EXPECT_EQ(c.entries(), (std::vector<EpochEntry>{{1, 0}, {3, 10}, {5, 20}}));
  EXPECT_EQ(c.end_offset_for(5, 30), std::make_pair(5, int64_t{30}));   // latest: the log end offset
  EXPECT_EQ(c.end_offset_for(4, 30), std::make_pair(3, int64_t{20}));   // between: largest below
  EXPECT_EQ(c.end_offset_for(3, 30), std::make_pair(3, int64_t{20}));
  EXPECT_EQ(c.end_offset_for(0, 30), std::make_pair(0, int64_t{0}));    // below the first entry
  EXPECT_EQ(c.end_offset_for(6, 30), std::make_pair(-1, int64_t{-1}));  // above every entry
  EXPECT_EQ(c.end_offset_for(-1, 30), std::make_pair(-1, int64_t{-1}));
  // A lower epoch at a lower offset (a follower copying a new leader's log) drops what it covers.
  c.assign(2, 8);
  EXPECT_EQ(c.entries(), (std::vector<EpochEntry>{{1, 0}, {2, 8}}));
  c.assign(6, 15);
  c.truncate_from_end(15);
  EXPECT_EQ(c.entries(), (std::vector<EpochEntry>{{1, 0}, {2, 8}}));
  c.truncate_from_start(9);
  EXPECT_EQ(c.entries(), (std::vector<EpochEntry>{{2, 9}}));
  c.truncate_from_start(4);  // below every entry: nothing
  EXPECT_EQ(c.entries(), (std::vector<EpochEntry>{{2, 9}}));
  EXPECT_EQ(read_file(dir.path / kLeaderEpochCheckpointFile), "0\n1\n2 9\n");
  LeaderEpochCache reopened(dir.path);
  EXPECT_TRUE(reopened.loaded_from_file());
  EXPECT_EQ(reopened.entries(), c.entries());
}

TEST(LeaderEpochCache, ACorruptCheckpointIsRefusedWithItsName) {
  TempDir dir;
  std::ofstream(dir.path / kLeaderEpochCheckpointFile) << "0\n1\nnot a line\n";
  try {
    LeaderEpochCache c(dir.path);
    ADD_FAILURE() << "a corrupt checkpoint was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find((dir.path / kLeaderEpochCheckpointFile).string() + ":3:"), std::string::npos)
        << e.what();
  }
}

// Random histories of a partition: leaders appending in rising epochs, new leaders taking an
// epoch at the log end, tail truncations (a follower diverged), retention moving the log start,
// restarts that reload the file. After every step the cache must agree with the records.
TEST(LeaderEpochCache, AgreesWithTheRecordsOfRandomHistories) {
  for (uint64_t seed : ferry::testing::property_seeds(ferry::testing::first_seeds(200))) {
    SCOPED_TRACE(ferry::testing::seed_trace(seed));
    std::mt19937_64 rng(seed);
    auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
    TempDir dir;
    auto cache = std::make_unique<LeaderEpochCache>(dir.path);
    int64_t log_start = 0;
    std::map<int64_t, int32_t> records;  // offset -> epoch of the record, for [log_start, LEO)
    int64_t leo = 0;
    int32_t epoch = static_cast<int32_t>(pick(0, 3));
    // The epochs taken at the log end with no record yet (a leader that wrote nothing).
    std::map<int32_t, int64_t> empty_epochs;
    for (int step = 0; step < 60; ++step) {
      const int64_t op = pick(0, 9);
      if (op <= 4) {  // append a batch of the current epoch
        const int64_t n = pick(1, 5);
        cache->assign(epoch, leo);
        for (int64_t i = 0; i < n; ++i) records[leo++] = epoch;
      } else if (op == 5) {  // a new leader takes a higher epoch at the log end
        epoch += static_cast<int32_t>(pick(1, 3));
        cache->assign(epoch, leo);
        // An earlier epoch taken at this same offset never wrote a record: Kafka forgets it (its
        // end would be its own start), and so does the cache.
        std::erase_if(empty_epochs, [&](const auto& e) { return e.second >= leo; });
        empty_epochs[epoch] = leo;
      } else if (op == 6 && leo > log_start) {  // the tail diverged: truncate
        const int64_t to = pick(log_start, leo - 1);
        while (leo > to) records.erase(--leo);
        cache->truncate_from_end(to);
        std::erase_if(empty_epochs, [&](const auto& e) { return e.second >= to; });
        epoch = cache->latest_epoch().value_or(epoch);
      } else if (op == 7 && leo > log_start) {  // retention moves the log start
        const int64_t to = pick(log_start + 1, leo);
        while (log_start < to) records.erase(log_start++);
        cache->truncate_from_start(to);
        std::erase_if(empty_epochs, [&](const auto& e) { return e.second < to; });
      } else if (op == 8) {  // restart
        cache = std::make_unique<LeaderEpochCache>(dir.path);
      }
      // Entries ascend in epoch and offset and lie in [log_start, LEO].
      const auto entries = cache->entries();
      for (size_t i = 0; i < entries.size(); ++i) {
        ASSERT_GE(entries[i].start_offset, log_start) << "step " << step;
        ASSERT_LE(entries[i].start_offset, leo) << "step " << step;
        if (i > 0) {
          ASSERT_GT(entries[i].epoch, entries[i - 1].epoch) << "step " << step;
          ASSERT_GE(entries[i].start_offset, entries[i - 1].start_offset) << "step " << step;
        }
      }
      // Every epoch that has records: its entry starts at its first record still in the log (or
      // the log start), and its end offset is the first offset after its last record.
      std::map<int32_t, std::pair<int64_t, int64_t>> span;  // epoch -> [first, last]
      for (const auto& [offset, e] : records) {
        auto [it, fresh] = span.try_emplace(e, offset, offset);
        if (!fresh) it->second.second = offset;
      }
      const int32_t latest = cache->latest_epoch().value_or(-1);
      for (const auto& [e, range] : span) {
        auto it = std::find_if(entries.begin(), entries.end(), [&](const EpochEntry& x) { return x.epoch == e; });
        ASSERT_NE(it, entries.end()) << "epoch " << e << " has records but no entry, step " << step;
        ASSERT_EQ(it->start_offset, range.first) << "epoch " << e << ", step " << step;
        const auto [got_epoch, end] = cache->end_offset_for(e, leo);
        ASSERT_EQ(got_epoch, e) << "step " << step;
        ASSERT_EQ(end, e == latest ? leo : range.second + 1) << "epoch " << e << ", step " << step;
      }
      // An epoch taken with no record ends where the next one starts, or at the log end.
      for (const auto& [e, at] : empty_epochs) {
        if (span.count(e)) continue;
        const auto [got_epoch, end] = cache->end_offset_for(e, leo);
        ASSERT_EQ(got_epoch, e) << "empty epoch " << e << ", step " << step;
        ASSERT_EQ(end, e == latest ? leo : at) << "empty epoch " << e << ", step " << step;
      }
    }
  }
}

}  // namespace
}  // namespace ferry::storage
