// The one typed state of a source partition a Flow replicates, shared by the flow's parts: the
// data path (assignment, produce, delivery), the source-ends view, the checkpoint passes and
// /status (docs/mirror.md, "Threads of a flow"). Its transitions are here, free of librdkafka and
// sockets, so they are unit-tested without processes (mirror_test, partition_state_test.cc).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "mirror/offset_translation.h"
#include "mirror/status_types.h"
#include "mirror/target_limits.h"

struct rd_kafka_s;  // librdkafka's rd_kafka_t: only carried here, never used

namespace ferry::metrics {
class Counter;
class Gauge;
class Histogram;
}  // namespace ferry::metrics

namespace ferry::mirror {

/// (source topic, partition): how a flow names a partition it replicates.
using PartitionKey = std::pair<std::string, int32_t>;

/// How often a partition stopped by a refused record asks the target again whether it now fits
/// (its topic's limits), and how long before one refused for another reason is tried again.
inline constexpr std::chrono::seconds kRefusedRecheck{10};
inline constexpr std::chrono::seconds kRefusedRetry{30};

/// One source partition this process replicates now (or kept after a pause, or rebuilt for a
/// checkpoint while paused). Offsets are source offsets unless named downstream. Locking: the
/// flow keeps every state in one PartitionMap under one mutex; the atomics may be read without
/// it (metrics, the ends view), everything else is read and changed under it, and the
/// transitions below expect the caller to hold it.
struct PartitionState {
  std::string source_topic;
  std::string remote_topic;
  int32_t partition = 0;
  /// Next source offset to hand to the producer.
  int64_t next_to_produce = 0;
  /// One past the newest source offset the target acknowledged (or skipped as a loop): /status
  /// "next_offset".
  std::atomic<int64_t> replicated_end{0};
  /// The source's log end offset as last seen (consumer watermark or ListOffsets).
  std::atomic<int64_t> source_end{0};
  /// Wall-clock ms at which source_end was at most the source's log end offset: when the
  /// ListOffsets that gave it (or a higher one) was sent. 0: never read from the source.
  std::atomic<int64_t> source_end_ms{0};
  /// Records handed to the producer and not yet acknowledged.
  int64_t in_flight = 0;
  /// Exact upstream -> downstream translation (offset_translation.h).
  OffsetMapping mapping;
  /// This process copied the partition from the source's very start: offsets below the first
  /// copied record never held a record (compacted away or deleted), so they translate to it.
  bool copied_from_start = false;
  /// The target producer this partition's records go through: the one whose batch.size fits
  /// `limits`. Set at assignment, changed only with nothing in flight.
  rd_kafka_s* producer = nullptr;
  /// What the remote topic accepts in one record batch, read at assignment (unbounded: unknown).
  TargetLimits limits;
  /// Non-empty while the target refuses a record of this partition for good (issue 13, defect 2):
  /// why, naming the partition. Replication of this partition stops at `refused_at` (the refused
  /// source offset) while every other partition goes on; rechecked every kRefusedRecheck.
  std::string refused;
  int64_t refused_at = -1;
  /// The refused record's size as a one-record batch (target_limits.h).
  int64_t refused_bytes = 0;
  /// The target answered the refusal (else the mirror saw beforehand that the record cannot fit).
  bool refused_by_target = false;
  /// Records after the refused one the target acknowledged anyway (only when the target refused a
  /// batch in flight): the target then lacks the refused record, and the partition stays stopped.
  int64_t landed_after_refusal = 0;
  std::chrono::steady_clock::time_point refused_since{};
  std::chrono::steady_clock::time_point recheck_at{};
  /// The partition's metrics (owned by the flow's registry); null in states not replicated
  /// (rebuilt for a checkpoint) and in tests.
  metrics::Counter* record_count = nullptr;
  metrics::Counter* bytes = nullptr;
  metrics::Histogram* latency = nullptr;
  metrics::Gauge* record_age = nullptr;
  metrics::Gauge* refused_gauge = nullptr;

  /// A state whose mapping writes a resync every `resync_every` records (FlowConfig::resync_every).
  PartitionState(std::string source_topic, std::string remote_topic, int32_t partition, int64_t resync_every);

  /// Starts (or restarts) the copy at source offset `offset`: nothing in flight, nothing
  /// replicated beyond it.
  void start_at(int64_t offset);
  /// The source partition was recreated (it now ends before what was copied): forgets the
  /// translation and copies again from `offset`.
  void restart_after_recreate(int64_t offset, int64_t resync_every);
  /// The record at `offset` was handed to the producer.
  void produced(int64_t offset);
  /// The record at `offset` is not copied (written on the target in the first place: a loop). It
  /// counts as replicated at once when nothing is in flight, else once the records before it land.
  void skipped_loop(int64_t offset);
  /// A delivery report of the record at source offset `upstream` that landed on the target.
  /// Advances replicated_end, unless a record before it was refused for good: then the target
  /// lacks that record, and the partition stays stopped. Returns the message to report (once,
  /// naming `target`) for the first such record; nullopt otherwise. The caller has already
  /// decremented in_flight.
  std::optional<std::string> landed(int64_t upstream, const std::string& target);
  /// After the mapping recorded a landing: once nothing is in flight (and nothing is refused),
  /// the records skipped after it (loops) count as replicated too.
  void settle();
  /// Stops the partition at source offset `offset`, which the target refuses for good (`why`
  /// names it; `bytes` is its one-record batch size; `by_target`: the target answered, else the
  /// mirror saw it cannot fit). replicated_end never passes it. Rechecked kRefusedRecheck later.
  void refuse(int64_t offset, int64_t bytes, bool by_target, std::string why, std::chrono::steady_clock::time_point now);
  /// Whether a refused partition may be tried again now that the remote topic's limits are
  /// `fresh`: nothing after the refused record landed, it fits, and a refusal the target gave for
  /// another reason than size is retried only after kRefusedRetry or a change of the limits.
  bool may_resume(const TargetLimits& fresh, std::chrono::steady_clock::time_point now) const;
  /// Replication starts again at the refused record, through `producer` with `fresh` limits.
  /// Returns the source offset it resumes from.
  int64_t resume_from_refusal(const TargetLimits& fresh, rd_kafka_s* producer);
  /// A read of the source's log end offset `end`, true at wall ms `sent_ms` (when the request was
  /// sent). `only_raise`: a lower value is ignored (a consumer's fetch may have seen further).
  void observe_source_end(int64_t end, int64_t sent_ms, bool only_raise);
  /// max(0, source_end - replicated_end): the records a failover now would leave behind.
  int64_t lag_records() const;
  /// The /status entry; with `with_in_flight`, in_flight is set (a drain-timeout answer).
  PartitionStatus status(bool with_in_flight) const;
};

/// Every partition state of a flow, by (source topic, partition).
using PartitionMap = std::map<PartitionKey, std::unique_ptr<PartitionState>>;

}  // namespace ferry::mirror
