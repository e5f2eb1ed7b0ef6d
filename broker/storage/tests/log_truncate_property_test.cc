// Log::truncate_to / truncate_fully_and_start_at against a model: seeded random histories of
// appends, follower appends with gaps, truncations, DeleteRecords, flushes and clean or crash
// reopens, each step checked against an in-memory model of the batches (FERRY_PROPERTY_SEED
// replays one). The hand cases are in log_truncate_test.cc.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <random>
#include <set>
#include <stdexcept>

#include "common/testing/property_seed.h"
#include "broker/storage/log.h"
#include "broker/storage/tests/batch_builder.h"

namespace ferry::storage {
namespace {

using namespace ferry::storage::testing;
namespace fs = std::filesystem;

struct ModelBatch {
  int64_t base;
  int64_t last;
  std::vector<uint8_t> bytes;
};

// What the log should hold. Its epoch history follows LeaderEpochCache's rules (tested on their
// own), so the test checks that the log feeds it the right offsets and that it survives restarts.
struct Model {
  std::vector<ModelBatch> batches;  // every batch on disk, including those below the log start
  int64_t first_base = 0;           // base offset of the first segment
  int64_t lso = 0;
  int64_t leo = 0;
  std::vector<EpochEntry> epochs;

  void assign(int32_t epoch, int64_t at) {
    if (!epochs.empty() && epochs.back().epoch == epoch && epochs.back().start_offset <= at) return;
    std::erase_if(epochs, [&](const EpochEntry& e) { return e.epoch >= epoch || e.start_offset >= at; });
    epochs.push_back({epoch, at});
  }
  void epochs_from_start(int64_t start) {
    size_t covered = 0;
    while (covered < epochs.size() && epochs[covered].start_offset <= start) ++covered;
    if (covered == 0) return;
    EpochEntry last{epochs[covered - 1].epoch, start};
    epochs.erase(epochs.begin(), epochs.begin() + static_cast<std::ptrdiff_t>(covered));
    epochs.insert(epochs.begin(), last);
  }
  void restart(int64_t at) {
    batches.clear();
    epochs.clear();
    first_base = lso = leo = at;
  }
  // The rule of Log::truncate_to; false when nothing changes.
  bool truncate(int64_t offset) {
    if (offset >= leo) return false;
    if (offset < lso || offset <= first_base) {
      restart(offset);
      return true;
    }
    size_t kept = 0;
    while (kept < batches.size() && batches[kept].last < offset) ++kept;
    const int64_t new_leo = kept == 0 ? first_base : batches[kept - 1].last + 1;
    if (new_leo < lso) {
      restart(offset);
      return true;
    }
    batches.resize(kept);
    std::erase_if(epochs, [&](const EpochEntry& e) { return e.start_offset >= new_leo; });
    leo = new_leo;
    return true;
  }
  std::vector<uint8_t> from(int64_t offset) const {
    std::vector<uint8_t> out;
    for (const auto& b : batches) {
      if (b.last >= offset) out.insert(out.end(), b.bytes.begin(), b.bytes.end());
    }
    return out;
  }
};

void check(const Log& log, const Model& m, const fs::path& dir, std::mt19937_64& rng) {
  ASSERT_EQ(log.log_start_offset(), m.lso);
  ASSERT_EQ(log.log_end_offset(), m.leo);
  ASSERT_EQ(log.epoch_entries(), m.epochs);
  ASSERT_EQ(read_all(log, m.lso), m.from(m.lso));
  if (m.leo > m.lso) {
    const int64_t o = m.lso + static_cast<int64_t>(rng() % static_cast<uint64_t>(m.leo - m.lso));
    ASSERT_EQ(read_all(log, o), m.from(o)) << "read at " << o;
  }
  ASSERT_EQ(log.read(m.leo + 1, 1 << 20, INT64_MAX, true).first, errc::offset_out_of_range);
  if (!m.epochs.empty()) {
    ASSERT_EQ(log.end_offset_for_epoch(m.epochs.back().epoch), std::make_pair(m.epochs.back().epoch, m.leo));
    for (size_t i = 0; i + 1 < m.epochs.size(); ++i) {
      ASSERT_EQ(log.end_offset_for_epoch(m.epochs[i].epoch), std::make_pair(m.epochs[i].epoch, m.epochs[i + 1].start_offset));
    }
  }
  ASSERT_LE(log.recovery_point(), m.leo);
  ASSERT_GE(log.cleaner_checkpoint(), m.lso);
  ASSERT_LE(log.cleaner_checkpoint(), m.leo);
  auto bases = segment_bases(dir);
  ASSERT_FALSE(bases.empty());
  ASSERT_EQ(*bases.begin(), m.first_base);
  ASSERT_LE(*bases.rbegin(), m.leo);
}

// A scratch directory on tmpfs (/dev/shm) when there is one, else in the temp dir. The random
// histories below fsync on every roll, truncation and epoch change; on a disk that costs ~4 ms a
// call, and the model check does not depend on durability (a "crash" here keeps the page cache).
class ScratchDir {
 public:
  ScratchDir() {
    for (const fs::path& base : {fs::path("/dev/shm"), fs::temp_directory_path()}) {
      std::string tmpl = (base / "ferry-truncate-XXXXXX").string();
      if (::mkdtemp(tmpl.data())) {
        path_ = tmpl;
        on_tmpfs_ = base == fs::path("/dev/shm");
        return;
      }
    }
    throw std::runtime_error("mkdtemp failed");
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const fs::path& path() const { return path_; }
  bool on_tmpfs() const { return on_tmpfs_; }

 private:
  fs::path path_;
  bool on_tmpfs_ = false;
};

TEST(LogTruncate, RandomHistoriesOfAppendsTruncationsAndRestartsMatchAModel) {
  for (uint64_t seed : ferry::testing::property_seeds(ferry::testing::first_seeds(200))) {
    SCOPED_TRACE(ferry::testing::seed_trace(seed));
    std::mt19937_64 rng(seed);
    auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
    ScratchDir tmp;
    const fs::path dir = tmp.path() / "p";
    // The same seed replays the same history; on a disk only its first steps, to stay fast.
    const int steps = tmp.on_tmpfs() ? 60 : 5;
    LogConfig cfg;
    cfg.segment_bytes = pick(700, 2500);
    cfg.index_interval_bytes = static_cast<int32_t>(pick(0, 400));
    auto log = Log::open(dir, cfg, 0, 0, nullptr);
    Model m;
    int32_t epoch = 0;
    int64_t ts = 1'000;
    int64_t highest_rp = 0;
    for (int step = 0; step < steps; ++step) {
      SCOPED_TRACE("step " + std::to_string(step));
      const int64_t op = pick(0, 99);
      if (op < 35) {  // a leader appends
        epoch += pick(0, 3) == 0 ? 1 : 0;
        BatchSpec spec = simple_spec(static_cast<int>(pick(1, 5)), ts += 100, static_cast<size_t>(pick(1, 40)));
        auto blob = encode_batch(spec);
        auto [e, res] = log->append(blob, headers_of(blob), epoch, 0);
        ASSERT_EQ(e, errc::ok) << to_string(e);
        m.assign(epoch, res.base_offset);
        m.batches.push_back({res.base_offset, res.last_offset, blob});
        m.leo = res.last_offset + 1;
      } else if (op < 50) {  // a follower appends what the leader sent: one or two batches, maybe a gap
        epoch += pick(0, 3) == 0 ? 1 : 0;
        std::vector<uint8_t> blob;
        std::vector<ModelBatch> added;
        int64_t base = m.leo;
        for (int64_t n = pick(1, 2); n > 0; --n) {
          BatchSpec spec = simple_spec(static_cast<int>(pick(1, 5)), ts += 100, static_cast<size_t>(pick(1, 30)));
          spec.base_offset = base;
          spec.partition_leader_epoch = epoch;
          auto b = encode_batch(spec);
          const int64_t last = base + static_cast<int64_t>(spec.records.size()) - 1;
          added.push_back({base, last, b});
          blob.insert(blob.end(), b.begin(), b.end());
          base = last + 1 + pick(0, 3);
        }
        auto [e, res] = log->append_with_offsets(blob, headers_of(blob));
        ASSERT_EQ(e, errc::ok) << to_string(e);
        for (auto& b : added) {
          m.assign(epoch, b.base);
          m.leo = b.last + 1;
          m.batches.push_back(std::move(b));
        }
      } else if (op < 75) {  // truncate: below the start, at it, inside or between batches, at or past the end
        int64_t offset;
        const int64_t kind = pick(0, 9);
        if (kind == 0) {
          offset = pick(0, m.lso);
        } else if (kind == 1) {
          offset = m.leo + pick(0, 3);
        } else if (kind <= 4 && !m.batches.empty()) {
          offset = m.batches[static_cast<size_t>(pick(0, static_cast<int64_t>(m.batches.size()) - 1))].base;
        } else {
          offset = pick(m.lso, m.leo);
        }
        SCOPED_TRACE("truncate_to " + std::to_string(offset));
        const bool changes = m.truncate(offset);
        ASSERT_EQ(log->truncate_to(offset), std::make_pair(errc::ok, changes));
      } else if (op < 80) {
        const int64_t offset = pick(0, m.leo + 20);
        ASSERT_EQ(log->truncate_fully_and_start_at(offset), errc::ok);
        m.restart(offset);
      } else if (op < 87) {  // DeleteRecords
        const int64_t offset = pick(m.lso, m.leo);
        ASSERT_EQ(log->delete_records_before(offset), std::make_pair(errc::ok, offset));
        if (offset > m.lso) {
          m.lso = offset;
          m.epochs_from_start(offset);
        }
      } else if (op < 92) {
        log->flush();
      } else {  // restart: clean, or a crash with the recovery point the broker last checkpointed
        const int64_t rp = log->recovery_point();
        highest_rp = std::max(highest_rp, rp);
        const int64_t kind = pick(0, 2);
        if (kind == 0) {
          log->close();
        }
        log.reset();
        const int64_t checkpoint = kind == 2 ? highest_rp : pick(0, rp);
        log = Log::open(dir, cfg, m.lso, checkpoint, nullptr);
        // What open() does to the history of a log whose end or start moved since it was written.
        std::erase_if(m.epochs, [&](const EpochEntry& e) { return e.start_offset >= m.leo; });
        m.epochs_from_start(m.lso);
      }
      highest_rp = std::max(highest_rp, log->recovery_point());
      check(*log, m, dir, rng);
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
}

}  // namespace
}  // namespace ferry::storage
