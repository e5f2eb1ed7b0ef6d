#include "broker/storage/log.h"

#include <gtest/gtest.h>

#include <sys/resource.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <random>
#include <thread>

#include "broker/storage/tests/batch_builder.h"

namespace ferry::storage {
namespace {

using namespace ferry::storage::testing;

LogConfig small_segments() {
  LogConfig cfg;
  cfg.segment_bytes = 2048;
  cfg.index_interval_bytes = 256;
  return cfg;
}

std::unique_ptr<Log> open_log(const std::filesystem::path& dir, const LogConfig& cfg, int64_t lso = 0, int64_t rp = 0,
                              RecoveryReport* report = nullptr) {
  return Log::open(dir, cfg, lso, rp, report);
}

// Batch i: (i % 5) + 1 records of 20..119-byte values, timestamps rising with i.
std::vector<Stored> fill(Log& log, int batches, int first = 0) {
  std::vector<Stored> out;
  for (int i = first; i < first + batches; ++i) {
    out.push_back(append_ok(log, simple_batch(i % 5 + 1, 1'000 + 100 * i, 20 + (i * 37) % 100), 0));
  }
  return out;
}

int64_t total_size(const std::vector<Stored>& s) {
  int64_t n = 0;
  for (const auto& b : s) n += static_cast<int64_t>(b.bytes.size());
  return n;
}

TEST(Log, NewLogIsEmpty) {
  TempDir dir;
  auto log = open_log(dir.path() / "t-0", LogConfig{});
  EXPECT_EQ(log->log_start_offset(), 0);
  EXPECT_EQ(log->log_end_offset(), 0);
  EXPECT_EQ(log->size_bytes(), 0);
  auto [e, data] = log->read(0, 1000, INT64_MAX, true);
  EXPECT_EQ(e, errc::ok);
  EXPECT_TRUE(data.records.empty());
  EXPECT_EQ(files_with_ext(dir.path() / "t-0", ".log"), std::vector<std::string>{"00000000000000000000.log"});
}

TEST(Log, RoundTripAcrossManySegmentRolls) {
  TempDir dir;
  auto log = open_log(dir.path(), small_segments());
  auto stored = fill(*log, 150);
  const int64_t leo = stored.back().last + 1;
  ASSERT_EQ(log->log_end_offset(), leo);
  EXPECT_GT(files_with_ext(dir.path(), ".log").size(), 10u);
  EXPECT_EQ(log->size_bytes(), total_size(stored));

  for (int64_t o = 0; o < leo; ++o) {
    auto [e, data] = log->read(o, 1 << 20, leo, false);
    ASSERT_EQ(e, errc::ok) << o;
    size_t k = batch_containing(stored, o);
    ASSERT_EQ(data.records, concat(stored, k)) << "read at offset " << o;
    EXPECT_EQ(data.log_end_offset, leo);
    EXPECT_EQ(data.log_start_offset, 0);
  }
  auto [e_end, at_end] = log->read(leo, 1 << 20, leo, true);
  EXPECT_EQ(e_end, errc::ok);
  EXPECT_TRUE(at_end.records.empty());
  EXPECT_EQ(log->read(leo + 1, 1 << 20, leo, true).first, errc::offset_out_of_range);
  EXPECT_EQ(log->read(-1, 1 << 20, leo, true).first, errc::offset_out_of_range);
}

TEST(Log, OnlyTheActiveSegmentKeepsADescriptor) {
  TempDir dir;
  auto log = open_log(dir.path(), small_segments());
  auto stored = fill(*log, 150);
  const int64_t leo = stored.back().last + 1;
  const size_t segments = files_with_ext(dir.path(), ".log").size();
  ASSERT_GT(segments, 10u);
  EXPECT_EQ(descriptors_in(dir.path()), 1) << "after appends that rolled " << segments - 1 << " segments";

  // A read of every segment reopens the older ones, and lets them go again.
  auto [e, data] = log->read(0, 1 << 30, leo, false);
  ASSERT_EQ(e, errc::ok);
  EXPECT_EQ(data.records, concat(stored, 0));
  EXPECT_EQ(descriptors_in(dir.path()), 1) << "after a read of every segment";

  // Reopened after a crash (nothing flushed: every segment is recovered and rewritten) and
  // after a clean close (indexes trusted).
  for (int64_t recovery_point : {int64_t{0}, leo}) {
    if (recovery_point == 0) {
      log.reset();
    } else {
      log->close();
    }
    EXPECT_EQ(descriptors_in(dir.path()), 0) << "closed";
    log = open_log(dir.path(), small_segments(), 0, recovery_point);
    EXPECT_EQ(descriptors_in(dir.path()), 1) << "reopened with recovery point " << recovery_point;
    for (int64_t o = 0; o < leo; o += 97) {
      auto [e2, part] = log->read(o, 1 << 30, leo, false);
      ASSERT_EQ(e2, errc::ok);
      EXPECT_EQ(part.records, concat(stored, batch_containing(stored, o))) << "from offset " << o;
    }
    EXPECT_EQ(descriptors_in(dir.path()), 1);
  }

  // Retention deletes segments that were closed; the rest still read.
  LogConfig cfg = small_segments();
  cfg.retention_bytes = 4 * cfg.segment_bytes;
  log->update_config(cfg);
  EXPECT_GT(log->apply_retention(0), 0);
  auto [e3, rest] = log->read(log->log_start_offset(), 1 << 30, leo, false);
  ASSERT_EQ(e3, errc::ok);
  EXPECT_EQ(rest.records, concat(stored, batch_containing(stored, log->log_start_offset())));
  EXPECT_EQ(descriptors_in(dir.path()), 1);
}

TEST(Log, MaxBytesAndMinOneBatch) {
  TempDir dir;
  auto log = open_log(dir.path(), small_segments());
  auto stored = fill(*log, 12);
  const auto s0 = static_cast<int32_t>(stored[0].bytes.size());
  const auto s1 = static_cast<int32_t>(stored[1].bytes.size());
  const int64_t leo = log->log_end_offset();

  EXPECT_EQ(log->read(0, s0 + s1, leo, false).second.records, concat(stored, 0, 2));
  EXPECT_EQ(log->read(0, s0 + s1 - 1, leo, false).second.records, concat(stored, 0, 1));
  EXPECT_TRUE(log->read(0, s0 - 1, leo, false).second.records.empty());
  EXPECT_EQ(log->read(0, s0 - 1, leo, true).second.records, concat(stored, 0, 1));
  EXPECT_EQ(log->read(0, 0, leo, true).second.records, concat(stored, 0, 1));
  // min_one_batch only exempts the first batch.
  EXPECT_EQ(log->read(0, s0 + 1, leo, true).second.records, concat(stored, 0, 1));
}

TEST(Log, NeverReturnsBatchesAtOrAboveMaxOffset) {
  TempDir dir;
  auto log = open_log(dir.path(), small_segments());
  auto stored = fill(*log, 30);
  const int64_t hw = stored[20].base;
  auto [e, data] = log->read(0, 1 << 20, hw, false);
  EXPECT_EQ(e, errc::ok);
  EXPECT_EQ(data.records, concat(stored, 0, 20));
  // A read that starts inside the last visible batch still gets it.
  EXPECT_EQ(log->read(stored[19].last, 1 << 20, hw, false).second.records, concat(stored, 19, 20));
  // At or beyond the high watermark: nothing, but not an error.
  auto [e2, beyond] = log->read(hw, 1 << 20, hw, true);
  EXPECT_EQ(e2, errc::ok);
  EXPECT_TRUE(beyond.records.empty());
}

TEST(Log, ReopenAfterCloseKeepsOffsetsAndData) {
  TempDir dir;
  std::vector<Stored> stored;
  {
    auto log = open_log(dir.path(), small_segments());
    stored = fill(*log, 40);
    log->close();
    EXPECT_EQ(log->recovery_point(), stored.back().last + 1);
  }
  RecoveryReport report;
  auto log = open_log(dir.path(), small_segments(), 0, stored.back().last + 1, &report);
  EXPECT_TRUE(report.actions.empty()) << report.actions.front();
  EXPECT_EQ(report.truncated_bytes, 0);
  EXPECT_EQ(log->log_end_offset(), stored.back().last + 1);
  EXPECT_EQ(log->read(0, 1 << 20, INT64_MAX, false).second.records, concat(stored, 0));

  auto more = fill(*log, 10, 40);
  EXPECT_EQ(more.front().base, stored.back().last + 1);
  stored.insert(stored.end(), more.begin(), more.end());
  for (size_t k = 0; k < stored.size(); k += 7) {
    EXPECT_EQ(log->read(stored[k].base, 1 << 20, INT64_MAX, false).second.records, concat(stored, k));
  }
}

TEST(Log, RejectsAppendsItCannotTake) {
  TempDir dir;
  LogConfig cfg;
  cfg.segment_bytes = 1000;
  cfg.max_message_bytes = 300;
  auto log = open_log(dir.path(), cfg);

  auto big = simple_batch(5, 1'000, 80);
  ASSERT_GT(big.size(), 300u);
  EXPECT_EQ(log->append(big, headers_of(big), 0, 0).first, errc::message_too_large);

  cfg.max_message_bytes = 1 << 20;
  log->update_config(cfg);
  auto huge = simple_batch(10, 1'000, 150);
  ASSERT_GT(huge.size(), 1000u);
  EXPECT_EQ(log->append(huge, headers_of(huge), 0, 0).first, errc::record_list_too_large);

  auto a = simple_batch(2), b = simple_batch(3);
  EXPECT_EQ(log->append(a, headers_of(b), 0, 0).first, errc::invalid_record);
  std::vector<uint8_t> empty;
  EXPECT_EQ(log->append(empty, {}, 0, 0).first, errc::invalid_record);
  EXPECT_EQ(log->log_end_offset(), 0);

  EXPECT_EQ(log->append(big, headers_of(big), 0, 0).first, errc::ok);
  log->close();
  auto c = simple_batch(1);
  EXPECT_EQ(log->append(c, headers_of(c), 0, 0).first, errc::storage_error);
  EXPECT_EQ(log->read(0, 100, INT64_MAX, true).first, errc::storage_error);
}

TEST(Log, AssignsOffsetsAndEpochWithoutTouchingTheCrc) {
  TempDir dir;
  auto log = open_log(dir.path(), LogConfig{});
  fill(*log, 3);
  auto blob = simple_batch(4);
  const uint32_t crc_before = parse_batch_header(blob.data(), blob.size())->crc;
  const int64_t leo = log->log_end_offset();
  auto [e, res] = log->append(blob, headers_of(blob), 9, 5'000);
  ASSERT_EQ(e, errc::ok);
  EXPECT_EQ(res.base_offset, leo);
  EXPECT_EQ(res.last_offset, leo + 3);
  EXPECT_EQ(res.log_append_time_ms, -1);
  EXPECT_EQ(res.log_start_offset, 0);
  auto data = log->read(leo, 1 << 20, INT64_MAX, false).second.records;
  auto h = parse_batch_header(data.data(), data.size());
  EXPECT_EQ(h->base_offset, leo);
  EXPECT_EQ(h->partition_leader_epoch, 9);
  EXPECT_EQ(h->crc, crc_before);
  EXPECT_EQ(compute_batch_crc(data.data(), data.size()), h->crc);
}

TEST(Log, LogAppendTimeStampsBatchesAndKeepsThemValid) {
  TempDir dir;
  LogConfig cfg;
  cfg.log_append_time = true;
  auto log = open_log(dir.path(), cfg);
  std::vector<uint8_t> blob = simple_batch(3, 1'000);
  auto second = simple_batch(2, 2'000, 10, 4);
  blob.insert(blob.end(), second.begin(), second.end());
  auto [e, res] = log->append(blob, headers_of(blob), 0, 777'000);
  ASSERT_EQ(e, errc::ok);
  EXPECT_EQ(res.log_append_time_ms, 777'000);

  auto data = log->read(0, 1 << 20, INT64_MAX, false).second.records;
  auto v = validate_produce_records(data.data(), data.size(), INT32_MAX);
  ASSERT_EQ(v.error, errc::ok) << v.message;  // CRCs were recomputed
  ASSERT_EQ(v.batches.size(), 2u);
  for (const auto& h : v.batches) {
    EXPECT_TRUE(h.is_log_append_time());
    EXPECT_EQ(h.max_timestamp, 777'000);
  }
  EXPECT_EQ(v.batches[1].compression(), 4);
  auto hit = log->offset_for_timestamp(777'000);
  ASSERT_TRUE(hit);
  EXPECT_EQ(*hit, std::make_pair(int64_t{0}, int64_t{777'000}));
  EXPECT_FALSE(log->offset_for_timestamp(777'001));
}

TEST(Log, AppendWithOffsetsCopiesAnotherLog) {
  TempDir dir;
  auto source = open_log(dir.path() / "src", small_segments());
  auto stored = fill(*source, 25);
  auto dest = open_log(dir.path() / "dst", small_segments());
  for (const auto& s : stored) {
    std::vector<uint8_t> copy = s.bytes;
    auto [e, res] = dest->append_with_offsets(copy, headers_of(copy));
    ASSERT_EQ(e, errc::ok);
    EXPECT_EQ(res.base_offset, s.base);
    EXPECT_EQ(copy, s.bytes);  // nothing rewritten
  }
  EXPECT_EQ(dest->read(0, 1 << 20, INT64_MAX, false).second.records, concat(stored, 0));

  std::vector<uint8_t> again = stored.back().bytes;
  EXPECT_EQ(dest->append_with_offsets(again, headers_of(again)).first, errc::offset_out_of_range);

  BatchSpec s = simple_spec(2);
  s.base_offset = dest->log_end_offset();
  auto bad = encode_batch(s);
  bad.back() ^= 1;
  auto hs = std::vector<BatchHeader>{*parse_batch_header(bad.data(), bad.size())};
  EXPECT_EQ(dest->append_with_offsets(bad, hs).first, errc::corrupt_message);
}

TEST(Log, AppendWithOffsetsAllowsGapsBetweenBatches) {
  TempDir dir;
  auto log = open_log(dir.path(), LogConfig{});
  BatchSpec a = simple_spec(3);
  BatchSpec b = simple_spec(3);
  b.base_offset = 10;
  auto blob = encode_batch(a);
  auto bb = encode_batch(b);
  blob.insert(blob.end(), bb.begin(), bb.end());
  auto [e, res] = log->append_with_offsets(blob, headers_of(blob));
  ASSERT_EQ(e, errc::ok);
  EXPECT_EQ(res.last_offset, 12);
  EXPECT_EQ(log->log_end_offset(), 13);
  // An offset in the gap reads from the next batch.
  EXPECT_EQ(log->read(5, 1 << 20, INT64_MAX, false).second.records, bb);

  BatchSpec c = simple_spec(1);
  c.base_offset = 13;
  auto cc = encode_batch(c);
  auto dd = encode_batch(c);  // same offsets twice: goes backwards
  cc.insert(cc.end(), dd.begin(), dd.end());
  EXPECT_EQ(log->append_with_offsets(cc, headers_of(cc)).first, errc::invalid_record);
}

TEST(Log, SegmentMsRollsOnAppendAndWhenIdle) {
  TempDir dir;
  LogConfig cfg;
  cfg.segment_ms = 1'000;
  auto log = open_log(dir.path(), cfg);
  append_ok(*log, simple_batch(1), 10'000);
  append_ok(*log, simple_batch(1), 10'900);
  EXPECT_EQ(files_with_ext(dir.path(), ".log").size(), 1u);
  append_ok(*log, simple_batch(1), 11'100);
  EXPECT_EQ(files_with_ext(dir.path(), ".log").size(), 2u);

  log->roll_if_due(11'500);
  EXPECT_EQ(files_with_ext(dir.path(), ".log").size(), 2u);
  log->roll_if_due(12'200);
  EXPECT_EQ(files_with_ext(dir.path(), ".log"),
            (std::vector<std::string>{"00000000000000000000.log", "00000000000000000002.log", "00000000000000000003.log"}));
  EXPECT_EQ(log->log_end_offset(), 3);
  log->roll_if_due(20'000);  // an empty active segment is never rolled
  EXPECT_EQ(files_with_ext(dir.path(), ".log").size(), 3u);
  EXPECT_EQ(append_ok(*log, simple_batch(1), 20'000).base, 3);
}

TEST(Log, FullIndexRollsTheSegment) {
  TempDir dir;
  LogConfig cfg;
  cfg.index_interval_bytes = 1;  // an index entry for nearly every batch
  cfg.segment_index_bytes = 24;  // room for 3 offset / 2 time entries
  auto log = open_log(dir.path(), cfg);
  auto stored = fill(*log, 20);
  auto logs = files_with_ext(dir.path(), ".log");
  EXPECT_GE(logs.size(), 5u);
  for (const auto& idx : files_with_ext(dir.path(), ".index")) {
    EXPECT_LE(std::filesystem::file_size(dir.path() / idx), 24u) << idx;
  }
  for (size_t k = 0; k < stored.size(); ++k) {
    EXPECT_EQ(log->read(stored[k].base, 1 << 20, INT64_MAX, false).second.records, concat(stored, k));
  }
}

TEST(Log, FlushPolicies) {
  TempDir dir;
  LogConfig cfg;
  auto log = open_log(dir.path() / "a", cfg);
  append_ok(*log, simple_batch(2), 1'000);
  EXPECT_EQ(log->recovery_point(), 0);
  EXPECT_EQ(log->flush(), 2);
  EXPECT_EQ(log->recovery_point(), 2);

  cfg.flush_messages = 3;
  auto by_count = open_log(dir.path() / "b", cfg);
  append_ok(*by_count, simple_batch(2), 1'000);
  EXPECT_EQ(by_count->recovery_point(), 0);
  append_ok(*by_count, simple_batch(2), 1'000);
  EXPECT_EQ(by_count->recovery_point(), 4);

  cfg.flush_messages = INT64_MAX;
  cfg.flush_ms = 100;
  auto by_time = open_log(dir.path() / "c", cfg);
  append_ok(*by_time, simple_batch(1), 1'000);
  EXPECT_FALSE(by_time->flush_due(1'050));
  EXPECT_TRUE(by_time->flush_due(1'100));
  EXPECT_EQ(by_time->recovery_point(), 0);
  append_ok(*by_time, simple_batch(1), 1'200);  // the oldest unflushed append is now 200 ms old
  EXPECT_EQ(by_time->recovery_point(), 2);
  EXPECT_FALSE(by_time->flush_due(5'000));
}

TEST(Log, ReadsRunWhileAppending) {
  TempDir dir;
  auto log = open_log(dir.path(), small_segments());
  std::atomic<bool> done{false};
  std::atomic<int> bad{0}, reads{0};
  auto reader = [&](unsigned seed) {
    std::mt19937 rng(seed);
    while (!done.load()) {
      int64_t leo = log->log_end_offset();
      if (leo == 0) continue;
      int64_t o = static_cast<int64_t>(rng() % static_cast<uint64_t>(leo));
      auto [e, data] = log->read(o, 4096, INT64_MAX, true);
      auto h = parse_batch_header(data.records.data(), data.records.size());
      if (e != errc::ok || !h || h->base_offset > o || h->last_offset() < o ||
          compute_batch_crc(data.records.data(), h->size_in_bytes()) != h->crc) {
        ++bad;
      }
      ++reads;
    }
  };
  std::thread r1(reader, 1), r2(reader, 2);
  auto stored = fill(*log, 300);
  done = true;
  r1.join();
  r2.join();
  EXPECT_EQ(bad.load(), 0) << "of " << reads.load() << " reads";
  EXPECT_EQ(log->log_end_offset(), stored.back().last + 1);
}

TEST(Log, WriteFailureTakesTheLogOffline) {
  TempDir dir;
  LogConfig cfg;
  cfg.max_message_bytes = 1 << 21;
  std::vector<Stored> kept;
  auto big = simple_batch(4, 1'000, 100'000);
  auto big_headers = headers_of(big);
  {
    auto log = open_log(dir.path(), cfg);
    std::vector<std::string> told;  // what the offline listener (the broker's log dir failure channel) heard
    log->set_offline_listener([&told](const std::string& why) { told.push_back(why); });
    kept.push_back(append_ok(*log, simple_batch(3)));
    EXPECT_FALSE(log->offline());
    // A file size limit makes the kernel refuse the write part-way (EFBIG), as a full disk would.
    struct rlimit old_limit;
    ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
    auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
    struct rlimit limit = old_limit;
    limit.rlim_cur = 256 * 1024;
    ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limit), 0);
    auto [e, res] = log->append(big, big_headers, 0, 0);
    setrlimit(RLIMIT_FSIZE, &old_limit);
    std::signal(SIGXFSZ, old_handler);

    EXPECT_EQ(e, errc::storage_error);
    EXPECT_EQ(log->log_end_offset(), 3);
    auto small = simple_batch(1);
    EXPECT_EQ(log->append(small, headers_of(small), 0, 0).first, errc::storage_error);  // stays offline
    EXPECT_EQ(log->read(0, 1 << 20, INT64_MAX, false).second.records, concat(kept, 0));
    EXPECT_TRUE(log->offline());
    // Told once, with the kernel's reason, however many appends are refused after.
    ASSERT_EQ(told.size(), 1u);
    EXPECT_NE(told[0].find(std::strerror(EFBIG)), std::string::npos) << told[0];
    log->close();
  }
  auto log = open_log(dir.path(), cfg);
  EXPECT_EQ(log->log_end_offset(), 3);
  EXPECT_EQ(log->read(0, 1 << 20, INT64_MAX, false).second.records, concat(kept, 0));
  EXPECT_EQ(append_ok(*log, simple_batch(1)).base, 3);
}

TEST(Log, SizeBytesMatchesTheFiles) {
  TempDir dir;
  auto log = open_log(dir.path(), small_segments());
  fill(*log, 50);
  int64_t on_disk = 0;
  for (const auto& f : files_with_ext(dir.path(), ".log")) on_disk += static_cast<int64_t>(std::filesystem::file_size(dir.path() / f));
  EXPECT_EQ(log->size_bytes(), on_disk);
}

TEST(Log, RemoveDeletesTheDirectory) {
  TempDir dir;
  auto log = open_log(dir.path() / "gone-0", small_segments());
  int told = 0;
  log->set_offline_listener([&told](const std::string&) { ++told; });
  fill(*log, 20);
  log->remove();
  EXPECT_EQ(told, 0);  // deleting a topic is not a log dir failure
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "gone-0"));
}

}  // namespace
}  // namespace ferry::storage
