// Log compaction (cleanup.policy=compact): Kafka docs "Log Compaction", KIP-58 (min.compaction.lag.ms),
// KIP-534 (delete horizon). Every test works on real files and checks what a consumer would read.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <random>
#include <thread>

#include "broker/storage/batch_records.h"
#include "broker/storage/log.h"
#include "broker/storage/segment.h"
#include "broker/storage/tests/batch_builder.h"

namespace ferry::storage {
namespace {

using namespace ferry::storage::testing;
namespace fs = std::filesystem;

struct Rec {
  int64_t offset;
  std::optional<std::string> key;
  std::optional<std::string> value;
  int64_t ts;
  bool operator==(const Rec&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Rec& r) {
  return os << "{" << r.offset << " " << r.key.value_or("<null>") << "=" << r.value.value_or("<null>") << " @" << r.ts << "}";
}

LogConfig compact_cfg() {
  LogConfig c;
  c.compact = true;
  c.delete_retention = false;
  c.segment_bytes = 1024;
  c.index_interval_bytes = 128;
  c.retention_ms = -1;
  return c;
}

std::optional<std::string> str(const uint8_t* p, int32_t n) {
  if (n < 0) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(n));
}

// A consumer: fetches from `from` to the log end, checks every batch's CRC and that offsets
// strictly increase, and returns the data records it saw. Batch headers go to *headers.
std::vector<Rec> consume(const Log& log, int64_t from, std::vector<BatchHeader>* headers = nullptr) {
  std::vector<Rec> out;
  int64_t next = from, last_seen = -1;
  const int64_t end = log.log_end_offset();
  while (next < end) {
    auto [e, data] = log.read(next, 4096, end, true);
    EXPECT_EQ(e, errc::ok);
    if (e != errc::ok || data.records.empty()) break;
    size_t pos = 0;
    while (pos < data.records.size()) {
      auto h = parse_batch_header(data.records.data() + pos, data.records.size() - pos);
      EXPECT_TRUE(h && pos + h->size_in_bytes() <= data.records.size());
      if (!h || pos + h->size_in_bytes() > data.records.size()) return out;
      const uint8_t* b = data.records.data() + pos;
      EXPECT_EQ(compute_batch_crc(b, h->size_in_bytes()), h->crc) << "batch at " << h->base_offset;
      pos += h->size_in_bytes();
      if (h->last_offset() < next) continue;
      if (headers) headers->push_back(*h);
      std::vector<uint8_t> scratch;
      std::string err = for_each_record(b, h->size_in_bytes(), *h, false, scratch, [&](const RecordView& r) {
        int64_t off = h->base_offset + r.offset_delta;
        EXPECT_GT(off, last_seen);
        EXPECT_LE(off, h->last_offset());
        last_seen = off;
        if (off >= next && !h->is_control()) {
          int64_t ts = h->is_log_append_time() ? h->max_timestamp : h->base_timestamp + r.timestamp_delta;
          out.push_back({off, str(r.key, r.key_length), str(r.value, r.value_length), ts});
        }
        return true;
      });
      EXPECT_EQ(err, "");
      next = h->last_offset() + 1;
    }
  }
  return out;
}

// Produces one batch of `recs` (offsets filled in from the log) and appends them to *model.
void produce(Log& log, std::vector<Rec> recs, std::vector<Rec>* model, int codec = 0) {
  BatchSpec s;
  s.base_timestamp = recs.front().ts;
  s.codec = codec;
  for (const auto& r : recs) s.records.push_back({r.key, r.value, {}, r.ts - s.base_timestamp});
  auto stored = append_ok(log, encode_batch(s), recs.front().ts);
  for (size_t i = 0; i < recs.size(); ++i) {
    recs[i].offset = stored.base + static_cast<int64_t>(i);
    model->push_back(recs[i]);
  }
}

Rec kv(const std::string& k, std::optional<std::string> v, int64_t ts) { return {0, k, std::move(v), ts}; }

// What a pass with dirty section [from, end) must leave: below `end`, a keyed record survives iff
// no later record below `end` (and at or after `from`) has its key; tombstones are left alone here.
std::vector<Rec> compact_model(const std::vector<Rec>& recs, int64_t from, int64_t end) {
  std::map<std::string, int64_t> latest;
  for (const auto& r : recs) {
    if (r.key && r.offset >= from && r.offset < end) latest[*r.key] = r.offset;
  }
  std::vector<Rec> out;
  for (const auto& r : recs) {
    if (r.offset < end && r.key && latest.count(*r.key) && latest[*r.key] > r.offset) continue;
    out.push_back(r);
  }
  return out;
}

int64_t active_base(const fs::path& dir) {
  auto logs = files_with_ext(dir, ".log");
  return std::stoll(logs.back().substr(0, 20));
}

TEST(Compaction, ManyUpdatesToFewKeysLeaveTheLatestPerKey) {
  TempDir dir;
  auto log = Log::open(dir.path(), compact_cfg(), 0, 0, nullptr);
  std::vector<Rec> model;
  for (int i = 0; i < 300; ++i) produce(*log, {kv("k" + std::to_string(i % 7), "v" + std::to_string(i), 1'000 + i)}, &model);
  const int64_t leo = log->log_end_offset();
  const int64_t before = log->size_bytes();
  ASSERT_GT(files_with_ext(dir.path(), ".log").size(), 5u);

  CleanResult r = log->clean(10'000);
  ASSERT_EQ(r.error, errc::ok);
  EXPECT_EQ(r.first_dirty_offset, 0);
  EXPECT_EQ(r.end_offset, active_base(dir.path()));
  EXPECT_EQ(r.keys, 7);
  EXPECT_GT(r.segments_rewritten, 0);
  EXPECT_LT(log->size_bytes(), before);
  EXPECT_EQ(log->log_end_offset(), leo);
  EXPECT_EQ(log->cleaner_checkpoint(), r.end_offset);
  EXPECT_EQ(descriptors_in(dir.path()), 1) << "only the active segment's; not the copies', not the replaced ones'";

  auto expected = compact_model(model, 0, r.end_offset);
  std::vector<Rec> below;
  for (const auto& x : consume(*log, 0)) {
    if (x.offset < r.end_offset) below.push_back(x);
  }
  ASSERT_EQ(below.size(), 7u) << "exactly one record per key below the active segment";
  EXPECT_EQ(consume(*log, 0), expected);
  EXPECT_EQ(r.records_removed, static_cast<int64_t>(model.size() - expected.size()));

  // A fetch at any offset, kept or removed, starts with what a consumer positioned there must see.
  for (int64_t o = 0; o < leo; ++o) {
    std::vector<Rec> tail;
    for (const auto& x : expected) {
      if (x.offset >= o) tail.push_back(x);
    }
    ASSERT_EQ(consume(*log, o), tail) << "from offset " << o;
  }

  log->close();
  RecoveryReport report;
  auto again = Log::open(dir.path(), compact_cfg(), 0, leo, &report, r.end_offset);
  EXPECT_TRUE(report.actions.empty()) << report.actions.front();
  EXPECT_EQ(again->log_end_offset(), leo);
  EXPECT_EQ(consume(*again, 0), expected);
}

TEST(Compaction, RepeatedPassesMatchTheModelAndStayIncreasing) {
  TempDir dir;
  auto log = Log::open(dir.path(), compact_cfg(), 0, 0, nullptr);
  std::mt19937 rng(7);
  std::vector<Rec> model;
  int64_t ts = 1'000;
  for (int round = 0; round < 6; ++round) {
    for (int i = 0; i < 60; ++i) {
      std::vector<Rec> batch;
      int n = 1 + static_cast<int>(rng() % 3);
      for (int j = 0; j < n; ++j) {
        // A few keyless records: the cleaner keeps them.
        Rec r = kv("key-" + std::to_string(rng() % 12), "r" + std::to_string(round) + "-" + std::to_string(i), ts++);
        if (rng() % 20 == 0) r.key.reset();
        batch.push_back(r);
      }
      produce(*log, batch, &model, static_cast<int>(rng() % 5));
    }
    const int64_t from = log->cleaner_checkpoint();
    CleanResult r = log->clean(ts);
    ASSERT_EQ(r.error, errc::ok);
    ASSERT_EQ(r.first_dirty_offset, from);
    model = compact_model(model, from, r.end_offset);
    ASSERT_EQ(consume(*log, 0), model) << "round " << round;
  }
}

TEST(Compaction, TombstonesGoOnlyAfterDeleteRetention) {
  TempDir dir;
  LogConfig cfg = compact_cfg();
  cfg.delete_retention_ms = 5'000;
  auto log = Log::open(dir.path(), cfg, 0, 0, nullptr);
  std::vector<Rec> model;
  produce(*log, {kv("a", "1", 100), kv("b", "1", 101)}, &model);
  produce(*log, {kv("a", std::nullopt, 102), kv("c", "1", 103)}, &model);
  for (int i = 0; i < 40; ++i) produce(*log, {kv("f" + std::to_string(i % 3), "x", 200 + i)}, &model);
  const int64_t tombstone = 2;

  auto has = [&](const Log& l, int64_t off) {
    for (const auto& x : consume(l, 0)) {
      if (x.offset == off) return true;
    }
    return false;
  };
  // First pass: "a"=1 is superseded, the tombstone stays and its batch gets a horizon.
  CleanResult r = log->clean(10'000);
  ASSERT_EQ(r.error, errc::ok);
  EXPECT_FALSE(has(*log, 0));
  EXPECT_TRUE(has(*log, tombstone));
  std::vector<BatchHeader> hs;
  auto recs = consume(*log, 0, &hs);
  ASSERT_FALSE(hs.empty());
  const BatchHeader& tb = hs[0].last_offset() >= tombstone ? hs[0] : hs[1];
  EXPECT_TRUE(tb.attributes & batch_attr::delete_horizon);
  EXPECT_EQ(tb.base_timestamp, 15'000);
  for (const auto& x : recs) {
    if (x.offset == tombstone) {
      EXPECT_EQ(x.ts, 102) << "record timestamps survive the rebase";
    }
  }
  EXPECT_FALSE(log->clean_due(14'999));
  EXPECT_TRUE(log->clean_due(15'000)) << "a passed horizon makes a pass due";

  EXPECT_EQ(log->clean(14'999).tombstones_removed, 0);
  EXPECT_TRUE(has(*log, tombstone));
  CleanResult late = log->clean(15'000);
  EXPECT_EQ(late.tombstones_removed, 1);
  EXPECT_FALSE(has(*log, tombstone));
  EXPECT_TRUE(has(*log, 3)) << "c=1 shares the batch and stays";
  EXPECT_FALSE(log->clean_due(100'000));
}

TEST(Compaction, MinCompactionLagKeepsYoungSegments) {
  TempDir dir;
  LogConfig cfg = compact_cfg();
  cfg.min_compaction_lag_ms = 10'000;
  auto log = Log::open(dir.path(), cfg, 0, 0, nullptr);
  std::vector<Rec> model;
  for (int i = 0; i < 30; ++i) produce(*log, {kv("k" + std::to_string(i % 3), "old" + std::to_string(i), 1'000 + i)}, &model);
  log->roll_if_due(INT64_MAX / 2);
  const int64_t young_start = log->log_end_offset();
  for (int i = 0; i < 30; ++i) produce(*log, {kv("k" + std::to_string(i % 3), "new" + std::to_string(i), 50'000 + i)}, &model);

  // At 55'000 the old records are 54 s old, the new ones 5 s: only segments holding nothing
  // younger than the 10 s lag are cleaned, and the new records supersede nothing yet.
  CleanResult r = log->clean(55'000);
  ASSERT_EQ(r.error, errc::ok);
  EXPECT_EQ(r.end_offset, young_start);
  model = compact_model(model, 0, young_start);
  EXPECT_EQ(consume(*log, 0), model);
  for (const auto& x : model) {
    if (x.offset >= young_start) continue;
    EXPECT_EQ(x.value->substr(0, 3), "old");
  }
  size_t young = 0;
  for (const auto& x : model) young += x.offset >= young_start;
  EXPECT_EQ(young, 30u) << "records younger than the lag all stay";

  CleanResult later = log->clean(70'000);
  EXPECT_EQ(later.end_offset, active_base(dir.path()));
  model = compact_model(model, young_start, later.end_offset);
  EXPECT_EQ(consume(*log, 0), model);
}

TEST(Compaction, CompressedBatchesAreFilteredAndWrittenUncompressed) {
  TempDir dir;
  LogConfig cfg = compact_cfg();
  cfg.segment_bytes = 4096;
  auto log = Log::open(dir.path(), cfg, 0, 0, nullptr);
  std::vector<Rec> model;
  for (int i = 0; i < 40; ++i) {
    std::vector<Rec> batch;
    for (int j = 0; j < 5; ++j) batch.push_back(kv("k" + std::to_string((i + j) % 4), std::string(30, char('a' + i % 26)), 1'000 + i * 10 + j));
    produce(*log, batch, &model, 1 + i % 4);
  }
  // One batch whose keys nobody else uses: it survives whole and keeps its codec.
  produce(*log, {kv("solo1", "x", 5'000), kv("solo2", "y", 5'001)}, &model, 4);
  for (int i = 0; i < 120; ++i) produce(*log, {kv("tail", "t", 6'000 + i)}, &model);

  CleanResult r = log->clean(10'000);
  ASSERT_EQ(r.error, errc::ok);
  model = compact_model(model, 0, r.end_offset);
  std::vector<BatchHeader> hs;
  EXPECT_EQ(consume(*log, 0, &hs), model);
  bool solo_compressed = false;
  for (const auto& h : hs) {
    if (h.last_offset() >= r.end_offset) continue;
    if (h.record_count == 2 && h.compression() == 4) {
      solo_compressed = true;
    } else {
      EXPECT_EQ(h.compression(), 0) << "batch at " << h.base_offset;
    }
  }
  EXPECT_TRUE(solo_compressed);
}

// A closed log in `orig` and a cleaned copy of it in `cleaned`, whose files stand in for what an
// interrupted cleaner had written.
struct SwapFixture : ::testing::Test {
  TempDir tmp;
  fs::path orig = tmp.path() / "orig", cleaned = tmp.path() / "cleaned";
  std::vector<Rec> before, after;
  int64_t leo = 0, base = 0, second = 0;

  void SetUp() override {
    auto log = Log::open(orig, compact_cfg(), 0, 0, nullptr);
    std::vector<Rec> model;
    for (int i = 0; i < 80; ++i) produce(*log, {kv("k" + std::to_string(i % 4), "v" + std::to_string(i), 1'000 + i)}, &model);
    leo = log->log_end_offset();
    before = consume(*log, 0);
    log->close();
    fs::copy(orig, cleaned, fs::copy_options::recursive);
    auto c = Log::open(cleaned, compact_cfg(), 0, leo, nullptr);
    ASSERT_GT(c->clean(10'000).segments_rewritten, 0);
    after = consume(*c, 0);
    c->close();
    auto logs = files_with_ext(orig, ".log");
    base = std::stoll(logs.at(0).substr(0, 20));
    second = std::stoll(logs.at(1).substr(0, 20));
    ASSERT_NE(first_segment(before), first_segment(after)) << "cleaning changed the first segment";
  }
  fs::path in(const fs::path& d, const char* ext, const std::string& suffix = "") const {
    return d / (Segment::file_name(base, ext) + suffix);
  }
  // The records of the segment the tests tamper with; later segments are the originals.
  std::vector<Rec> first_segment(const std::vector<Rec>& v) const {
    std::vector<Rec> out;
    for (const auto& x : v) {
      if (x.offset < second) out.push_back(x);
    }
    return out;
  }
};

TEST_F(SwapFixture, LeftoverCleanedFilesAreDiscarded) {
  for (const char* ext : {".log", ".index", ".timeindex"}) fs::copy_file(in(cleaned, ext), in(orig, ext, ".cleaned"));
  RecoveryReport report;
  auto log = Log::open(orig, compact_cfg(), 0, leo, &report);
  EXPECT_EQ(consume(*log, 0), before);
  for (const auto& e : fs::directory_iterator(orig)) EXPECT_EQ(e.path().string().find(".cleaned"), std::string::npos);
}

TEST_F(SwapFixture, CommittedSwapIsCompleted) {
  for (const char* ext : {".log", ".index", ".timeindex"}) fs::copy_file(in(cleaned, ext), in(orig, ext, ".swap"));
  RecoveryReport report;
  auto log = Log::open(orig, compact_cfg(), 0, leo, &report);
  ASSERT_EQ(report.actions.size(), 1u);
  EXPECT_NE(report.actions.front().find("completed the interrupted swap"), std::string::npos);
  EXPECT_EQ(first_segment(consume(*log, 0)), first_segment(after));
  EXPECT_EQ(log->log_end_offset(), leo);
}

TEST_F(SwapFixture, SwapInterruptedAfterTheIndexRenamesIsCompleted) {
  fs::copy_file(in(cleaned, ".index"), in(orig, ".index"), fs::copy_options::overwrite_existing);
  fs::copy_file(in(cleaned, ".timeindex"), in(orig, ".timeindex", ".swap"));
  fs::copy_file(in(cleaned, ".log"), in(orig, ".log", ".swap"));
  auto log = Log::open(orig, compact_cfg(), 0, leo, nullptr);
  EXPECT_EQ(first_segment(consume(*log, 0)), first_segment(after));
  for (int64_t o = 0; o < leo; o += 3) EXPECT_EQ(log->read(o, 1 << 16, leo, true).first, errc::ok);
}

TEST_F(SwapFixture, UncommittedIndexSwapsAreDropped) {
  fs::copy_file(in(cleaned, ".index"), in(orig, ".index", ".swap"));
  RecoveryReport report;
  auto log = Log::open(orig, compact_cfg(), 0, leo, &report);
  EXPECT_EQ(consume(*log, 0), before);
  EXPECT_FALSE(fs::exists(in(orig, ".index", ".swap")));
}

TEST(Compaction, CleanerCheckpointSurvivesReopen) {
  TempDir tmp;
  const fs::path dir = tmp.path() / "t-0";
  auto log = Log::open(dir, compact_cfg(), 0, 0, nullptr);
  std::vector<Rec> model;
  for (int i = 0; i < 60; ++i) produce(*log, {kv("k" + std::to_string(i % 5), "v" + std::to_string(i), 1'000 + i)}, &model);
  EXPECT_TRUE(log->clean_due(10'000)) << "everything below the active segment is dirty";
  CleanResult r = log->clean(10'000);
  EXPECT_FALSE(log->clean_due(10'000)) << "nothing new since the pass";
  const fs::path file = tmp.path() / kCleanerCheckpointFile;
  write_offset_checkpoint(file, {{{"t", 0}, log->cleaner_checkpoint()}});
  const int64_t leo = log->log_end_offset();
  log->close();

  int64_t stored = read_offset_checkpoint(file).at({"t", 0});
  EXPECT_EQ(stored, r.end_offset);
  auto again = Log::open(dir, compact_cfg(), 0, leo, nullptr, stored);
  EXPECT_EQ(again->cleaner_checkpoint(), r.end_offset);
  EXPECT_FALSE(again->clean_due(10'000));
  for (int i = 0; i < 60; ++i) produce(*again, {kv("k" + std::to_string(i % 5), "w" + std::to_string(i), 2'000 + i)}, &model);
  EXPECT_TRUE(again->clean_due(10'000));
  CleanResult r2 = again->clean(10'000);
  EXPECT_EQ(r2.first_dirty_offset, r.end_offset) << "the map resumes where the last pass ended";
  model = compact_model(compact_model(model, 0, r.end_offset), r.end_offset, r2.end_offset);
  EXPECT_EQ(consume(*again, 0), model);
  again->close();

  auto reset = Log::open(dir, compact_cfg(), 0, leo, nullptr, leo + 1'000);
  EXPECT_EQ(reset->cleaner_checkpoint(), 0) << "a checkpoint past the log end restarts from the log start";
}

TEST(Compaction, RetentionFollowsTheDeletePolicy) {
  for (bool del : {true, false}) {
    TempDir dir;
    LogConfig cfg = compact_cfg();
    cfg.delete_retention = del;
    cfg.retention_ms = 1'000;
    auto log = Log::open(dir.path(), cfg, 0, 0, nullptr);
    std::vector<Rec> model;
    for (int i = 0; i < 60; ++i) produce(*log, {kv("k" + std::to_string(i), "v", 1'000 + i)}, &model);
    const size_t segments = files_with_ext(dir.path(), ".log").size();
    ASSERT_GT(segments, 2u);
    int deleted = log->apply_retention(100'000);
    if (del) {
      EXPECT_EQ(deleted, static_cast<int>(segments) - 1) << "compact,delete also expires old segments";
      EXPECT_EQ(log->log_start_offset(), active_base(dir.path()));
    } else {
      EXPECT_EQ(deleted, 0) << "compact alone never expires data by age";
      ASSERT_EQ(log->delete_records_before(30).first, errc::ok);
      EXPECT_GT(log->apply_retention(100'000), 0) << "segments below the log start still go";
      EXPECT_EQ(log->log_start_offset(), 30);
    }
    EXPECT_EQ(log->clean(100'000).error, errc::ok);
  }
}

TEST(Compaction, NullKeyDetection) {
  BatchSpec keyed = simple_spec(3);
  const auto keyed_blob = encode_batch(keyed);
  EXPECT_FALSE(has_null_key(keyed_blob.data(), keyed_blob.size()));
  for (int codec = 0; codec <= 4; ++codec) {
    BatchSpec s = simple_spec(3, 1'000, 10, codec);
    s.records[1].key.reset();
    auto blob = encode_batch(keyed);
    auto more = encode_batch(s);
    blob.insert(blob.end(), more.begin(), more.end());
    EXPECT_TRUE(has_null_key(blob.data(), blob.size())) << "codec " << codec;
    // Kafka's RecordError.batchIndex of each keyless record: its index among the blob's records.
    EXPECT_EQ(null_key_records(blob.data(), blob.size()), (std::vector<int32_t>{4})) << "codec " << codec;
  }
  BatchSpec two = simple_spec(4);
  two.records[0].key.reset();
  two.records[3].key.reset();
  const auto two_blob = encode_batch(two);
  EXPECT_EQ(null_key_records(two_blob.data(), two_blob.size()), (std::vector<int32_t>{0, 3}));
}

TEST(Compaction, ControlBatchesAndAProducersLastBatchSurvive) {
  TempDir dir;
  auto log = Log::open(dir.path(), compact_cfg(), 0, 0, nullptr);
  std::vector<Rec> model;
  // An idempotent producer's only batch, entirely superseded later.
  BatchSpec s;
  s.records.push_back({"p", "1", {}, 0});
  auto blob = encode_batch(s);
  for (size_t i = 0; i < 8; ++i) blob[batch_field::producer_id + i] = i == 7 ? 42 : 0;
  rewrite_batch_crc(blob.data(), blob.size());
  append_ok(*log, blob, 1'000);
  // A commit marker (control batch with a key), appended with its offset as replication would.
  BatchSpec m;
  m.base_offset = log->log_end_offset();
  m.extra_attributes = batch_attr::control | batch_attr::transactional;
  m.records.push_back({std::string("\0\0\0\1", 4), std::string("\0\0\0\0\0\0", 6), {}, 0});
  auto marker = encode_batch(m);
  auto mh = parse_batch_header(marker.data(), marker.size());
  ASSERT_EQ(log->append_with_offsets(marker, {*mh}).first, errc::ok);
  for (int i = 0; i < 40; ++i) produce(*log, {kv("p", "v" + std::to_string(i), 2'000 + i)}, &model);

  ASSERT_EQ(log->clean(10'000).error, errc::ok);
  std::vector<BatchHeader> hs;
  auto recs = consume(*log, 0, &hs);
  ASSERT_GE(hs.size(), 2u);
  EXPECT_EQ(hs[0].base_offset, 0);
  EXPECT_EQ(hs[0].producer_id, 42);
  EXPECT_EQ(hs[0].record_count, 0) << "kept as an empty batch";
  EXPECT_TRUE(hs[1].is_control());
  EXPECT_EQ(hs[1].base_offset, 1);
  for (const auto& x : recs) EXPECT_NE(x.offset, 0);
}

TEST(Compaction, ReadersDuringCleaningSeeConsistentData) {
  TempDir dir;
  auto log = Log::open(dir.path(), compact_cfg(), 0, 0, nullptr);
  std::vector<Rec> model;
  for (int i = 0; i < 200; ++i) produce(*log, {kv("k" + std::to_string(i % 9), "v" + std::to_string(i), 1'000 + i)}, &model);
  std::map<std::string, std::string> newest;
  for (const auto& x : model) newest[*x.key] = *x.value;
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    while (!stop) {
      // Whatever phase the cleaner is in, each key's newest value is there.
      std::map<std::string, std::string> last;
      for (const auto& x : consume(*log, 0)) last[*x.key] = *x.value;
      for (const auto& [k, v] : newest) ASSERT_EQ(last[k], v) << k;
    }
  });
  for (int round = 0; round < 3; ++round) {
    EXPECT_EQ(log->clean(10'000 + round).error, errc::ok);
    produce(*log, {kv("extra" + std::to_string(round), "x", 5'000)}, &model);
  }
  stop = true;
  reader.join();
}

}  // namespace
}  // namespace ferry::storage
