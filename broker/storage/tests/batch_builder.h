// Test-side encoder for record batch v2 (independent of the code under test except crc32c, which
// has its own RFC 3720 vectors), real codec compressors, and a self-deleting temp directory.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "broker/storage/log.h"
#include "broker/storage/record_batch.h"

namespace ferry::storage::testing {

struct TestRecord {
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::vector<std::pair<std::string, std::optional<std::string>>> headers;
  int64_t timestamp_delta = 0;
};

/// Knobs for one batch. Defaults give a valid uncompressed CreateTime batch.
struct BatchSpec {
  std::vector<TestRecord> records;
  int64_t base_offset = 0;
  int64_t base_timestamp = 1'000;
  std::optional<int64_t> max_timestamp;  ///< default: base + largest delta
  int codec = 0;                         ///< 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd
  bool xerial = false;                   ///< snappy in xerial framing (Java / kafka-python)
  int16_t extra_attributes = 0;
  int8_t magic = 2;
  std::optional<int32_t> record_count;       ///< lie about the count
  std::optional<int32_t> last_offset_delta;  ///< lie about the last offset delta
  std::vector<int32_t> offset_deltas;        ///< per-record override, default 0..n-1
  /// Applied to the uncompressed records section before compression (to break records).
  std::function<void(std::vector<uint8_t>&)> mutate_records;
  int32_t partition_leader_epoch = -1;
};

std::vector<uint8_t> encode_record(const TestRecord& r, int32_t offset_delta);
std::vector<uint8_t> encode_batch(const BatchSpec& spec);
std::vector<uint8_t> compress(int codec, bool xerial, const std::vector<uint8_t>& raw);

/// `n` records with keys "k<i>" and `value_size`-byte values, timestamps base_ts + 10*i.
BatchSpec simple_spec(int n, int64_t base_ts = 1'000, size_t value_size = 10, int codec = 0);
std::vector<uint8_t> simple_batch(int n, int64_t base_ts = 1'000, size_t value_size = 10, int codec = 0);

/// Headers of a blob that validate_produce_records accepts; fails the test otherwise.
std::vector<BatchHeader> headers_of(const std::vector<uint8_t>& blob);

/// Splits a blob of whole batches.
std::vector<std::vector<uint8_t>> split_batches(const std::vector<uint8_t>& blob);

/// A batch as the log stored it (offsets assigned).
struct Stored {
  int64_t base;
  int64_t last;
  std::vector<uint8_t> bytes;
};

/// Appends `blob` (validated first), asserting success; returns what the log now holds.
Stored append_ok(Log& log, std::vector<uint8_t> blob, int64_t now_ms = 0, int32_t epoch = 0);

/// Concatenated bytes of stored[from..to).
std::vector<uint8_t> concat(const std::vector<Stored>& stored, size_t from, size_t to = SIZE_MAX);

/// Index of the stored batch containing `offset`.
size_t batch_containing(const std::vector<Stored>& stored, int64_t offset);

/// mkdtemp directory removed (recursively) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

/// Lists "<name>" of files in `dir` with extension `ext`, sorted.
std::vector<std::string> files_with_ext(const std::filesystem::path& dir, const std::string& ext);

/// Base offsets of the segments in `dir` (from the .log file names).
std::set<int64_t> segment_bases(const std::filesystem::path& dir);

/// Every batch of `log` from `from` to its end in one read (the test fails on a read error).
std::vector<uint8_t> read_all(const Log& log, int64_t from);

/// How many descriptors this process holds open on files directly in `dir` (/proc/self/fd).
int descriptors_in(const std::filesystem::path& dir);

}  // namespace ferry::storage::testing
