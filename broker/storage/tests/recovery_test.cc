// Crash recovery and index rebuilding: damage real segment files, reopen, and check that exactly
// the intact prefix survives and that the report names what was dropped.
#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include <fmt/format.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>

#include "broker/storage/log.h"
#include "broker/storage/tests/batch_builder.h"

namespace ferry::storage {
namespace {

using namespace ferry::storage::testing;
namespace fs = std::filesystem;

LogConfig cfg() {
  LogConfig c;
  c.segment_bytes = 1500;
  c.index_interval_bytes = 200;
  return c;
}

std::vector<uint8_t> slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void spit(const fs::path& p, const std::vector<uint8_t>& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// Where each batch lives on disk, recovered independently of the code under test by splitting the
// .log files.
struct Placed {
  size_t segment;  // index into Pristine::segments
  size_t position;
  Stored batch;
};

struct Pristine {
  TempDir dir;
  std::vector<std::string> segments;  // .log names
  std::vector<size_t> segment_sizes;
  std::vector<Placed> batches;
  int64_t leo = 0;

  Pristine() {
    auto log = Log::open(dir.path(), cfg(), 0, 0, nullptr);
    for (int i = 0; i < 60; ++i) {
      int codec = i % 7 == 3 ? 4 : 0;
      append_ok(*log, simple_batch(i % 4 + 1, 10'000 + 50 * i, 15 + (i * 13) % 60, codec));
    }
    leo = log->log_end_offset();
    log->close();
    segments = files_with_ext(dir.path(), ".log");
    for (size_t s = 0; s < segments.size(); ++s) {
      auto bytes = slurp(dir.path() / segments[s]);
      segment_sizes.push_back(bytes.size());
      size_t pos = 0;
      for (auto& b : split_batches(bytes)) {
        auto h = parse_batch_header(b.data(), b.size());
        batches.push_back({s, pos, Stored{h->base_offset, h->last_offset(), b}});
        pos += b.size();
      }
    }
  }

  void copy_to(const fs::path& to) const { fs::copy(dir.path(), to, fs::copy_options::recursive); }

  std::vector<Stored> stored() const {
    std::vector<Stored> out;
    for (const auto& p : batches) out.push_back(p.batch);
    return out;
  }
};

const Pristine& pristine() {
  static Pristine p;
  return p;
}

bool mentions(const RecoveryReport& r, const std::string& what) {
  for (const auto& a : r.actions) {
    if (a.find(what) != std::string::npos) return true;
  }
  return false;
}

// Reopens `dir` with recovery point 0 and checks that exactly batches [0, first_lost) survive.
void expect_recovers_prefix(const fs::path& dir, size_t first_lost, int64_t expected_dropped, const std::string& what) {
  SCOPED_TRACE(what);
  const auto& p = pristine();
  RecoveryReport report;
  auto log = Log::open(dir, cfg(), 0, 0, &report);
  auto stored = p.stored();
  int64_t leo = first_lost < stored.size() ? stored[first_lost].base : p.leo;
  EXPECT_EQ(log->log_end_offset(), leo);
  EXPECT_EQ(log->recovery_point(), leo);
  EXPECT_EQ(log->read(0, 1 << 20, INT64_MAX, false).second.records, concat(stored, 0, first_lost));
  for (size_t k = 0; k < first_lost; k += 3) {
    ASSERT_EQ(log->read(stored[k].base, 1 << 20, INT64_MAX, false).second.records, concat(stored, k, first_lost)) << k;
  }
  EXPECT_EQ(report.truncated_bytes, expected_dropped);
  if (expected_dropped > 0) {
    EXPECT_FALSE(report.actions.empty());
    EXPECT_TRUE(mentions(report, "truncated") || mentions(report, "deleted segment"));
  }
  // The log carries on from the cut.
  auto next = append_ok(*log, simple_batch(2), 0);
  EXPECT_EQ(next.base, leo);
  log->close();
}

int64_t bytes_after(const Pristine& p, size_t segment, size_t position, size_t file_size) {
  int64_t n = static_cast<int64_t>(file_size - position);
  for (size_t s = segment + 1; s < p.segments.size(); ++s) n += static_cast<int64_t>(p.segment_sizes[s]);
  return n;
}

TEST(Recovery, CleanReopenReportsNothing) {
  const auto& p = pristine();
  ASSERT_GE(p.segments.size(), 5u);
  TempDir trial;
  p.copy_to(trial.path() / "log");
  RecoveryReport report;
  auto log = Log::open(trial.path() / "log", cfg(), 0, 0, &report);
  EXPECT_TRUE(report.actions.empty());
  EXPECT_EQ(log->log_end_offset(), p.leo);
}

TEST(Recovery, TruncationAtRandomPointsKeepsExactlyTheWholeBatchesBefore) {
  const auto& p = pristine();
  std::mt19937 rng(20240611);
  for (int trial_no = 0; trial_no < 40; ++trial_no) {
    size_t seg = rng() % p.segments.size();
    size_t cut = rng() % p.segment_sizes[seg];
    // The first batch that does not fit entirely before the cut is lost, and everything after it.
    size_t first_lost = p.batches.size();
    for (size_t k = 0; k < p.batches.size(); ++k) {
      const auto& b = p.batches[k];
      if (b.segment > seg || (b.segment == seg && b.position + b.batch.bytes.size() > cut)) {
        first_lost = k;
        break;
      }
    }
    size_t lost_pos = first_lost < p.batches.size() && p.batches[first_lost].segment == seg ? p.batches[first_lost].position : cut;
    TempDir trial;
    p.copy_to(trial.path() / "log");
    fs::resize_file(trial.path() / "log" / p.segments[seg], cut);
    expect_recovers_prefix(trial.path() / "log", first_lost, bytes_after(p, seg, lost_pos, cut),
                           "segment " + std::to_string(seg) + " cut at " + std::to_string(cut));
  }
}

TEST(Recovery, FlippedBytesDropTheDamagedBatchAndAllAfter) {
  const auto& p = pristine();
  std::mt19937 rng(7);
  for (int trial_no = 0; trial_no < 40; ++trial_no) {
    size_t k = rng() % p.batches.size();
    const auto& b = p.batches[k];
    // Bytes a CRC or framing check covers: batchLength, magic, crc, attributes..end. (baseOffset and
    // partitionLeaderEpoch are deliberately outside the CRC in Kafka's format.)
    size_t in_batch;
    do {
      in_batch = rng() % b.batch.bytes.size();
    } while (in_batch < 8 || (in_batch >= 12 && in_batch < 16));
    uint8_t mask = static_cast<uint8_t>(1 + rng() % 255);
    TempDir trial;
    p.copy_to(trial.path() / "log");
    auto file = trial.path() / "log" / p.segments[b.segment];
    auto bytes = slurp(file);
    bytes[b.position + in_batch] ^= mask;
    spit(file, bytes);
    expect_recovers_prefix(trial.path() / "log", k, bytes_after(p, b.segment, b.position, p.segment_sizes[b.segment]),
                           "batch " + std::to_string(k) + " byte " + std::to_string(in_batch));
  }
}

TEST(Recovery, SegmentCutAtABatchBoundaryDropsLaterSegments) {
  // A segment that lost whole batches is itself valid; the hole before the next segment is what
  // gives the damage away.
  const auto& p = pristine();
  for (size_t seg : {size_t{1}, size_t{2}}) {
    size_t k = 0;
    while (p.batches[k].segment != seg) ++k;
    if (seg == 2) ++k;  // segment 1 becomes empty, segment 2 keeps its first batch
    ASSERT_EQ(p.batches[k].segment, seg);
    size_t cut = p.batches[k].position;
    TempDir trial;
    p.copy_to(trial.path() / "log");
    fs::resize_file(trial.path() / "log" / p.segments[seg], cut);
    expect_recovers_prefix(trial.path() / "log", k, bytes_after(p, seg, cut, cut), "boundary cut in segment " + std::to_string(seg));
  }
}

TEST(Recovery, RepairsAreLoggedAtWarn) {
  const auto& p = pristine();
  TempDir trial;
  p.copy_to(trial.path() / "log");
  fs::resize_file(trial.path() / "log" / p.segments.back(), p.segment_sizes.back() - 1);
  std::ostringstream captured;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(captured);
  sink->set_pattern("%l|%v");
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
  RecoveryReport report;
  auto log = Log::open(trial.path() / "log", cfg(), 0, 0, &report);
  spdlog::set_default_logger(previous);
  ASSERT_EQ(report.actions.size(), 1u);
  EXPECT_NE(captured.str().find("warning|storage: " + (trial.path() / "log").string() + ": " + report.actions[0]), std::string::npos)
      << captured.str();
}

TEST(Recovery, TornWriteAfterTheRecoveryPointIsCut) {
  const auto& p = pristine();
  TempDir trial;
  p.copy_to(trial.path() / "log");
  // A crash in the middle of appending the next batch leaves a prefix of it on disk.
  auto next = simple_batch(3);
  next.resize(next.size() / 2);
  auto file = trial.path() / "log" / p.segments.back();
  auto bytes = slurp(file);
  bytes.insert(bytes.end(), next.begin(), next.end());
  spit(file, bytes);
  RecoveryReport report;
  auto log = Log::open(trial.path() / "log", cfg(), 0, p.leo, &report);
  EXPECT_EQ(log->log_end_offset(), p.leo);
  EXPECT_EQ(report.truncated_bytes, static_cast<int64_t>(next.size()));
  ASSERT_EQ(report.actions.size(), 1u);
  EXPECT_NE(report.actions[0].find(fmt::format("truncated {} bytes at offset {} in segment {}", next.size(), p.leo, p.segments.back())),
            std::string::npos)
      << report.actions[0];
  EXPECT_EQ(log->read(0, 1 << 20, INT64_MAX, false).second.records, concat(p.stored(), 0));
}

TEST(Recovery, MiddleSegmentDamageDeletesLaterSegments) {
  const auto& p = pristine();
  TempDir trial;
  p.copy_to(trial.path() / "log");
  size_t seg = 2;
  size_t first_in_seg = 0;
  while (p.batches[first_in_seg].segment != seg) ++first_in_seg;
  const auto& b = p.batches[first_in_seg + 1];
  ASSERT_EQ(b.segment, seg);
  auto file = trial.path() / "log" / p.segments[seg];
  auto bytes = slurp(file);
  bytes[b.position + 40] ^= 0xff;
  spit(file, bytes);
  RecoveryReport report;
  auto log = Log::open(trial.path() / "log", cfg(), 0, 0, &report);
  EXPECT_EQ(log->log_end_offset(), b.batch.base);
  EXPECT_TRUE(mentions(report, "CRC-32C mismatch"));
  for (size_t s = seg + 1; s < p.segments.size(); ++s) {
    EXPECT_TRUE(mentions(report, "deleted segment " + p.segments[s])) << p.segments[s];
    EXPECT_FALSE(fs::exists(trial.path() / "log" / p.segments[s]));
  }
}

TEST(Recovery, LogStartBeyondWhatSurvivedRestartsEmpty) {
  const auto& p = pristine();
  TempDir trial;
  p.copy_to(trial.path() / "log");
  RecoveryReport report;
  auto log = Log::open(trial.path() / "log", cfg(), p.leo + 100, p.leo, &report);
  EXPECT_EQ(log->log_start_offset(), p.leo + 100);
  EXPECT_EQ(log->log_end_offset(), p.leo + 100);
  EXPECT_TRUE(mentions(report, "restarts empty"));
  EXPECT_EQ(append_ok(*log, simple_batch(1)).base, p.leo + 100);
}

class IndexDamage : public ::testing::Test {
 protected:
  void SetUp() override { pristine().copy_to(trial_.path() / "log"); }
  fs::path file(size_t seg, const char* ext) const {
    auto name = pristine().segments[seg];
    return trial_.path() / "log" / (name.substr(0, 20) + ext);
  }
  // Opens as after a clean shutdown, so only the indexes can explain any repair.
  void reopen_and_check(size_t seg, bool expect_rebuilt) {
    const auto& p = pristine();
    RecoveryReport report;
    auto log = Log::open(trial_.path() / "log", cfg(), 0, p.leo, &report);
    EXPECT_EQ(mentions(report, "rebuilt index of segment " + p.segments[seg]), expect_rebuilt);
    EXPECT_EQ(report.truncated_bytes, 0);
    auto stored = p.stored();
    for (size_t k = 0; k < stored.size(); ++k) {
      ASSERT_EQ(log->read(stored[k].base, 1 << 20, INT64_MAX, false).second.records, concat(stored, k)) << k;
      ASSERT_EQ(log->read(stored[k].last, 1 << 20, INT64_MAX, false).second.records, concat(stored, k)) << k;
    }
    auto ts = log->offset_for_timestamp(10'000 + 50 * 30);
    ASSERT_TRUE(ts);
    EXPECT_EQ(ts->first, stored[30].base);
    log->close();
    if (expect_rebuilt) {
      EXPECT_EQ(slurp(file(seg, ".index")), slurp(pristine_index(seg)));
    }
  }
  fs::path pristine_index(size_t seg) const {
    return pristine().dir.path() / (pristine().segments[seg].substr(0, 20) + ".index");
  }
  TempDir trial_;
};

TEST_F(IndexDamage, PristineIndexesAreNonTrivial) {
  // The damage below needs several segments with several index entries each.
  ASSERT_GE(pristine().segments.size(), 6u);
  for (size_t s = 0; s + 1 < pristine().segments.size(); ++s) EXPECT_GE(fs::file_size(pristine_index(s)), 24u) << s;
}

TEST_F(IndexDamage, MissingIndexIsRebuilt) {
  fs::remove(file(1, ".index"));
  reopen_and_check(1, true);
}

TEST_F(IndexDamage, MissingTimeIndexIsRebuilt) {
  fs::remove(file(3, ".timeindex"));
  reopen_and_check(3, true);
}

TEST_F(IndexDamage, PartialEntryIsRebuilt) {
  auto bytes = slurp(file(2, ".index"));
  bytes.resize(bytes.size() - 3);
  spit(file(2, ".index"), bytes);
  reopen_and_check(2, true);
}

TEST_F(IndexDamage, NonMonotonicEntriesAreRebuilt) {
  auto bytes = slurp(file(0, ".index"));
  ASSERT_GE(bytes.size(), 16u);
  std::swap_ranges(bytes.begin(), bytes.begin() + 8, bytes.begin() + 8);
  spit(file(0, ".index"), bytes);
  reopen_and_check(0, true);
}

TEST_F(IndexDamage, EntryPastTheLogIsRebuilt) {
  auto bytes = slurp(file(1, ".index"));
  bytes.insert(bytes.end(), {0, 0, 0x7f, 0, 0, 0x7f, 0, 0});
  spit(file(1, ".index"), bytes);
  reopen_and_check(1, true);
}

TEST_F(IndexDamage, LastEntryNamingTheWrongBatchIsRebuilt) {
  auto bytes = slurp(file(2, ".index"));
  bytes[bytes.size() - 5] ^= 0x01;  // relative offset of the last entry
  spit(file(2, ".index"), bytes);
  reopen_and_check(2, true);
}

TEST_F(IndexDamage, GarbageTimeIndexIsRebuilt) {
  spit(file(4, ".timeindex"), std::vector<uint8_t>(24, 0xee));
  reopen_and_check(4, true);
}

TEST_F(IndexDamage, WrongMiddleEntryStillReadsCorrectly) {
  // Structurally plausible (monotonic, inside the file) but not a batch boundary: the read path
  // checks the batch an entry points at and falls back to scanning.
  auto bytes = slurp(file(1, ".index"));
  ASSERT_GE(bytes.size(), 24u);
  bytes[8 + 7] ^= 0x01;  // position of the second entry, off by one
  spit(file(1, ".index"), bytes);
  reopen_and_check(1, false);
}

TEST_F(IndexDamage, StrayFilesAreRemoved) {
  spit(trial_.path() / "log" / "00000000000099999999.index", std::vector<uint8_t>(8, 0));
  spit(trial_.path() / "log" / "00000000000000000000.log.deleted", std::vector<uint8_t>(8, 0));
  RecoveryReport report;
  auto log = Log::open(trial_.path() / "log", cfg(), 0, pristine().leo, &report);
  EXPECT_FALSE(fs::exists(trial_.path() / "log" / "00000000000099999999.index"));
  EXPECT_FALSE(fs::exists(trial_.path() / "log" / "00000000000000000000.log.deleted"));
  EXPECT_TRUE(mentions(report, "00000000000099999999.index"));
  EXPECT_EQ(log->log_end_offset(), pristine().leo);
}

}  // namespace
}  // namespace ferry::storage
