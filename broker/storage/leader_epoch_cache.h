// A partition's leader epoch history and its `leader-epoch-checkpoint` file: for every leader
// epoch, the first offset written in it. Followers use it to find where their log diverged from a
// new leader's (OffsetForLeaderEpoch, KIP-101 and KIP-279), consumers to detect truncation
// (KIP-320). Semantics of Kafka's LeaderEpochFileCache.java and LeaderEpochCheckpointFile.java
// (../shared/REPLICATION-SEMANTICS.md §3).
#pragma once

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ferry::storage {

/// File name of a partition's leader epoch checkpoint, in the partition directory.
inline constexpr const char* kLeaderEpochCheckpointFile = "leader-epoch-checkpoint";

/// One leader epoch and the offset of its first record.
struct EpochEntry {
  int32_t epoch = 0;
  int64_t start_offset = 0;
  bool operator==(const EpochEntry&) const = default;
};

/// The checkpoint text: "0" (version), the entry count, then "epoch start_offset" per line,
/// ascending, each line ending in '\n'.
std::string leader_epoch_checkpoint_text(const std::vector<EpochEntry>& entries);

/// Parses checkpoint text. Throws std::runtime_error naming `what` (the file) and the 1-based
/// line for another version, a malformed line, a count that does not match the lines, or entries
/// whose epochs or offsets do not ascend.
std::vector<EpochEntry> parse_leader_epoch_checkpoint(const std::string& text, const std::string& what);

/// The epoch history of one partition, kept in memory and in `dir/leader-epoch-checkpoint`.
/// Every change is written at once with atomic_write_file (temp file, fsync, rename, fsync of the
/// directory): changes happen when the leader epoch moves or the log is truncated, never per
/// record. Thread-safe. I/O errors throw std::system_error naming the file.
class LeaderEpochCache {
 public:
  /// Loads `dir/leader-epoch-checkpoint` when it exists (parse errors throw as
  /// parse_leader_epoch_checkpoint does); otherwise starts empty and writes nothing yet.
  explicit LeaderEpochCache(std::filesystem::path dir);

  /// Whether the checkpoint file existed when the cache was opened.
  bool loaded_from_file() const { return loaded_from_file_; }

  /// Records that `epoch` starts at `start_offset` (a batch of that epoch was appended there, or a
  /// leader took `epoch` at its log end offset). Nothing changes when `epoch` is already the latest
  /// and `start_offset` is not below its start. Otherwise entries with an epoch >= `epoch` or a start
  /// offset >= `start_offset` are dropped first (LeaderEpochFileCache.assign), then the entry is
  /// appended. A negative epoch is ignored (pre-v2 batches have none). With `persist` false the
  /// change stays in memory until the next change that writes the file (for a leader taking an
  /// epoch on an empty log, whose history the next leader rebuilds anyway).
  void assign(int32_t epoch, int64_t start_offset, bool persist = true);

  /// The log was truncated to `end_offset` (records at and above it are gone): entries starting at
  /// or above it are dropped.
  void truncate_from_end(int64_t end_offset);

  /// The log start moved to `start_offset`: entries starting at or below it are dropped except the
  /// last of them, whose start becomes `start_offset`.
  void truncate_from_start(int64_t start_offset);

  /// The end offset of `epoch` as OffsetForLeaderEpoch answers it, for a log whose end offset is
  /// `log_end_offset`: (-1, -1) for epoch -1, an empty history or an epoch above every entry;
  /// (epoch, log_end_offset) for the latest epoch; (epoch, first start offset) for an epoch below
  /// the first entry; else (largest epoch <= `epoch`, start offset of the next higher epoch).
  std::pair<int32_t, int64_t> end_offset_for(int32_t epoch, int64_t log_end_offset) const;

  /// The latest epoch, if any.
  std::optional<int32_t> latest_epoch() const;
  /// Every entry, ascending.
  std::vector<EpochEntry> entries() const;

 private:
  void persist_locked();

  const std::filesystem::path file_;
  mutable std::mutex mu_;
  std::vector<EpochEntry> entries_;
  bool loaded_from_file_ = false;
};

}  // namespace ferry::storage
