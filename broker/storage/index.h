// A segment's sparse indexes, in Kafka's on-disk layout (kafka.log.OffsetIndex / TimeIndex):
//   .index      8-byte entries: u32 relative offset, u32 position in the .log (big-endian)
//   .timeindex 12-byte entries: i64 timestamp, u32 relative offset (big-endian)
// Files are written append-only with their exact size (Kafka preallocates and trims; readers of
// either layout only see whole entries). Entries are mirrored in memory for lookups, so no
// descriptor stays open: each write and sync opens the file for that call only. With 10,000
// partitions the two index descriptors per active segment would otherwise be 20,000 of the
// process's open files (issue 16); index writes happen at most once per produce request, so the
// open/close pair costs nothing measurable next to the write itself.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <type_traits>
#include <vector>

namespace ferry::storage {

/// Offset index entry: the batch whose last offset is base+relative_offset starts at `position`.
struct OffsetIndexEntry {
  uint32_t relative_offset;
  uint32_t position;
  bool operator==(const OffsetIndexEntry&) const = default;
};

/// Time index entry: every record at or before the batch holding base+relative_offset has a
/// timestamp <= `timestamp` (it is the segment's max timestamp so far, as in Kafka).
struct TimeIndexEntry {
  int64_t timestamp;
  uint32_t relative_offset;
  bool operator==(const TimeIndexEntry&) const = default;
};

/// One index file plus its in-memory entries. Not thread-safe; the owning Log serialises writers.
template <typename Entry>
class IndexFile {
 public:
  static constexpr size_t kEntrySize = std::is_same_v<Entry, OffsetIndexEntry> ? 8 : 12;

  IndexFile() = default;
  IndexFile(const IndexFile&) = delete;
  IndexFile& operator=(const IndexFile&) = delete;
  ~IndexFile() { close(); }

  /// Reads (creating if missing) `path` and decodes it; the descriptor is closed again before
  /// returning. Returns "" when the file held whole entries, otherwise why it cannot be trusted
  /// (entries are then empty and the caller rebuilds). `existed` reports whether the file was
  /// present before. Throws std::system_error on I/O failure.
  std::string open(const std::filesystem::path& path, bool* existed);

  /// Entries in file order (relative offsets and positions / timestamps increasing).
  const std::vector<Entry>& entries() const { return entries_; }
  const std::filesystem::path& path() const { return path_; }

  /// Appends entries to the file (one write) and to memory.
  void append(const std::vector<Entry>& more);
  /// Replaces the whole file content with `entries`.
  void rewrite(std::vector<Entry> entries);
  /// True when one more entry would exceed `max_bytes` (segment.index.bytes).
  bool full(int64_t max_bytes) const {
    return static_cast<int64_t>((entries_.size() + 1) * kEntrySize) > max_bytes;
  }
  /// fsyncs the file when it was written since the last sync (through a descriptor opened for
  /// the call: Linux flushes the inode's dirty pages whichever descriptor wrote them; a
  /// writeback error that another descriptor already consumed is not seen here, and the log's
  /// recovery rebuilds an index it cannot trust). Throws std::system_error.
  void sync();
  /// Marks the file done: later sync() calls do nothing; entries stay readable in memory.
  /// Idempotent.
  void close();

 private:
  std::filesystem::path path_;
  bool dirty_ = false;  // written since the last sync
  std::vector<Entry> entries_;
};

using OffsetIndex = IndexFile<OffsetIndexEntry>;
using TimeIndex = IndexFile<TimeIndexEntry>;

}  // namespace ferry::storage
