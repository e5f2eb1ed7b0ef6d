// One log segment: <base>.log holding whole record batches back to back, plus its sparse
// .index and .timeindex (Kafka's kafka.log.LogSegment). Offsets in a segment are >= its base and
// increase batch by batch; positions are byte offsets in the .log.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "broker/storage/index.h"
#include "broker/storage/record_batch.h"

namespace ferry::storage {

/// Kafka's RecordBatch.NO_TIMESTAMP.
inline constexpr int64_t kNoTimestamp = -1;

/// When index entries are written (index.interval.bytes) and when an index counts as full
/// (segment.index.bytes).
struct IndexPolicy {
  int32_t interval_bytes;
  int64_t max_index_bytes;
};

/// An open descriptor of one segment's .log, shared by the segment and every reader using it;
/// closed when the last holder lets go. `fd` is read-write for a segment created or opened by
/// name, read-only when reopened lazily for reads.
struct LogFile {
  LogFile(int fd_, std::filesystem::path path_) : fd(fd_), path(std::move(path_)) {}
  ~LogFile();
  LogFile(const LogFile&) = delete;
  LogFile& operator=(const LogFile&) = delete;
  int fd;
  std::filesystem::path path;
};

/// Sequential reader of whole batches in [start, end) of a .log, through a buffer so that walking
/// many small batches costs few system calls. Throws std::system_error on I/O failure.
class BatchReader {
 public:
  enum class Status {
    batch,       ///< header() (and bytes() when asked) describe the next batch
    end,         ///< reached `end` exactly on a batch boundary
    partial,     ///< fewer bytes remain than the header or batchLength needs (a torn write)
    bad_length,  ///< batchLength below the 49-byte minimum
  };

  /// Reads through `file`, which it keeps open for as long as it lives.
  BatchReader(std::shared_ptr<const LogFile> file, int64_t start, int64_t end);

  /// Advances to the next batch; `whole` also loads its bytes for bytes().
  Status next(bool whole);
  /// Position of the batch last returned, or where reading stopped.
  int64_t position() const { return pos_; }
  /// Header of the batch last returned by next() == Status::batch.
  const BatchHeader& header() const { return header_; }
  /// The whole batch (header().size_in_bytes() bytes); valid until the next call, only after next(true).
  const uint8_t* bytes() const { return buf_.data() + (pos_ - buf_start_); }

 private:
  bool fill(int64_t pos, size_t n);

  std::shared_ptr<const LogFile> file_;
  int64_t pos_;
  int64_t next_;
  int64_t end_;
  BatchHeader header_{};
  std::vector<uint8_t> buf_;
  int64_t buf_start_ = 0;
};

/// A segment's files and in-memory state. Not internally synchronised, except for its .log
/// descriptor: the owning Log allows const members to run concurrently with each other and
/// non-const members only exclusively; sync() and release of the descriptor may run beside
/// readers.
///
/// Descriptors: the active segment, and any segment with unsynced writes, keeps its .log open.
/// A segment that is sealed (no longer written) and synced closes it and reopens it by name on
/// the next read, so 10,000 partitions with many old segments each hold about one descriptor
/// per partition, not one per segment (Kafka keeps one per segment). Readers share one open
/// descriptor while any of them holds it (file()).
class Segment {
 public:
  /// What loading found, for the recovery report.
  struct LoadResult {
    std::string index_rebuilt;  ///< non-empty: why the indexes were rebuilt (missing, corrupt ...)
    std::string corruption;     ///< non-empty: why the .log was truncated
    int64_t truncated_bytes = 0;
    int64_t truncated_at_offset = 0;  ///< first offset that was not kept
  };

  /// Creates the empty files of a new segment; fails with std::system_error if they exist.
  /// A non-empty `suffix` (".cleaned", used by the log cleaner) is appended to all three file
  /// names, e.g. 00000000000000000000.log.cleaned; such a segment is written, synced and dropped,
  /// and only ever reopened under its final name.
  static std::shared_ptr<Segment> create(const std::filesystem::path& dir, int64_t base_offset, int64_t now_ms,
                                         const std::string& suffix = {});
  /// Opens an existing segment's .log (indexes are opened by load()).
  static std::shared_ptr<Segment> open(const std::filesystem::path& dir, int64_t base_offset);
  ~Segment();

  /// "<20-digit zero-padded base offset><ext>", Kafka's file naming.
  static std::string file_name(int64_t base_offset, const char* ext);

  /// Loads in-memory state. With `recover` every batch is re-read, its CRC, framing and offsets
  /// checked, the .log truncated at the first bad batch and both indexes rebuilt. Without it the
  /// indexes are trusted after structural checks (whole entries, monotonic, inside the .log) and
  /// only the batches after the last index entry are read; broken indexes are rebuilt from batch
  /// headers, and broken framing falls back to full recovery. Throws std::system_error.
  LoadResult load(bool recover, const IndexPolicy& policy);

  /// First offset the segment may hold; also its file name.
  int64_t base_offset() const { return base_; }
  /// Bytes of whole batches in the .log.
  int64_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  /// One past the last offset held; the base offset when empty.
  int64_t next_offset() const { return next_offset_; }
  /// Largest batch max_timestamp, or INT64_MIN when the segment has no batches.
  int64_t max_timestamp() const { return max_ts_; }
  /// Last offset of the (first) batch holding max_timestamp().
  int64_t offset_of_max_timestamp() const { return offset_of_max_ts_; }
  /// Wall-clock ms from which segment.ms is measured.
  int64_t roll_start_ms() const { return roll_start_ms_; }
  /// Restarts the segment.ms clock (the Log does so at the first append into a segment).
  void set_roll_start_ms(int64_t ms) { roll_start_ms_ = ms; }
  /// The .log file's modification time in ms (retention fallback when records carry no timestamps).
  int64_t last_modified_ms() const;
  /// True when something was written since the last sync() the Log scheduled; the Log clears
  /// it when it takes the segment into a flush.
  bool dirty() const { return dirty_; }
  void clear_dirty() { dirty_ = false; }

  /// True when one more offset or time index entry would exceed segment.index.bytes.
  bool index_full(int64_t max_index_bytes) const;
  /// Appends batches (final offsets already in place) at the end of the .log and indexes them.
  void append(const uint8_t* data, size_t n, const std::vector<BatchHeader>& headers, const IndexPolicy& policy);
  /// Cuts the .log back to `size` after a failed append (best effort; the log is offline anyway).
  void truncate_log(int64_t size);
  /// Drops every batch whose last offset is >= `offset` (Kafka's LogSegment.truncateTo, at batch
  /// granularity: a batch holding `offset` goes whole). The .log is cut at the first such batch,
  /// the .index keeps the entries before the cut and the .timeindex those naming a kept offset,
  /// and next_offset() becomes the last kept batch's last offset + 1 (the base offset when no batch
  /// is kept); the max timestamp is recomputed from the kept entries and the batches after the
  /// last kept .index entry (as load() does). The segment becomes writable again, since the Log
  /// makes it the active segment: a descriptor it let go is reopened read-write. Nothing is
  /// synced; dirty() says so. Returns the .log bytes dropped, 0 when no batch reaches `offset`.
  /// Throws std::system_error; when it throws before the .log is cut the segment is unchanged.
  int64_t truncate_to(int64_t offset, const IndexPolicy& policy);
  /// Writes the final time index entry when the segment stops being active (Kafka's
  /// onBecomeInactiveSegment), so a later load finds the segment's max timestamp in the index,
  /// and marks the segment inactive: the next sync() with indexes lets the descriptor go (the
  /// Log's flush gives one to every inactive segment that still keeps its descriptor).
  void seal();
  /// fdatasyncs the .log and, when `with_indexes`, fsyncs both indexes. Indexes may lag the
  /// log on disk: recovery validates them against the log and rebuilds inconsistent ones, and a
  /// short index only makes a lookup scan further.
  void sync(bool with_indexes = true);
  /// Unlinks the three files; the open descriptors stay valid for readers still holding them,
  /// and file() refuses to reopen by name from then on.
  void remove_files();
  /// The segment's names now belong to another segment (the cleaner swapped in its copy):
  /// file() refuses to reopen by name; descriptors held already still reach the old data.
  void forget_names();
  /// The segment will not be written again (it was loaded below the active one, or is the
  /// cleaner's copy): its descriptor is let go now when nothing is unsynced (dirty() false),
  /// otherwise by the next sync() with indexes. seal() does the same for the active segment.
  /// Call it after load(): a reopened descriptor is read-only, and load() may cut the file.
  void mark_inactive();
  /// The .log, open: the kept descriptor, one a reader holds, or a fresh read-only one. Holding
  /// the result keeps it open. Throws std::system_error (ENOENT once remove_files() or
  /// forget_names() ran and nobody holds a descriptor; the Log never lets that happen to a
  /// segment it still lists).
  std::shared_ptr<const LogFile> file() const;
  /// True when the segment holds its descriptor open whether or not anyone reads.
  bool keeps_descriptor() const;

  /// Position to start scanning for `offset`: that of the last index entry <= offset, checked
  /// against the batch found there; 0 when there is none or the entry does not match.
  int64_t start_position(int64_t offset) const;
  /// Position to start scanning for the first record with timestamp >= ts (time index, then
  /// offset index).
  int64_t start_position_for_time(int64_t ts) const;
  BatchReader reader(int64_t position) const { return BatchReader(file(), position, size_); }
  /// A reader bounded by `end` rather than the current size: lets a reader that runs without the
  /// Log's lock walk a snapshot of the active segment while appends continue.
  BatchReader reader(int64_t position, int64_t end) const { return BatchReader(file(), position, end); }
  /// Appends .log bytes [pos, pos+n) to `out`. Throws std::system_error, including on a short read.
  void read(int64_t pos, size_t n, std::vector<uint8_t>& out) const;
  /// The batch header at `pos`, or nullopt when fewer than 61 bytes are there.
  std::optional<BatchHeader> header_at(int64_t pos) const;

 private:
  Segment(const std::filesystem::path& dir, int64_t base_offset, std::string suffix = {});

  void reset_state();
  // Folds one batch at `pos` into next offset / max timestamp and queues the index entries the
  // index.interval.bytes rule calls for (Kafka's LogSegment.append loop).
  void account(const BatchHeader& h, int64_t pos, const IndexPolicy& policy, bool may_index);
  int64_t last_time_entry_ts() const;
  uint32_t relative(int64_t offset) const { return static_cast<uint32_t>(offset - base_); }
  void commit_pending_entries();
  // Drops kept_ (file_mu_ held): the descriptor closes when its last reader lets go.
  void let_go_locked();
  std::string check_indexes(int64_t log_size) const;
  // Reads every batch from position 0; stops at the first bad one and returns why ("" if none).
  std::string scan_from_start(bool check_crc, const IndexPolicy& policy, int64_t log_size);
  // Reads batches after the last offset index entry; "" or why the tail or the index is bad.
  std::string scan_tail(const IndexPolicy& policy, int64_t log_size, bool* index_bad);

  std::filesystem::path path(const char* ext) const { return dir_ / (file_name(base_, ext) + suffix_); }

  std::filesystem::path dir_;
  int64_t base_;
  std::string suffix_;
  std::filesystem::path log_path_;
  // Guards kept_, shared_, gone_ and inactive_. kept_ holds the descriptor while the segment is
  // written or unsynced; shared_ lets readers share one that nobody keeps; gone_ forbids
  // reopening by name; inactive_: no more writes will come (sealed, or loaded below the active).
  mutable std::mutex file_mu_;
  std::shared_ptr<const LogFile> kept_;
  std::atomic<bool> keeps_{true};  // kept_ != nullptr, readable without the lock (every flush asks)
  mutable std::weak_ptr<const LogFile> shared_;
  bool gone_ = false;
  bool inactive_ = false;
  OffsetIndex offset_index_;
  TimeIndex time_index_;
  std::vector<OffsetIndexEntry> pending_offset_;
  std::vector<TimeIndexEntry> pending_time_;

  int64_t size_ = 0;
  int64_t next_offset_;
  int64_t max_ts_ = INT64_MIN;
  int64_t offset_of_max_ts_ = -1;
  int64_t bytes_since_index_ = 0;
  int64_t roll_start_ms_ = 0;
  bool dirty_ = false;
};

}  // namespace ferry::storage
