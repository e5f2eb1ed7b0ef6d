#include "mirror/offset_translation.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

using namespace ferry::mirror;

namespace {

using Syncs = std::vector<OffsetSync>;

// Feeds records, collecting every sync the mapping asks to write.
struct Replicator {
  OffsetMapping mapping;
  Syncs written;
  explicit Replicator(size_t max_runs = OffsetMapping::kDefaultMaxRuns, int64_t resync_every = 0)
      : mapping(max_runs, resync_every) {}
  Syncs record(int64_t u, int64_t d) {
    Syncs out = mapping.record(u, d);
    written.insert(written.end(), out.begin(), out.end());
    return out;
  }
  void run(int64_t u, int64_t d, int64_t n) {
    for (int64_t i = 0; i < n; ++i) record(u + i, d + i);
  }
};

// What a committed offset must translate to, computed by brute force from every replicated
// (upstream, downstream) record: the downstream offset of the first record at or after u.
struct Reference {
  std::vector<OffsetSync> records;
  int64_t processed_end = 0;

  std::optional<int64_t> translate(int64_t u, int64_t target_next, int64_t first_known) const {
    if (records.empty() || u < first_known) return std::nullopt;
    for (const auto& r : records)
      if (r.upstream_offset >= u) return r.downstream_offset;
    if (u > processed_end) return std::nullopt;
    return std::max(records.back().downstream_offset + 1, target_next);
  }
  // Upstream offsets where a run (maximal stretch contiguous on both sides) starts.
  std::vector<int64_t> run_starts() const {
    std::vector<int64_t> out;
    for (size_t i = 0; i < records.size(); ++i)
      if (i == 0 || records[i].upstream_offset != records[i - 1].upstream_offset + 1 ||
          records[i].downstream_offset != records[i - 1].downstream_offset + 1)
        out.push_back(records[i].upstream_offset);
    return out;
  }
};

// Random replication history: mostly contiguous records, with gaps upstream (compaction,
// transaction markers, filtered records), gaps downstream (foreign records on the target), both
// (equal and unequal), and advance() calls past records that are never replicated.
struct History {
  std::vector<OffsetSync> records;
  std::vector<std::pair<size_t, int64_t>> advances;  // before records[i], advance(to)
};

History random_history(std::mt19937_64& rng, size_t n) {
  History h;
  int64_t u = static_cast<int64_t>(rng() % 50), d = static_cast<int64_t>(rng() % 50);
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) {
      int64_t du = 1, dd = 1;
      switch (rng() % 10) {
        case 0:
          du += 1 + static_cast<int64_t>(rng() % 4);
          break;
        case 1:
          dd += 1 + static_cast<int64_t>(rng() % 4);
          break;
        case 2:
          du = dd = 2 + static_cast<int64_t>(rng() % 4);
          break;
        case 3:
          du += 1 + static_cast<int64_t>(rng() % 4);
          dd += 1 + static_cast<int64_t>(rng() % 4);
          break;
        default:
          break;
      }
      if (rng() % 15 == 0 && du > 1) h.advances.push_back({i, u + 1 + static_cast<int64_t>(rng() % du)});
      u += du;
      d += dd;
    }
    h.records.push_back({u, d});
  }
  return h;
}

void expect_same_translations(const OffsetMapping& got, const OffsetMapping& want, int64_t from, int64_t to,
                              const char* what) {
  int64_t last_d = want.last_recorded() ? want.last_recorded()->downstream_offset : 0;
  for (int64_t u = from; u <= to; ++u)
    for (int64_t tn : {int64_t{0}, last_d + 1, last_d + 9})
      ASSERT_EQ(got.translate(u, tn), want.translate(u, tn)) << what << ": u=" << u << " target_next=" << tn;
}

}  // namespace

TEST(OffsetMapping, ContiguousRunNeedsOneSync) {
  Replicator r;
  EXPECT_EQ(r.record(0, 100), (Syncs{{0, 100}}));
  for (int64_t i = 1; i < 10; ++i) EXPECT_TRUE(r.record(i, 100 + i).empty());
  EXPECT_EQ(r.mapping.translate(0, 0), 100);
  EXPECT_EQ(r.mapping.translate(5, 0), 105);
  EXPECT_EQ(r.mapping.translate(9, 0), 109);
  EXPECT_EQ(r.mapping.run_count(), 1u);
}

// The case MM2 gets wrong by extrapolating: offsets 16..19 were compacted away upstream, so a
// group whose next record is 17 must resume at the copy of record 20.
TEST(OffsetMapping, CompactionGapTranslatesToTheNextReplicatedRecord) {
  Replicator r;
  r.run(10, 110, 6);  // 10..15 -> 110..115
  EXPECT_EQ(r.record(20, 116), (Syncs{{15, 115}, {20, 116}}));
  r.run(21, 117, 2);  // 21..22 -> 117..118
  EXPECT_EQ(r.mapping.translate(15, 0), 115);
  for (int64_t u = 16; u <= 20; ++u) EXPECT_EQ(r.mapping.translate(u, 0), 116) << u;  // not u + 100
  EXPECT_EQ(r.mapping.translate(21, 0), 117);
}

// Foreign records interleaved on the target (a bidirectional identity pair writes both ways).
TEST(OffsetMapping, DownstreamJumpKeepsEveryRecordExact) {
  Replicator r;
  r.run(0, 0, 5);                                      // 0..4 -> 0..4
  EXPECT_EQ(r.record(5, 9), (Syncs{{4, 4}, {5, 9}}));  // 5..8 on the target came from elsewhere
  r.record(6, 10);
  EXPECT_EQ(r.mapping.translate(4, 0), 4);
  EXPECT_EQ(r.mapping.translate(5, 0), 9);
  EXPECT_EQ(r.mapping.translate(6, 0), 10);
}

// Both sides jump by 3: the offset delta does not change, yet 5..7 must not map to 105..107.
// The end of the run is written twice so a reader sees the break.
TEST(OffsetMapping, EqualJumpOnBothSidesIsMarked) {
  Replicator r;
  r.run(0, 100, 5);  // 0..4 -> 100..104
  EXPECT_EQ(r.record(8, 108), (Syncs{{4, 104}, {4, 104}, {8, 108}}));
  for (int64_t u = 5; u <= 8; ++u) EXPECT_EQ(r.mapping.translate(u, 0), 108) << u;
  OffsetMapping reloaded;
  reloaded.load(r.written, SyncHistory::kComplete);
  for (int64_t u = 0; u <= 8; ++u) EXPECT_EQ(reloaded.translate(u, 0), r.mapping.translate(u, 0)) << u;
}

TEST(OffsetMapping, SingleRecordRunsAreWrittenOnce) {
  Replicator r;
  EXPECT_EQ(r.record(0, 0), (Syncs{{0, 0}}));
  EXPECT_EQ(r.record(3, 1), (Syncs{{3, 1}}));          // (0,0) is already written
  EXPECT_EQ(r.record(6, 4), (Syncs{{3, 1}, {6, 4}}));  // equal jump of 3 after a lone record: mark it
  EXPECT_EQ(r.mapping.translate(1, 0), 1);
  EXPECT_EQ(r.mapping.translate(4, 0), 4);
}

TEST(OffsetMapping, RunStartAndEndAreExact) {
  Replicator r;
  r.run(0, 0, 3);                             // run A: 0..2 -> 0..2
  r.run(10, 20, 3);                           // run B: 10..12 -> 20..22
  EXPECT_EQ(r.mapping.translate(0, 0), 0);    // start of A
  EXPECT_EQ(r.mapping.translate(2, 0), 2);    // end of A
  EXPECT_EQ(r.mapping.translate(3, 0), 20);   // just after A: first record of B
  EXPECT_EQ(r.mapping.translate(10, 0), 20);  // start of B
  EXPECT_EQ(r.mapping.translate(12, 0), 22);  // end of B
}

TEST(OffsetMapping, PastTheLastRecordIsTheTargetsNextOffset) {
  Replicator r;
  r.run(0, 0, 10);
  // A group that consumed everything: the next record to replicate lands at the target's end.
  EXPECT_EQ(r.mapping.translate(10, 10), 10);
  EXPECT_EQ(r.mapping.translate(10, 14), 14);  // 4 foreign records appended since
  EXPECT_EQ(r.mapping.translate(10, 3), 10);   // a stale end offset never points into replicated data
  // Offset 11 and later: record 10 may still arrive, so no exact answer yet.
  EXPECT_EQ(r.mapping.translate(11, 10), std::nullopt);
  // Once 10..14 are known not to be replicated (e.g. transaction markers), they translate too.
  r.mapping.advance(15);
  EXPECT_EQ(r.mapping.translate(15, 12), 12);
  EXPECT_EQ(r.mapping.translate(16, 12), std::nullopt);
  EXPECT_EQ(r.mapping.processed_end(), 15);
  EXPECT_THROW(r.record(12, 10), std::invalid_argument);  // below what was declared processed
}

TEST(OffsetMapping, BeforeTheFirstKnownRecordIsUnknown) {
  Replicator r;
  EXPECT_EQ(r.mapping.translate(0, 0), std::nullopt);
  EXPECT_EQ(r.mapping.first_known_upstream(), std::nullopt);
  r.run(50, 0, 5);
  EXPECT_EQ(r.mapping.first_known_upstream(), 50);
  EXPECT_EQ(r.mapping.translate(49, 0), std::nullopt);
  EXPECT_EQ(r.mapping.translate(0, 0), std::nullopt);
  EXPECT_EQ(r.mapping.translate(50, 0), 0);
}

TEST(OffsetMapping, RejectsRecordsOutOfOrder) {
  Replicator r;
  r.record(5, 5);
  EXPECT_THROW(r.record(5, 6), std::invalid_argument);
  EXPECT_THROW(r.record(4, 6), std::invalid_argument);
  EXPECT_THROW(r.record(6, 5), std::invalid_argument);
  EXPECT_THROW(r.record(-1, 7), std::invalid_argument);
  EXPECT_THROW(OffsetMapping(1), std::invalid_argument);
  EXPECT_THROW(OffsetMapping(10, -1), std::invalid_argument);
  EXPECT_EQ(r.mapping.translate(5, 0), 5);  // state unchanged by rejected calls
}

TEST(OffsetMapping, MemoryCapDropsTheOldestRuns) {
  Replicator r(/*max_runs=*/4);
  for (int64_t i = 0; i < 10; ++i) r.run(i * 10, i * 20, 5);  // 10 runs of 5 records
  EXPECT_EQ(r.mapping.run_count(), 4u);
  EXPECT_EQ(r.mapping.first_known_upstream(), 60);
  EXPECT_EQ(r.mapping.translate(59, 0), std::nullopt);
  EXPECT_EQ(r.mapping.translate(62, 0), 122);
  EXPECT_EQ(r.mapping.translate(66, 0), 140);
  EXPECT_EQ(r.written.size(), 19u);  // every run's start and end except the open run's end
}

TEST(OffsetMapping, ResyncEveryBoundsTheReplayWithoutChangingTranslation) {
  Replicator r(OffsetMapping::kDefaultMaxRuns, /*resync_every=*/100);
  r.run(0, 0, 350);
  EXPECT_EQ(r.written, (Syncs{{0, 0}, {100, 100}, {200, 200}, {300, 300}}));
  OffsetMapping reloaded;
  reloaded.load(r.written, SyncHistory::kComplete);
  EXPECT_EQ(reloaded.run_count(), 1u);
  EXPECT_EQ(reloaded.last_recorded(), (OffsetSync{300, 300}));  // 301..349 are replayed from the target
}

TEST(OffsetMapping, AfterLoadTheTailWaitsForConfirmation) {
  Replicator r;
  r.run(0, 0, 10);
  OffsetMapping reloaded;
  reloaded.load(r.written, SyncHistory::kComplete);
  // Only (0,0) was written: records 1..9 are on the target but not yet replayed.
  EXPECT_EQ(reloaded.translate(0, 10), 0);
  EXPECT_EQ(reloaded.translate(1, 10), std::nullopt);  // not 10: that would skip 1..9
  for (int64_t i = 1; i < 10; ++i) EXPECT_TRUE(reloaded.record(i, i).empty());
  reloaded.advance(10);
  EXPECT_EQ(reloaded.translate(5, 10), 5);
  EXPECT_EQ(reloaded.translate(10, 10), 10);
}

// The syncs said a break follows (4,104) but the target, re-read after a restart, continues the
// run (e.g. it was rewritten by an unclean failover): the stream must still read back correctly.
TEST(OffsetMapping, ContinuationAfterAMarkedBreakIsWrittenAsARunStart) {
  OffsetMapping m;
  m.load({{0, 100}, {4, 104}, {4, 104}}, SyncHistory::kComplete);
  Syncs written = {{0, 100}, {4, 104}, {4, 104}};
  for (int64_t u = 5; u < 8; ++u) {
    Syncs out = m.record(u, 100 + u);
    written.insert(written.end(), out.begin(), out.end());
  }
  Syncs out = m.record(12, 112);
  written.insert(written.end(), out.begin(), out.end());
  EXPECT_EQ(written, (Syncs{{0, 100}, {4, 104}, {4, 104}, {5, 105}, {7, 107}, {7, 107}, {12, 112}}));
  OffsetMapping reloaded;
  reloaded.load(written, SyncHistory::kComplete);
  for (int64_t u = 0; u <= 7; ++u) EXPECT_EQ(reloaded.translate(u, 0), 100 + u) << u;
  EXPECT_EQ(reloaded.translate(9, 0), 112);
}

TEST(OffsetMapping, LoadKeepsTheNewestConsistentHistory) {
  // Syncs of an earlier incarnation of the topic (offsets restart), then the current one.
  Syncs syncs = {{100, 500}, {200, 600}, {0, 0}, {9, 5}, {20, 10}};
  OffsetMapping m;
  EXPECT_EQ(m.load(syncs, SyncHistory::kComplete), 2u);
  EXPECT_EQ(m.first_known_upstream(), 0);
  EXPECT_EQ(m.translate(5, 0), 5);
  EXPECT_EQ(m.translate(15, 0), 10);
  // After a discarded part the first remaining sync may be half of a repeated pair: an
  // equal-delta neighbour makes it ambiguous, so it is given up.
  EXPECT_EQ(m.load({{100, 500}, {0, 0}, {9, 9}, {20, 10}}, SyncHistory::kComplete), 2u);
  EXPECT_EQ(m.first_known_upstream(), 9);
  // A pair written three times is not something Ferry writes.
  EXPECT_EQ(m.load({{0, 0}, {4, 4}, {4, 4}, {4, 4}, {9, 5}}, SyncHistory::kComplete), 3u);
  EXPECT_EQ(m.first_known_upstream(), 4);
  EXPECT_EQ(m.load({{-1, 0}, {3, 3}}, SyncHistory::kComplete), 1u);
  EXPECT_EQ(m.first_known_upstream(), 3);
  EXPECT_EQ(m.load({}, SyncHistory::kComplete), 0u);
  EXPECT_EQ(m.first_known_upstream(), std::nullopt);
}

TEST(OffsetMapping, TruncatedHistoryGivesUpAnAmbiguousFirstSync) {
  Replicator r;
  r.run(0, 100, 5);
  r.record(8, 108);  // writes (0,100) (4,104) (4,104) (8,108)
  r.run(9, 109, 3);
  Syncs cut(r.written.begin() + 2, r.written.end());  // retention removed the first copy of (4,104)
  OffsetMapping m;
  EXPECT_EQ(m.load(cut, SyncHistory::kMayBeTruncated), 1u);
  EXPECT_EQ(m.first_known_upstream(), 8);
  EXPECT_EQ(m.translate(6, 0), std::nullopt);  // rather than the wrong 106
  EXPECT_EQ(m.translate(8, 0), 108);
  // Read as complete, the same syncs would claim 4..8 is one run: the caller must say.
  OffsetMapping wrong;
  wrong.load(cut, SyncHistory::kComplete);
  EXPECT_EQ(wrong.translate(6, 0), 106);
}

// Property test: random histories against the brute-force reference, live, after a reload of the
// complete sync stream, after a crash that lost the newest syncs (reload + replay), after the
// oldest syncs were removed, and with a memory cap.
TEST(OffsetMapping, MatchesBruteForceOnRandomHistories) {
  std::mt19937_64 rng(4242);
  for (int iteration = 0; iteration < 150; ++iteration) {
    const size_t max_runs = iteration % 3 == 0 ? 6 : OffsetMapping::kDefaultMaxRuns;
    const int64_t resync_every = iteration % 2 == 0 ? 0 : 1 + static_cast<int64_t>(rng() % 7);
    History h = random_history(rng, 20 + rng() % 200);
    Replicator live(max_runs, resync_every);
    Reference ref;
    size_t next_advance = 0;
    for (size_t i = 0; i < h.records.size(); ++i) {
      while (next_advance < h.advances.size() && h.advances[next_advance].first == i) {
        live.mapping.advance(h.advances[next_advance].second);
        ref.processed_end = std::max(ref.processed_end, h.advances[next_advance].second);
        ++next_advance;
      }
      auto [u, d] = h.records[i];
      live.record(u, d);
      ref.records.push_back({u, d});
      ref.processed_end = std::max(ref.processed_end, u + 1);
      if (i % 17 == 0 || i + 1 == h.records.size()) {
        auto starts = ref.run_starts();
        int64_t first_known = starts[starts.size() > max_runs ? starts.size() - max_runs : 0];
        ASSERT_EQ(live.mapping.first_known_upstream(), first_known);
        int64_t last_d = d;
        for (int64_t x = h.records.front().upstream_offset - 2; x <= u + 3; ++x)
          for (int64_t tn : {int64_t{0}, last_d + 1, last_d + 9})
            ASSERT_EQ(live.mapping.translate(x, tn), ref.translate(x, tn, first_known))
                << "iteration " << iteration << " after " << i + 1 << " records, u=" << x << " target_next=" << tn;
      }
    }
    const int64_t lo = h.records.front().upstream_offset - 2, hi = h.records.back().upstream_offset + 3;
    const Syncs& all = live.written;

    // Reload after a restart, or after a crash that lost every sync after a random point: load,
    // replay the records the target holds after the last sync read, and the mapping and the sync
    // stream come out as if nothing had happened.
    for (size_t kept : {all.size(), static_cast<size_t>(rng() % (all.size() + 1))}) {
      Syncs prefix(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(kept));
      OffsetMapping resumed(max_runs, resync_every);
      ASSERT_EQ(resumed.load(prefix, SyncHistory::kComplete), 0u);
      Syncs rewritten = prefix;
      const int64_t replay_after = resumed.last_recorded() ? resumed.last_recorded()->downstream_offset : -1;
      for (const auto& rec : h.records) {
        if (rec.downstream_offset <= replay_after) continue;
        Syncs out = resumed.record(rec.upstream_offset, rec.downstream_offset);
        rewritten.insert(rewritten.end(), out.begin(), out.end());
      }
      resumed.advance(live.mapping.processed_end());
      ASSERT_EQ(rewritten, all) << "iteration " << iteration << " kept " << kept;
      ASSERT_EQ(resumed.run_count(), live.mapping.run_count());
      ASSERT_EQ(resumed.last_recorded(), live.mapping.last_recorded());
      expect_same_translations(resumed, live.mapping, lo, hi, "resumed");
    }

    // Retention removed the oldest syncs: what remains is exact from first_known_upstream() on,
    // and at most the first remaining sync is given up.
    if (max_runs == OffsetMapping::kDefaultMaxRuns && !all.empty()) {
      const size_t cut = rng() % all.size();
      Syncs suffix(all.begin() + static_cast<std::ptrdiff_t>(cut), all.end());
      OffsetMapping truncated;
      size_t unused = truncated.load(suffix, SyncHistory::kMayBeTruncated);
      ASSERT_LE(unused, 1u);
      const int64_t replay_after = truncated.last_recorded()->downstream_offset;
      for (const auto& rec : h.records)
        if (rec.downstream_offset > replay_after) truncated.record(rec.upstream_offset, rec.downstream_offset);
      truncated.advance(live.mapping.processed_end());
      ASSERT_TRUE(truncated.first_known_upstream().has_value());
      ASSERT_EQ(*truncated.first_known_upstream(), suffix[unused].upstream_offset);
      expect_same_translations(truncated, live.mapping, *truncated.first_known_upstream(), hi, "truncated");
      ASSERT_EQ(truncated.translate(*truncated.first_known_upstream() - 1, 0), std::nullopt);
    }
  }
}

// The end-to-end meaning of a translation: a consumer that starts on the target at the translated
// offset reads exactly the replicated records it had not consumed upstream, none twice, none lost.
TEST(OffsetMapping, ConsumerResumingOnTheTargetReadsExactlyTheRest) {
  // Source partition: offsets 0..29, with 8..11 compacted away and 20 a transaction marker.
  std::vector<int64_t> source;
  for (int64_t o = 0; o < 30; ++o)
    if ((o < 8 || o > 11) && o != 20) source.push_back(o);
  // Target partition: replicated records, with foreign records interleaved at a few places.
  struct TargetRecord {
    bool replicated;
    int64_t upstream;
  };
  std::vector<TargetRecord> target;
  Replicator r;
  std::mt19937_64 rng(99);
  for (int64_t up : source) {
    while (rng() % 4 == 0) target.push_back({false, -1});
    r.record(up, static_cast<int64_t>(target.size()));
    target.push_back({true, up});
  }
  r.mapping.advance(30);
  for (int64_t committed = 0; committed <= 30; ++committed) {
    auto start = r.mapping.translate(committed, static_cast<int64_t>(target.size()));
    ASSERT_TRUE(start.has_value()) << committed;
    std::vector<int64_t> read;
    for (size_t i = static_cast<size_t>(*start); i < target.size(); ++i)
      if (target[i].replicated) read.push_back(target[i].upstream);
    std::vector<int64_t> remaining;
    for (int64_t up : source)
      if (up >= committed) remaining.push_back(up);
    EXPECT_EQ(read, remaining) << "group committed " << committed;
  }
}
