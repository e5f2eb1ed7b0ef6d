// A log's leader epoch history through appends, crashes, retention, DeleteRecords and a first
// open of a log written before the history existed.
#include <gtest/gtest.h>

#include <fstream>

#include "broker/storage/log.h"
#include "broker/storage/tests/batch_builder.h"

namespace ferry::storage {
namespace {

using namespace ferry::storage::testing;

std::string checkpoint_of(const std::filesystem::path& dir) {
  std::ifstream in(dir / kLeaderEpochCheckpointFile);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(LogEpochs, AppendsRecordEachEpochsFirstOffsetAndLookupsFollowThem) {
  TempDir dir;
  auto log = Log::open(dir.path(), LogConfig{}, 0, 0, nullptr);
  EXPECT_TRUE(log->epoch_entries().empty());
  EXPECT_EQ(log->end_offset_for_epoch(0), std::make_pair(-1, int64_t{-1}));
  append_ok(*log, simple_batch(3), 0, 0);  // offsets 0..2, epoch 0
  append_ok(*log, simple_batch(2), 0, 0);  // 3..4
  append_ok(*log, simple_batch(4), 0, 2);  // 5..8, epoch 2
  EXPECT_EQ(log->epoch_entries(), (std::vector<EpochEntry>{{0, 0}, {2, 5}}));
  EXPECT_EQ(checkpoint_of(dir.path()), "0\n2\n0 0\n2 5\n");
  EXPECT_EQ(log->end_offset_for_epoch(0), std::make_pair(0, int64_t{5}));
  EXPECT_EQ(log->end_offset_for_epoch(1), std::make_pair(0, int64_t{5}));
  EXPECT_EQ(log->end_offset_for_epoch(2), std::make_pair(2, int64_t{9}));
  EXPECT_EQ(log->end_offset_for_epoch(3), std::make_pair(-1, int64_t{-1}));
  log->close();
  auto reopened = Log::open(dir.path(), LogConfig{}, 0, 9, nullptr);
  EXPECT_EQ(reopened->epoch_entries(), (std::vector<EpochEntry>{{0, 0}, {2, 5}}));
}

TEST(LogEpochs, ACrashThatLosesTheTailCutsTheHistoryBackToTheRecoveredLogEnd) {
  TempDir dir;
  {
    auto log = Log::open(dir.path(), LogConfig{}, 0, 0, nullptr);
    append_ok(*log, simple_batch(5), 0, 1);  // 0..4, epoch 1
    log->flush();
    append_ok(*log, simple_batch(5), 0, 3);  // 5..9, epoch 3: never flushed
    // The process dies; the unflushed batch did not reach the disk.
  }
  std::filesystem::resize_file(dir.path() / "00000000000000000000.log",
                               std::filesystem::file_size(dir.path() / "00000000000000000000.log") / 2 + 40);
  RecoveryReport report;
  auto log = Log::open(dir.path(), LogConfig{}, 0, 0, &report);
  EXPECT_EQ(log->log_end_offset(), 5);
  EXPECT_EQ(log->epoch_entries(), (std::vector<EpochEntry>{{1, 0}}));
  EXPECT_EQ(log->end_offset_for_epoch(3), std::make_pair(-1, int64_t{-1}));
  EXPECT_EQ(log->end_offset_for_epoch(1), std::make_pair(1, int64_t{5}));
  EXPECT_EQ(checkpoint_of(dir.path()), "0\n1\n1 0\n");
}

TEST(LogEpochs, RetentionAndDeleteRecordsMoveTheHistorysStart) {
  TempDir dir;
  LogConfig cfg;
  cfg.segment_bytes = 300;  // a segment or two per batch
  cfg.retention_bytes = 0;
  auto log = Log::open(dir.path(), cfg, 0, 0, nullptr);
  for (int i = 0; i < 4; ++i) append_ok(*log, simple_batch(2, 1'000, 100), 0, 0);  // 0..7, epoch 0
  for (int i = 0; i < 4; ++i) append_ok(*log, simple_batch(2, 1'000, 100), 0, 4);  // 8..15, epoch 4
  ASSERT_EQ(log->delete_records_before(3).first, errc::ok);
  EXPECT_EQ(log->epoch_entries(), (std::vector<EpochEntry>{{0, 3}, {4, 8}}));
  ASSERT_GT(log->apply_retention(0), 0);  // everything but the active segment goes
  const int64_t start = log->log_start_offset();
  ASSERT_GT(start, 8);
  EXPECT_EQ(log->epoch_entries(), (std::vector<EpochEntry>{{4, start}}));
  EXPECT_EQ(log->end_offset_for_epoch(4), std::make_pair(4, int64_t{16}));
}

TEST(LogEpochs, ALogWithoutAHistoryGetsItsFirstBatchsEpochFromTheLogStart) {
  TempDir dir;
  {
    auto log = Log::open(dir.path(), LogConfig{}, 0, 0, nullptr);
    append_ok(*log, simple_batch(3), 0, 0);
    append_ok(*log, simple_batch(3), 0, 0);
    log->close();
  }
  std::filesystem::remove(dir.path() / kLeaderEpochCheckpointFile);  // as written by an older Ferry
  auto log = Log::open(dir.path(), LogConfig{}, 2, 6, nullptr);
  EXPECT_EQ(log->epoch_entries(), (std::vector<EpochEntry>{{0, 2}}));
  EXPECT_EQ(log->end_offset_for_epoch(0), std::make_pair(0, int64_t{6}));
  EXPECT_FALSE(std::filesystem::exists(dir.path() / kLeaderEpochCheckpointFile));  // no fsync at start-up
  // An empty log has no history and writes no file.
  TempDir empty;
  auto fresh = Log::open(empty.path(), LogConfig{}, 0, 0, nullptr);
  EXPECT_TRUE(fresh->epoch_entries().empty());
  EXPECT_FALSE(std::filesystem::exists(empty.path() / kLeaderEpochCheckpointFile));
}

TEST(LogEpochs, ALeaderTakingAnEpochRecordsItBeforeAnyRecordAndOnlyOnce) {
  TempDir dir;
  auto log = Log::open(dir.path(), LogConfig{}, 0, 0, nullptr);
  log->assign_leader_epoch(0);  // an empty log: in memory only, no fsync at topic creation
  EXPECT_EQ(log->epoch_entries(), (std::vector<EpochEntry>{{0, 0}}));
  EXPECT_FALSE(std::filesystem::exists(dir.path() / kLeaderEpochCheckpointFile));
  append_ok(*log, simple_batch(3), 0, 0);  // same epoch: nothing to write on the produce path
  log->assign_leader_epoch(0);
  EXPECT_FALSE(std::filesystem::exists(dir.path() / kLeaderEpochCheckpointFile));
  log->assign_leader_epoch(1);  // a new leader epoch at the log end: the whole history is written
  EXPECT_EQ(log->epoch_entries(), (std::vector<EpochEntry>{{0, 0}, {1, 3}}));
  EXPECT_EQ(checkpoint_of(dir.path()), "0\n2\n0 0\n1 3\n");
  EXPECT_EQ(log->end_offset_for_epoch(0), std::make_pair(0, int64_t{3}));
  // Had the process died before that, the file-less log of one epoch comes back whole.
  TempDir other;
  {
    auto l = Log::open(other.path(), LogConfig{}, 0, 0, nullptr);
    l->assign_leader_epoch(0);
    append_ok(*l, simple_batch(4), 0, 0);
  }
  auto reopened = Log::open(other.path(), LogConfig{}, 0, 0, nullptr);
  reopened->assign_leader_epoch(0);
  EXPECT_EQ(reopened->epoch_entries(), (std::vector<EpochEntry>{{0, 0}}));
  EXPECT_EQ(reopened->end_offset_for_epoch(0), std::make_pair(0, int64_t{4}));
}

}  // namespace
}  // namespace ferry::storage
