// Exact offset translation for one replicated partition (the weakness of MM2's KIP-545
// checkpoints, which translate approximately from sparse syncs: see docs/mirror.md).
//
// The mapping is a list of runs: maximal stretches of replicated records whose upstream and
// downstream offsets both advance by exactly 1 per record. A run breaks where the source has a
// gap (compaction, transaction markers, records not replicated, retention) or the target has one
// (records from elsewhere interleaved, e.g. a bidirectional identity pair). Translating a committed
// upstream offset u (the next record the group would read) gives the downstream offset of the
// first replicated record at or after u, so a consumer starting there on the target re-reads
// nothing and skips nothing that was replicated.
//
// Sync stream. The runs are persisted as MM2 offset syncs (mm2_formats.h OffsetSync), written in
// order to mm2-offset-syncs.<target>.internal, and rebuilt from them by load(). Every pair written
// is a real (upstream, downstream) position of a replicated record, so MM2's own reader (newest
// sync at or below u, +1 if below) stays conservative on Ferry's syncs. At each break Ferry writes
// the last record of the ending run (unless it was the last sync written) and the first record of
// the new run; a reader tells "same run" from "break" by the offset delta (downstream - upstream):
// equal delta means the records between were contiguous. The one case that rule cannot see is a
// break where both sides jump by the same amount; there the ending record is written twice in a
// row, and a repeated pair means "a break follows". Optionally a sync is also written every
// `resync_every` records inside a run, which bounds how much of the target a restarted mirror
// must re-read to continue the mapping (MM2's offset.lag.max plays this role for its syncs).
// Note: the syncs topic must keep history (cleanup.policy=delete with enough retention); with
// MM2's compacted layout only the newest sync per partition would survive.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <vector>

#include "mirror/mm2_formats.h"

namespace ferry::mirror {

/// What load() may assume about the beginning of a sync history.
enum class SyncHistory {
  /// The syncs start at the partition's first replicated record (nothing was deleted before them).
  kComplete,
  /// Older syncs may have been removed (retention on the syncs topic), so the first sync may be
  /// the second half of a repeated pair; load() then gives up the first sync when it is ambiguous.
  kMayBeTruncated,
};

/// The exact upstream→downstream offset mapping of one partition. Not thread-safe; one owner.
class OffsetMapping {
 public:
  /// Runs kept in memory by default: about 24 bytes each, one per break in contiguity.
  static constexpr size_t kDefaultMaxRuns = 100'000;

  /// `max_runs` (>= 2) bounds memory: when exceeded the oldest run is dropped and
  /// first_known_upstream() moves up. `resync_every` > 0 also emits a sync every that many
  /// records inside a run; 0 emits syncs at run boundaries only. Throws std::invalid_argument for
  /// max_runs < 2 or a negative resync_every.
  explicit OffsetMapping(size_t max_runs = kDefaultMaxRuns, int64_t resync_every = 0);

  /// Records that the source record at `upstream` was written to the target at `downstream`
  /// (acknowledged). Call for every replicated record of the partition, in order. Returns the
  /// syncs to write, in order: none while a run continues; at a break the end of the previous run
  /// (if not already written), written twice when both offsets jump by the same amount, then this
  /// record; so 0 to 3 syncs. Throws std::invalid_argument when either offset is negative or not
  /// above the previous record's, or when `upstream` is below processed_end().
  std::vector<OffsetSync> record(int64_t upstream, int64_t downstream);

  /// Declares that every upstream offset below `next_upstream` has been dealt with: replicated and
  /// passed to record(), or never to be replicated (gap, transaction marker, filtered record).
  /// This lets translate() answer for offsets past the last replicated record. No-op when not
  /// above processed_end().
  void advance(int64_t next_upstream);

  /// Translates a committed upstream offset (the group's next record to read):
  /// - the downstream offset of the first replicated record at or after `upstream`, when one is
  ///   known;
  /// - when `upstream` is past the last replicated record but not past processed_end(), the
  ///   downstream offset the next replicated record will get: the larger of last downstream + 1
  ///   and `target_next`. `target_next` is the target partition's next offset (log end offset),
  ///   read when every acknowledged record has been passed to record(); it is larger than last
  ///   downstream + 1 when other records were appended to the target since;
  /// - nullopt when `upstream` precedes first_known_upstream() (history not kept: no checkpoint,
  ///   as MM2 does), or is beyond processed_end() (records before it may still be replicated), or
  ///   after load() until the caller has confirmed the tail with record() or advance().
  std::optional<int64_t> translate(int64_t upstream, int64_t target_next) const;

  /// Replaces the mapping with the one described by `syncs`, in the order they were written
  /// (e.g. read back from the syncs topic after a restart or a partition move). Given the
  /// complete stream this mapping emitted, translate() answers as the original did for every
  /// offset up to the last sync. Syncs after the last one read may be missing (a crash between
  /// writing the data and its syncs): the caller then replays, through record(), every replicated
  /// record found on the target after the last sync's downstream offset (the kUpstreamHeader of
  /// each record gives its upstream offset), and then calls advance(); this restores the same
  /// mapping and emits the syncs that were lost. A prefix that is not consistent (offsets not
  /// increasing, negative, a pair written three times, e.g. syncs of an earlier incarnation of
  /// the topic) is discarded, keeping the newest consistent part. Returns the number of syncs
  /// not used.
  size_t load(const std::vector<OffsetSync>& syncs, SyncHistory history);

  /// The lowest upstream offset translate() can answer for; nullopt while nothing is recorded.
  std::optional<int64_t> first_known_upstream() const;
  /// The newest replicated record known; nullopt while nothing is recorded.
  std::optional<OffsetSync> last_recorded() const;
  /// Every upstream offset below this has been dealt with (see advance()).
  int64_t processed_end() const { return processed_end_; }
  /// Runs currently held (memory use is proportional).
  size_t run_count() const { return runs_.size(); }
  /// Runs dropped to respect max_runs since construction or the last load(): when non-zero,
  /// first_known_upstream() is above the first record this mapping was given, so it must not be
  /// taken for the first replicated record of the partition.
  size_t runs_dropped() const { return runs_dropped_; }

 private:
  struct Run {
    int64_t upstream;
    int64_t downstream;
    int64_t length;  // records, >= 1
  };
  void push_run(Run run);

  size_t max_runs_;
  int64_t resync_every_;
  std::deque<Run> runs_;
  // The sync written last and whether it was written twice (a break after it is already marked).
  std::optional<OffsetSync> last_emitted_;
  bool last_emitted_repeated_ = false;
  int64_t processed_end_ = 0;
  bool tail_confirmed_ = false;
  size_t runs_dropped_ = 0;
};

/// Target records read at most, per partition, to rebuild a translation from the target's own
/// records (anchor_offset_mapping). 1,000,000 records is a few seconds of reading and at most
/// 16 MB held while rebuilding; offsets older than what was read get no checkpoint.
inline constexpr int64_t kMaxRebuildRecords = 1'000'000;

/// Reads the (upstream, downstream) pairs of the flow's records in [from, to) of one target
/// partition, in offset order (the takeover's batched reads in the mirror; a vector in tests).
using ReplicatedReader = std::function<void(int64_t from, int64_t to, const std::function<void(int64_t, int64_t)>&)>;

/// How anchor_offset_mapping() built the mapping.
struct AnchorOutcome {
  enum class Source {
    kHistory,  ///< the sync history, checked against the target and completed from its records
    kTarget,   ///< rebuilt from the target's records alone (no history, or history not matching)
  } source = Source::kTarget;
  /// A non-empty history was dropped: the target contradicts it, or its last sync is below the
  /// target's log start offset, where it cannot be checked.
  bool history_mismatch = false;
  /// Rebuilt from the target, but not from the flow's first record there: the read limit was hit,
  /// or the upstream offsets went back (a recreated source topic) and only the newest part is used.
  bool partial = false;
  int64_t records_read = 0;            ///< flow records read from the target
  std::vector<OffsetSync> syncs;       ///< syncs to write (those the history lacks), in order
};

/// Rebuilds the exact mapping of one partition after a restart or a partition move, never from a
/// guess (docs/mirror.md "Resuming"). `tail` is the flow's newest record on the target (resume.h
/// find_replicated_tails); `read(from, to, each)` gives the flow's (upstream, downstream) pairs in
/// [from, to) of the target partition.
///
/// With a non-empty `history` (syncs read back, oldest first): loads it and keeps it only when the
/// target confirms it: its last sync lies in [`target_log_start`, `tail`], the target still holds
/// that very record with the same upstream offset (a history whose last sync names a real record
/// of the flow is taken as the flow's), the flow's records past it replay in order and the result
/// ends exactly at `tail`. Otherwise (no history, or one the target does not confirm) rebuilds from
/// the target's own records, read from max(`target_log_start`, tail.downstream_offset + 1 -
/// `read_limit`) up to `tail`; when upstream offsets go back inside that range (a recreated source
/// topic) only the part after the last step back is used. Offsets below what was read get no
/// answer. Either way the mapping ends at `tail` with processed_end() = tail.upstream_offset + 1.
/// Cost: one read of [last sync, tail] with a confirmed history, else of up to `read_limit`
/// target records (16 bytes each held while rebuilding). `mapping` is replaced (with `max_runs`
/// and `resync_every`). Throws what `read` throws, and std::invalid_argument for read_limit < 1.
AnchorOutcome anchor_offset_mapping(OffsetMapping& mapping, size_t max_runs, int64_t resync_every,
                                    const std::vector<OffsetSync>& history, SyncHistory kind,
                                    const OffsetSync& tail, int64_t target_log_start, int64_t read_limit, const ReplicatedReader& read);

}  // namespace ferry::mirror
