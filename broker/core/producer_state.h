// Idempotent-producer state of one partition (KIP-98): for every producer id, its epoch and the
// metadata of its last five appended batches, so a retried batch is recognised and answered with
// its original offsets, a gap in sequence numbers is refused, and a fenced (older) epoch is
// refused. Rebuilt on start from a snapshot plus the batches after it, so it survives SIGKILL.
#pragma once

#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "broker/protocol/errors.h"
#include "broker/storage/log.h"

namespace ferry::broker {

/// One appended batch as the producer state remembers it.
struct ProducerBatch {
  int32_t first_seq = 0;
  int32_t last_seq = 0;
  int64_t base_offset = 0;
  int64_t last_offset = 0;
  bool operator==(const ProducerBatch&) const = default;
};

/// What the state knows of one producer id.
struct ProducerEntry {
  int16_t epoch = 0;
  int64_t last_timestamp_ms = 0;  // wall clock of its last append, for producer.id.expiration.ms
  std::deque<ProducerBatch> batches;  // oldest first, at most kMaxBatches
  bool operator==(const ProducerEntry&) const = default;
};

/// Outcome of checking a producer's batches before they are appended.
struct SequenceCheck {
  protocol::ErrorCode error = protocol::ErrorCode::NONE;
  /// Set when the batch was already appended: answer with these offsets and no error.
  std::optional<ProducerBatch> duplicate_of;
};

class ProducerStateManager {
 public:
  /// Kafka keeps the last five batches per producer; clients have at most five in flight.
  static constexpr size_t kMaxBatches = 5;

  /// Checks batches (one produce request's batches for this partition, in order) against the
  /// state without changing it. Rules (Kafka's ProducerStateManager): non-idempotent batches
  /// (producer id -1) pass; an epoch older than the known one is INVALID_PRODUCER_EPOCH; a new
  /// epoch or an unknown producer must start at sequence 0; a batch equal to one of the last five
  /// is a duplicate; otherwise its first sequence must follow the last one (wrapping at INT32_MAX),
  /// else OUT_OF_ORDER_SEQUENCE_NUMBER. Several batches of one producer in one request are
  /// checked as a chain.
  SequenceCheck check(const std::vector<storage::BatchHeader>& batches) const;

  /// Records batches that were appended (their headers carry the assigned offsets).
  void record(const std::vector<storage::BatchHeader>& appended, int64_t now_ms);

  /// Drops producers idle for longer than `expiration_ms` (producer.id.expiration.ms).
  size_t expire(int64_t now_ms, int64_t expiration_ms);

  const std::map<int64_t, ProducerEntry>& producers() const { return producers_; }

  /// Writes the state as of `next_offset` (every batch below it is included) atomically.
  void write_snapshot(const std::filesystem::path& file, int64_t next_offset) const;
  /// Loads a snapshot; returns the offset it was taken at, or nullopt (state left empty) when the
  /// file is missing or unreadable (a warning names the file and the problem).
  std::optional<int64_t> load_snapshot(const std::filesystem::path& file);

  /// Rebuilds state from the log: loads `snapshot` if usable, then replays the headers of every
  /// batch from there to the log end. Returns the number of batches replayed.
  int64_t rebuild(storage::Log& log, const std::filesystem::path& snapshot, int64_t now_ms);

 private:
  std::map<int64_t, ProducerEntry> producers_;
};

}  // namespace ferry::broker
