// Kafka's offset checkpoint files (recovery-point-offset-checkpoint, log-start-offset-checkpoint,
// replication-offset-checkpoint; format of kafka.server.checkpoints.OffsetCheckpointFile): a
// version line "0", a count line, then one "topic partition offset" line per entry.
#pragma once

#include <compare>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>

#include "common/durable_file.h"

namespace ferry::storage {

/// A partition as named in checkpoint files and on disk ("<topic>-<partition>").
struct TopicPartition {
  std::string topic;
  int32_t partition;
  auto operator<=>(const TopicPartition&) const = default;
};

/// Reads a checkpoint file. A missing file yields an empty map (a fresh log dir). Anything else
/// that is not exactly the format (wrong version, count not matching the lines, a line without
/// three fields, non-numeric partition/offset, duplicate partition) throws std::runtime_error
/// naming the file and 1-based line. I/O errors throw std::system_error.
std::map<TopicPartition, int64_t> read_offset_checkpoint(const std::filesystem::path& file);

/// Writes `offsets` in checkpoint format via ferry::atomic_write_file, so a crash leaves either the old
/// or the new file. Topic names must not contain whitespace (Kafka's topic charset guarantees it);
/// a name that does throws std::invalid_argument.
void write_offset_checkpoint(const std::filesystem::path& file, const std::map<TopicPartition, int64_t>& offsets);

/// Replaces a file atomically and durably (common/durable_file.h).
using ferry::atomic_write_file;

}  // namespace ferry::storage
