// Timestamp lookups (KIP-79, KIP-734), retention, DeleteRecords (KIP-107) and the log start offset.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <random>

#include "broker/storage/log.h"
#include "broker/storage/tests/batch_builder.h"

namespace ferry::storage {
namespace {

using namespace ferry::storage::testing;
namespace fs = std::filesystem;

struct Rec {
  int64_t offset;
  int64_t ts;
};

LogConfig cfg() {
  LogConfig c;
  c.segment_bytes = 1200;
  c.index_interval_bytes = 150;
  c.retention_ms = -1;
  return c;
}

// Out-of-order timestamps across batches, negative deltas inside some, every codec.
std::vector<Rec> fill_shuffled(Log& log, int batches) {
  std::vector<Rec> recs;
  for (int i = 0; i < batches; ++i) {
    BatchSpec s;
    s.base_timestamp = 100'000 + ((i * 7919) % 50) * 1'000;
    s.codec = i % 5;
    std::vector<int64_t> deltas = i % 3 == 0 ? std::vector<int64_t>{0, 30, -20, 10} : std::vector<int64_t>{0, 10, 20};
    for (size_t j = 0; j < deltas.size(); ++j) s.records.push_back({"k", std::string(20, 'v'), {}, deltas[j]});
    auto stored = append_ok(log, encode_batch(s));
    for (size_t j = 0; j < deltas.size(); ++j) recs.push_back({stored.base + static_cast<int64_t>(j), s.base_timestamp + deltas[j]});
  }
  return recs;
}

std::optional<std::pair<int64_t, int64_t>> oracle_at(const std::vector<Rec>& recs, int64_t lso, int64_t ts) {
  for (const auto& r : recs) {
    if (r.offset >= lso && r.ts >= ts) return std::pair{r.offset, r.ts};
  }
  return std::nullopt;
}

std::optional<std::pair<int64_t, int64_t>> oracle_max(const std::vector<Rec>& recs, int64_t lso) {
  std::optional<std::pair<int64_t, int64_t>> best;
  for (const auto& r : recs) {
    if (r.offset >= lso && (!best || r.ts > best->first)) best = std::pair{r.ts, r.offset};
  }
  return best;
}

void check_against_oracle(const Log& log, const std::vector<Rec>& recs) {
  const int64_t lso = log.log_start_offset();
  for (int64_t ts = 99'000; ts <= 151'000; ts += 370) {
    ASSERT_EQ(log.offset_for_timestamp(ts), oracle_at(recs, lso, ts)) << "ts " << ts << " lso " << lso;
  }
  for (const auto& r : recs) {
    ASSERT_EQ(log.offset_for_timestamp(r.ts), oracle_at(recs, lso, r.ts)) << "ts " << r.ts;
  }
  EXPECT_EQ(log.max_timestamp(), oracle_max(recs, lso));
}

TEST(Timestamps, EmptyLogHasNoAnswers) {
  TempDir dir;
  auto log = Log::open(dir.path(), cfg(), 0, 0, nullptr);
  EXPECT_FALSE(log->offset_for_timestamp(0));
  EXPECT_FALSE(log->max_timestamp());
}

TEST(Timestamps, MatchRecordLevelOracleAcrossSegmentsAndCodecs) {
  TempDir dir;
  std::vector<Rec> recs;
  {
    auto log = Log::open(dir.path(), cfg(), 0, 0, nullptr);
    recs = fill_shuffled(*log, 80);
    ASSERT_GT(files_with_ext(dir.path(), ".log").size(), 5u);
    check_against_oracle(*log, recs);
    EXPECT_FALSE(log->offset_for_timestamp(1'000'000));
    log->close();
  }
  // After reopening, the answers come from the indexes loaded from disk.
  auto log = Log::open(dir.path(), cfg(), 0, recs.back().offset + 1, nullptr);
  check_against_oracle(*log, recs);

  // Records below the log start offset no longer count.
  for (int64_t cut : {int64_t{7}, recs[recs.size() / 2].offset + 1, recs.back().offset}) {
    ASSERT_EQ(log->delete_records_before(cut).first, errc::ok);
    check_against_oracle(*log, recs);
  }
}

TEST(Timestamps, MaxTimestampTiesGoToTheFirstRecord) {
  TempDir dir;
  auto log = Log::open(dir.path(), cfg(), 0, 0, nullptr);
  append_ok(*log, simple_batch(3, 5'000));  // 5000, 5010, 5020
  BatchSpec s;
  s.base_timestamp = 5'020;
  s.records = {{"a", "b", {}, -20}, {"a", "b", {}, 0}, {"a", "b", {}, 0}};
  append_ok(*log, encode_batch(s));  // 5000, 5020, 5020
  EXPECT_EQ(log->max_timestamp(), std::make_pair(int64_t{5'020}, int64_t{2}));
  ASSERT_EQ(log->delete_records_before(3).first, errc::ok);
  EXPECT_EQ(log->max_timestamp(), std::make_pair(int64_t{5'020}, int64_t{4}));
}

int64_t base_of(const std::string& log_file) { return std::stoll(log_file.substr(0, 20)); }

std::vector<int64_t> segment_max_timestamps(const fs::path& dir, const std::vector<std::string>& logs) {
  std::vector<int64_t> out;
  for (const auto& f : logs) {
    std::ifstream in(dir / f, std::ios::binary);
    std::vector<uint8_t> bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    int64_t m = -1;
    for (const auto& b : split_batches(bytes)) m = std::max(m, parse_batch_header(b.data(), b.size())->max_timestamp);
    out.push_back(m);
  }
  return out;
}

TEST(Retention, ByTimeDeletesOldSegmentsOnly) {
  TempDir dir;
  LogConfig c = cfg();
  c.retention_ms = 10'000;
  auto log = Log::open(dir.path(), c, 0, 0, nullptr);
  for (int i = 0; i < 40; ++i) append_ok(*log, simple_batch(3, 1'000'000 + 1'000 * i, 40));
  auto logs = files_with_ext(dir.path(), ".log");
  auto maxes = segment_max_timestamps(dir.path(), logs);
  ASSERT_GT(logs.size(), 6u);

  const int64_t now = maxes[3] + 10'001;  // segments 0..3 are past retention, 4 is not
  ASSERT_LE(now - maxes[4], 10'000);
  EXPECT_EQ(log->apply_retention(now), 4);
  EXPECT_EQ(files_with_ext(dir.path(), ".log"), std::vector<std::string>(logs.begin() + 4, logs.end()));
  EXPECT_FALSE(fs::exists(dir.path() / (logs[0].substr(0, 20) + ".index")));
  const int64_t lso = base_of(logs[4]);
  EXPECT_EQ(log->log_start_offset(), lso);
  EXPECT_EQ(log->read(lso - 1, 1 << 20, INT64_MAX, true).first, errc::offset_out_of_range);
  auto [e, data] = log->read(lso, 1 << 20, INT64_MAX, true);
  EXPECT_EQ(e, errc::ok);
  EXPECT_EQ(parse_batch_header(data.records.data(), data.records.size())->base_offset, lso);
  EXPECT_EQ(log->apply_retention(now), 0);

  // Far in the future everything but the active segment goes; offsets are kept.
  const int64_t leo = log->log_end_offset();
  EXPECT_EQ(log->apply_retention(now + 1'000'000'000), static_cast<int>(logs.size()) - 5);
  EXPECT_EQ(files_with_ext(dir.path(), ".log"), std::vector<std::string>{logs.back()});
  EXPECT_EQ(log->log_end_offset(), leo);
  EXPECT_EQ(log->log_start_offset(), base_of(logs.back()));
}

TEST(Retention, BySizeKeepsAtLeastTheLimit) {
  TempDir dir;
  LogConfig c = cfg();
  c.retention_bytes = 3'000;
  auto log = Log::open(dir.path(), c, 0, 0, nullptr);
  for (int i = 0; i < 50; ++i) append_ok(*log, simple_batch(2, 1'000 + i, 60));
  const int64_t before = log->size_bytes();
  ASSERT_GT(before, 3 * 3'000);
  int deleted = log->apply_retention(0);
  EXPECT_GT(deleted, 0);
  auto logs = files_with_ext(dir.path(), ".log");
  EXPECT_GE(log->size_bytes(), 3'000);
  // Deleting one more segment would have gone below the limit.
  EXPECT_LT(log->size_bytes() - static_cast<int64_t>(fs::file_size(dir.path() / logs.front())), 3'000);
  EXPECT_EQ(log->log_start_offset(), base_of(logs.front()));
}

TEST(DeleteRecords, RaisesLogStartAndRetentionDropsWholeSegments) {
  TempDir dir;
  std::vector<Stored> stored;
  int64_t lso = 0;
  {
    auto log = Log::open(dir.path(), cfg(), 0, 0, nullptr);
    for (int i = 0; i < 40; ++i) stored.push_back(append_ok(*log, simple_batch(3, 1'000 + i, 40)));
    const int64_t leo = log->log_end_offset();
    EXPECT_EQ(log->delete_records_before(leo + 1).first, errc::offset_out_of_range);
    EXPECT_EQ(log->delete_records_before(-1).first, errc::offset_out_of_range);

    lso = stored[25].base + 1;  // inside a batch
    auto [e, low] = log->delete_records_before(lso);
    EXPECT_EQ(e, errc::ok);
    EXPECT_EQ(low, lso);
    EXPECT_EQ(log->delete_records_before(5), std::make_pair(errc::ok, lso));  // never lowers
    EXPECT_EQ(log->read(lso - 1, 1 << 20, INT64_MAX, true).first, errc::offset_out_of_range);
    // The batch holding the log start offset is returned whole, as Kafka does.
    EXPECT_EQ(log->read(lso, 1 << 20, INT64_MAX, false).second.records, concat(stored, 25));
    EXPECT_EQ(log->read(lso, 1 << 20, INT64_MAX, false).second.log_start_offset, lso);

    auto logs_before = files_with_ext(dir.path(), ".log");
    int deleted = log->apply_retention(0);
    auto logs_after = files_with_ext(dir.path(), ".log");
    EXPECT_GT(deleted, 0);
    EXPECT_EQ(logs_after.size(), logs_before.size() - static_cast<size_t>(deleted));
    EXPECT_LE(base_of(logs_after.front()), lso);  // the segment holding lso stays
    ASSERT_GT(logs_after.size(), 1u);
    EXPECT_GT(base_of(logs_after[1]), lso);  // so nothing that is wholly below lso was kept
    EXPECT_EQ(log->log_start_offset(), lso);
    EXPECT_EQ(log->delete_records_before(log->log_end_offset()).second, log->log_end_offset());
    lso = log->log_end_offset();
    log->close();
  }
  // The broker passes the checkpointed log start offset back in.
  auto log = Log::open(dir.path(), cfg(), lso, lso, nullptr);
  EXPECT_EQ(log->log_start_offset(), lso);
  EXPECT_EQ(log->log_end_offset(), lso);
  log->close();
  // Without it, the first segment's base offset is the floor.
  auto again = Log::open(dir.path(), cfg(), 0, lso, nullptr);
  EXPECT_EQ(again->log_start_offset(), base_of(files_with_ext(dir.path(), ".log").front()));
  EXPECT_LT(again->log_start_offset(), lso);
}

}  // namespace
}  // namespace ferry::storage
