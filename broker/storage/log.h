// One partition's log: Kafka's on-disk layout (a directory of segments, each a .log of whole
// record batches plus sparse .index / .timeindex), crash recovery, retention and flushing.
// Semantics follow Kafka's kafka.log.UnifiedLog / LogSegment and the topic configs of the same
// names (kafka.apache.org/documentation/#topicconfigs). This header is the storage module's
// umbrella: including it gives the whole public API (batches, validation, checkpoints).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "broker/storage/checkpoint.h"
#include "broker/storage/compaction.h"
#include "broker/storage/crc32c.h"
#include "broker/storage/errc.h"
#include "broker/storage/leader_epoch_cache.h"
#include "broker/storage/record_batch.h"
#include "broker/storage/rw_lock.h"

namespace ferry::storage {

class Segment;
struct LogFile;

/// Per-log settings, named and defaulted like Kafka's topic configs. Times in ms, sizes in bytes.
struct LogConfig {
  int64_t segment_bytes = 1073741824;      ///< segment.bytes; values above 2^31-1 act as 2^31-1 (positions are u32 in the index)
  int64_t segment_ms = 604800000;          ///< segment.ms
  int64_t retention_ms = 604800000;        ///< retention.ms, -1 = forever
  int64_t retention_bytes = -1;            ///< retention.bytes, -1 = unbounded
  int32_t max_message_bytes = 1048588;     ///< max.message.bytes (per batch, 12 + batch_length)
  int32_t index_interval_bytes = 4096;     ///< index.interval.bytes
  int64_t segment_index_bytes = 10485760;  ///< segment.index.bytes (roll when an index is full)
  bool log_append_time = false;            ///< message.timestamp.type == LogAppendTime
  int64_t flush_messages = INT64_MAX;      ///< flush.messages: fsync after this many unflushed records
  int64_t flush_ms = INT64_MAX;            ///< flush.ms: fsync when the oldest unflushed append is this old
  /// cleanup.policy contains "compact": Log::clean keeps only the newest record per key.
  bool compact = false;
  /// cleanup.policy contains "delete": apply_retention honours retention.ms / retention.bytes.
  /// Without it (policy "compact" alone) retention only drops segments below the log start offset.
  bool delete_retention = true;
  /// delete.retention.ms: how long a tombstone (null value) survives once its batch was first
  /// cleaned (KIP-534 delete horizon), so consumers that read it in that window see the delete.
  int64_t delete_retention_ms = 86400000;
  /// min.compaction.lag.ms (KIP-58): a segment whose newest record is younger than this is not
  /// cleaned yet, so every record stays readable uncompacted for at least this long.
  int64_t min_compaction_lag_ms = 0;
  /// min.cleanable.dirty.ratio: clean_due() once dirty bytes exceed this share of the log below
  /// the first uncleanable offset.
  double min_cleanable_dirty_ratio = 0.5;
};

/// Name of the per-log-dir file holding each partition's first dirty offset, in the checkpoint
/// format of checkpoint.h (Kafka's LogCleanerManager uses the same name). The broker writes it
/// from Log::cleaner_checkpoint() and passes the value back to Log::open.
inline constexpr const char* kCleanerCheckpointFile = "cleaner-offset-checkpoint";

/// What one Log::clean pass did.
struct CleanResult {
  errc error = errc::ok;            ///< storage_error when an I/O step failed (the log is then offline)
  int64_t first_dirty_offset = -1;  ///< where the key map started (the checkpoint before the pass)
  int64_t end_offset = -1;          ///< first uncleanable offset; the checkpoint after the pass
  int64_t keys = 0;                 ///< distinct keys in the dirty section
  int segments_rewritten = 0;       ///< segments swapped for their cleaned copy
  int64_t bytes_before = 0;         ///< .log bytes of the rewritten segments before ...
  int64_t bytes_after = 0;          ///< ... and after
  int64_t records_removed = 0;      ///< superseded records plus expired tombstones
  int64_t tombstones_removed = 0;
};

/// Outcome of a successful append; offsets are those the batches now carry.
struct AppendResult {
  int64_t base_offset;
  int64_t last_offset;
  int64_t log_append_time_ms;  ///< the stamped time when LogAppendTime, else -1
  int64_t log_start_offset;
};

/// Outcome of a read.
struct FetchData {
  std::vector<uint8_t> records;  ///< whole batches, exactly as stored
  int64_t log_start_offset;
  int64_t log_end_offset;
};

/// A byte range of one segment's .log, with a descriptor that reads it held open (the range stays
/// readable after the segment is deleted, compacted away or replaced, until `file` is let go).
struct FileRange {
  std::shared_ptr<const LogFile> file;
  int64_t position;  ///< bytes from the start of the .log
  int64_t size;      ///< bytes
};

/// Outcome of a read that leaves the batches in the files (Log::read_ranges).
struct FetchRanges {
  std::vector<FileRange> ranges;  ///< in log order, one per segment read
  int64_t bytes = 0;              ///< sum of the ranges' sizes
  int64_t log_start_offset;
  int64_t log_end_offset;
};

/// What Log::open had to repair. Each action line is also logged at warn.
struct RecoveryReport {
  std::vector<std::string> actions;  ///< e.g. "truncated 17 bytes at offset 42 in segment 00000000000000000000.log: CRC-32C mismatch"
  int64_t truncated_bytes = 0;       ///< .log bytes dropped by truncation or segment deletion
};

/// One partition's log. Thread-safe: appends, truncation, retention, rolls and config changes
/// are exclusive; read, offset_for_timestamp, max_timestamp and size_bytes run concurrently with
/// each other; log_start_offset / log_end_offset / recovery_point are lock-free atomics.
///
/// Offsets: log_start_offset() <= every readable offset < log_end_offset(). Durability: every
/// offset below recovery_point() has been fsynced. After an I/O failure the log refuses further
/// appends with storage_error (Kafka takes the log dir offline) but still serves reads.
class Log {
 public:
  /// Opens or creates `dir` (e.g. /data/orders-0). `log_start_offset` and `recovery_point` come
  /// from the log dir's checkpoints (0 for a new log). Segments below the one holding
  /// `recovery_point` are trusted (index structure and tail checked); from that segment on every
  /// batch is re-validated (framing, magic, CRC-32C, increasing offsets), the .log truncated at
  /// the last valid batch, later segments deleted, indexes rebuilt, and the repairs fsynced.
  /// Missing or corrupt .index/.timeindex files are rebuilt. Every repair is appended to
  /// *report (may be null) and logged at warn. Leftover <segment>.*.deleted / *.cleaned files
  /// and index files without a .log are removed. If `log_start_offset` is beyond what survived, the log restarts
  /// empty at `log_start_offset`. Throws std::system_error on I/O failure.
  ///
  /// Log cleaner leftovers are settled first (Kafka's .cleaned -> .swap -> replace): a
  /// <segment>.log.swap means a cleaned copy was complete and is renamed over the original
  /// (with whichever of its .index.swap / .timeindex.swap are still there); stray *.cleaned files
  /// and index .swap files without a .log.swap are deleted. `cleaner_checkpoint` is the first
  /// dirty offset from the log dir's cleaner-offset-checkpoint (0 when unknown); outside
  /// [log start, log end] it resets to the log start, as Kafka does.
  static std::unique_ptr<Log> open(const std::filesystem::path& dir, const LogConfig& cfg,
                                   int64_t log_start_offset, int64_t recovery_point, RecoveryReport* report,
                                   int64_t cleaner_checkpoint = 0);

  /// Releases files without flushing (like a crash as far as durability goes); call close() for
  /// a clean shutdown.
  ~Log();
  Log(const Log&) = delete;
  Log& operator=(const Log&) = delete;

  /// Appends a producer's blob already accepted by validate_produce_records (the caller's copy,
  /// rewritten in place): batches get consecutive offsets from log_end_offset() (baseOffset
  /// rewritten) and partitionLeaderEpoch = leader_epoch, neither covered by the CRC. With
  /// LogAppendTime each batch gets the timestamp-type bit and maxTimestamp = now_ms, and its CRC
  /// is recomputed. Rolls first when the active segment is non-empty and the append would exceed
  /// segment.bytes, segment.ms has elapsed since the segment started, or an index is full; a roll
  /// flushes (Kafka flushes a rolled segment too). Then applies flush.messages / flush.ms.
  /// Errors: `batches` not describing `blob` -> invalid_record; a batch above max.message.bytes ->
  /// message_too_large; blob above segment.bytes -> record_list_too_large; write or fsync
  /// failure -> storage_error, and the log refuses every later append.
  std::pair<errc, AppendResult> append(std::vector<uint8_t>& blob, const std::vector<BatchHeader>& batches,
                                       int32_t leader_epoch, int64_t now_ms);

  /// Appends batches that already carry offsets and epochs (replication, recovery tooling): the
  /// first base_offset must equal log_end_offset() (else offset_out_of_range), later batches must
  /// start after the previous one's last offset (gaps allowed, as after compaction; else
  /// invalid_record), and every CRC must hold (else corrupt_message). Nothing in the blob is
  /// changed. Same size limits, rolling, flushing and storage_error rules as append(); time-based
  /// rules use the wall clock.
  std::pair<errc, AppendResult> append_with_offsets(std::vector<uint8_t>& blob, const std::vector<BatchHeader>& batches);

  /// Reads whole batches, starting with the batch that contains `offset` (so the first batch may
  /// begin before it, as in Kafka), totalling <= max_bytes, except that with min_one_batch the
  /// first batch is returned even when larger (KIP-74). Never includes a batch whose base_offset
  /// >= max_offset (the high watermark). Continues across segments. offset outside
  /// [log_start_offset, log_end_offset] -> offset_out_of_range; offset == log_end_offset -> ok
  /// with no records; I/O failure or a closed log -> storage_error. A read racing truncate_to()
  /// returns the log as it was before or after the truncation, never a mix (it reads again).
  std::pair<errc, FetchData> read(int64_t offset, int32_t max_bytes, int64_t max_offset, bool min_one_batch) const;
  /// read() without reading: the same batches, as byte ranges of the segment files, for a caller
  /// that sends them from the page cache (sendfile) or reads them later. Batches are written once
  /// and never changed in place, so a range below the high watermark keeps its bytes; only
  /// truncate_to() changes bytes in place, those of offsets at or above its cut (a follower's
  /// unreplicated tail), which later appends may overwrite. Same errors, except that an I/O error
  /// while reading the range itself is the caller's.
  std::pair<errc, FetchRanges> read_ranges(int64_t offset, int32_t max_bytes, int64_t max_offset,
                                           bool min_one_batch) const;

  int64_t log_start_offset() const { return log_start_offset_.load(std::memory_order_acquire); }
  /// Next offset to assign.
  int64_t log_end_offset() const { return log_end_offset_.load(std::memory_order_acquire); }
  /// Sum of the segments' .log sizes.
  int64_t size_bytes() const;
  /// First offset not yet known to be fsynced.
  int64_t recovery_point() const { return recovery_point_.load(std::memory_order_acquire); }

  /// ListOffsets by timestamp (KIP-79): {offset, timestamp} of the first record at or after
  /// log_start_offset whose timestamp >= ts, or nullopt when there is none. Note the order:
  /// offset first. A record's timestamp is baseTimestamp + timestampDelta under CreateTime and
  /// the batch maxTimestamp under LogAppendTime. Compressed batches are decompressed to find the
  /// exact record (Kafka does the same); should that fail, the batch's base offset and
  /// maxTimestamp are returned. Seeks with .timeindex, then scans batch headers.
  std::optional<std::pair<int64_t, int64_t>> offset_for_timestamp(int64_t ts) const;

  /// ListOffsets MAX_TIMESTAMP (KIP-734): {timestamp, offset} of the record with the largest
  /// timestamp at or after log_start_offset (the first such record on ties). Note the order:
  /// timestamp first. nullopt when the log holds no records.
  std::optional<std::pair<int64_t, int64_t>> max_timestamp() const;

  /// fsyncs the data and indexes of every segment written since the last flush (and the
  /// directory after segment creation), then returns the new recovery point (the log end offset
  /// at the start of the flush). Appends may continue meanwhile. On failure the log goes offline
  /// (appends return storage_error) and std::system_error is thrown.
  int64_t flush();

  /// True when flush.ms says unflushed data is due: the oldest unflushed append is >= flush.ms old.
  bool flush_due(int64_t now_ms) const;

  /// Deletes whole non-active segments, oldest first, in Kafka's order: those whose newest
  /// record is older than now_ms - retention.ms (file mtime when records carry no timestamps),
  /// then while the log exceeds retention.bytes by at least the segment's size, then those wholly
  /// below log_start_offset. Advances log_start_offset to the new first segment when it was
  /// below. Returns the number of segments deleted. 0 after close or on error (logged).
  int apply_retention(int64_t now_ms);

  /// DeleteRecords (KIP-107): raises log_start_offset to `offset` (no-op when already higher).
  /// offset < 0 or > log_end_offset -> offset_out_of_range. Returns the resulting low watermark.
  /// Whole segments below it are removed by the next apply_retention.
  std::pair<errc, int64_t> delete_records_before(int64_t offset);

  /// Removes every record at or above `offset`: a follower dropping the tail where its log
  /// diverged from the leader's (KIP-101, KIP-279; Kafka's UnifiedLog.truncateTo). Returns
  /// {ok, true} when the log changed, {ok, false} when `offset` >= log_end_offset() (nothing to do).
  ///
  /// Truncation is at batch granularity: every batch whose last offset is >= `offset` goes, whole,
  /// so the new log end offset is the last kept batch's last offset + 1. That is `offset` itself
  /// when it falls on a batch boundary, and the base offset of the batch holding `offset` when the
  /// cut falls inside one (or below `offset` after a gap, as compaction leaves); the follower then
  /// fetches again from the new log end. (Kafka cuts the bytes at the same batch but sets the log
  /// end to `offset` regardless.) Segments whose base offset is >= `offset` are deleted, highest
  /// first, and the one below them is cut (LogSegment.truncateTo) and becomes the active segment.
  /// When `offset` < log_start_offset(), or when nothing at or above the log start would survive
  /// the cut (the batch holding `offset` also holds the log start, or `offset` is the base of the
  /// first segment), this is truncate_fully_and_start_at(offset). (Kafka instead lowers the log
  /// start to `offset` while a segment still reaches below it, making records that DeleteRecords
  /// or retention had hidden readable again; here they stay gone.)
  ///
  /// The leader epoch history drops the entries starting at or above the new log end (its
  /// checkpoint is rewritten); recovery_point() and cleaner_checkpoint() are lowered to the new
  /// log end when above it. Durable on return: the cut .log and its indexes are fsynced, the
  /// directory after deletions. A crash during truncation leaves a prefix of the old log, which
  /// open() recovers (deleting a hole's later segments, cutting the epoch history back).
  ///
  /// Exclusive like appends; it first waits for a running cleaning pass (Kafka aborts and pauses
  /// cleaning around truncation) and for a running flush. Concurrent read() calls see the log
  /// before or after the truncation (they read again when it ran under them); byte ranges that
  /// read_ranges() handed out before it may shrink or change above the cut (see there).
  /// Errors: offset < 0 -> offset_out_of_range; closed or offline log -> storage_error; I/O
  /// failure -> storage_error and the log goes offline (appends refused, reads still served).
  /// With an error the bool is false, whether or not part of the tail was already removed.
  std::pair<errc, bool> truncate_to(int64_t offset);

  /// Deletes every segment and restarts the log empty at `offset`: log_start_offset() ==
  /// log_end_offset() == recovery_point() == `offset`, whether `offset` is below, inside or beyond
  /// the old range, and the leader epoch history is cleared (Kafka's
  /// UnifiedLog.truncateFullyAndStartAt, used when a follower's fetch offset is outside the
  /// leader's log, KIP-101 / KIP-279). Segments are deleted highest first, the directory fsynced,
  /// then the new empty segment created and the directory fsynced again; a crash in between
  /// leaves a prefix of the old log or an empty one. Locking, errors and offline behaviour as
  /// truncate_to().
  errc truncate_fully_and_start_at(int64_t offset);

  /// Rolls a non-empty active segment whose segment.ms has elapsed (Kafka rolls lazily on the
  /// next append; this lets an idle partition's segment become eligible for retention).
  void roll_if_due(int64_t now_ms);

  /// Compacts the log (cleanup.policy=compact; Kafka docs "Log Compaction"). The dirty section runs
  /// from cleaner_checkpoint() to the first uncleanable offset: the active segment's base, or the
  /// base of the first segment whose newest record (file mtime when none has a timestamp) is
  /// younger than now_ms - min.compaction.lag.ms (KIP-58; whole segments, like Kafka). A key ->
  /// newest-offset map is built over it, then every segment below that offset is rewritten per
  /// filter_batch (compaction.h): superseded records go, tombstones get a delete horizon of now_ms
  /// + delete.retention.ms on first cleaning and go once it has passed, keyless records and
  /// control batches stay, offsets never change. A segment's last batch, and each producer id's
  /// last batch in the log, survive as empty batches when all their records go. Segments with
  /// nothing to remove are not rewritten. Each cleaned segment is written as
  /// <base>.{log,index,timeindex}.cleaned, fsynced, renamed to .swap, then over the originals
  /// (see open()). Readers run concurrently except during each swap; appends and retention too
  /// (a segment deleted meanwhile is simply not swapped). Advances cleaner_checkpoint() to
  /// end_offset. Does nothing when compact is off or the log is closed. Cleaning passes are
  /// serialised. I/O failure -> error storage_error and the log goes offline, as for appends.
  /// Not handled (unlike Kafka): aborted transactional records are kept; transactions still open
  /// are not held back from cleaning; adjacent small segments are not merged.
  CleanResult clean(int64_t now_ms);

  /// True when compaction is on and either the dirty share of the cleanable log exceeds
  /// min.cleanable.dirty.ratio (Kafka's cleanableRatio: bytes of the dirty section over the bytes
  /// below the first uncleanable offset), or a tombstone delete horizon noted by an earlier pass
  /// in this process has passed. The lag rule uses now_ms; the overload without it uses the wall clock.
  bool clean_due(int64_t now_ms) const;
  bool clean_due() const;

  /// First offset not yet cleaned (the cleaner-offset-checkpoint value), never below the log start.
  int64_t cleaner_checkpoint() const {
    return std::max(cleaner_checkpoint_.load(std::memory_order_acquire), log_start_offset());
  }

  /// OffsetForLeaderEpoch (API 23; KIP-101, KIP-279): the end offset of `epoch` in this log per
  /// LeaderEpochCache::end_offset_for, against the current log end offset.
  std::pair<int32_t, int64_t> end_offset_for_epoch(int32_t epoch) const;
  /// A leader took `epoch` at the log end offset (Kafka's Partition.makeLeader): the history gains
  /// (epoch, log end offset) before any record of it, so the checkpoint is written when leadership
  /// changes and not on the produce path. No-op when `epoch` is already the latest. On an empty
  /// log the entry is kept in memory only: creating 10,000 partitions would otherwise pay 10,000
  /// checkpoint fsyncs, and a lost entry of an empty log is made again by the next leader, while a
  /// log whose file was never written holds one epoch, which open() restores from its first
  /// batch. Throws std::system_error when the checkpoint cannot be written.
  void assign_leader_epoch(int32_t epoch);
  /// The leader epoch history kept in the partition's leader-epoch-checkpoint: every epoch a
  /// batch was appended in, with the offset of its first batch, ascending. Appends add entries
  /// (written before the batch, so a crash leaves the file ahead of the log, never behind, and
  /// open() cuts it back to the recovered log end); retention and DeleteRecords move its start.
  std::vector<EpochEntry> epoch_entries() const;

  /// Replaces the config; takes effect from the next operation.
  void update_config(const LogConfig& cfg);

  /// Clean shutdown: seals the active segment's time index, flushes, closes files. Later calls
  /// fail with storage_error (reads, appends) or do nothing. Throws std::system_error if the
  /// final flush fails (the files are closed anyway).
  void close();

  /// Closes (errors logged, not thrown) and deletes the log directory (DeleteTopics).
  void remove();

  /// `fn(why)` runs once, when the first I/O failure takes this log offline (an append, flush,
  /// roll, seal, cleaning or truncation that failed; `why` is the error's text). Not for the
  /// failures of remove(). Kafka's LogDirFailureChannel.maybeAddOfflineLogDir: the broker then
  /// takes the whole log dir offline. Set before the log is shared; `fn` runs under the log's
  /// lock and must not call back into this Log.
  void set_offline_listener(std::function<void(const std::string& why)> fn) { offline_listener_ = std::move(fn); }
  /// Whether an I/O failure took this log offline (appends refused with storage_error).
  bool offline() const { return failed_.load(std::memory_order_acquire); }

 private:
  Log(const std::filesystem::path& dir, const LogConfig& cfg);

  std::pair<errc, AppendResult> write(std::vector<uint8_t>& blob, const std::vector<BatchHeader>& batches, bool assign,
                                      int32_t leader_epoch, int64_t now_ms);
  void load(int64_t log_start_offset, int64_t recovery_point, RecoveryReport* report);
  // Settles interrupted cleaner swaps before the segments are listed (log_clean.cc).
  void finish_swaps(const std::function<void(std::string)>& note);
  // Requires mu_ (either side): [first dirty, first uncleanable) and the dirty/total byte counts.
  struct DirtyRange {
    int64_t first_dirty;
    int64_t end;
    int64_t dirty_bytes;
    int64_t total_bytes;
  };
  DirtyRange dirty_range(int64_t now_ms) const;
  // Requires mu_ exclusively. Renames <base>.*.cleaned into place and returns the reopened
  // segment; nullptr when `old` is no longer in the log (retention or close took it).
  std::shared_ptr<Segment> swap_in_cleaned(const std::shared_ptr<Segment>& old);
  int64_t flush_impl(bool all_indexes);
  // truncate_to (fully false) and truncate_fully_and_start_at (log_truncate.cc).
  std::pair<errc, bool> truncate_impl(int64_t offset, bool fully);
  // Require clean_mu_, flush_mu_ and mu_ exclusively. Throw std::system_error.
  void truncate_fully_locked(int64_t offset);
  void cut_tail_locked(int64_t offset);
  // Moves the epoch history's start to a new log start; an I/O error is logged, not thrown.
  void truncate_epochs_from_start(int64_t offset);
  // Takes the log offline after an I/O failure (failed_) and tells the listener, once.
  void go_offline(const std::string& why);
  // Requires mu_ exclusively.
  void roll_locked(int64_t base_offset, int64_t now_ms);
  int64_t segment_bytes_limit() const;
  // Index of the segment holding `offset` (or the first after a gap); segments_.size() if none.
  size_t find_segment(int64_t offset) const;
  std::optional<std::pair<int64_t, int64_t>> search_timestamp(int64_t ts) const;

  const std::filesystem::path dir_;
  LogConfig cfg_;
  mutable WriterPreferringRwLock mu_;  // exclusive: state changes; shared: reads
  std::mutex flush_mu_;
  std::vector<std::shared_ptr<Segment>> segments_;  // ascending base offset; back() is active
  std::atomic<int64_t> log_start_offset_{0};
  std::atomic<int64_t> log_end_offset_{0};
  std::atomic<int64_t> recovery_point_{0};
  std::atomic<bool> failed_{false};
  std::function<void(const std::string&)> offline_listener_;
  std::atomic<bool> removing_{false};  // remove() began: its failures are not a log dir failure
  bool closed_ = false;
  bool dir_dirty_ = false;
  int64_t unflushed_messages_ = 0;
  int64_t first_unflushed_ms_ = -1;
  std::mutex clean_mu_;  // one cleaning pass at a time
  std::atomic<int64_t> cleaner_checkpoint_{0};
  std::atomic<int64_t> next_delete_horizon_ms_{INT64_MAX};
  std::unique_ptr<LeaderEpochCache> epochs_;  // set by load(); has its own lock
  // Bumped (under mu_, exclusively) before a truncation touches any file: read() re-reads ranges
  // it found before a truncation that ran while it read them outside the lock.
  std::atomic<uint64_t> truncations_{0};
};

}  // namespace ferry::storage
