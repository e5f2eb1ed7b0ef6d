// What flow.cc (data path) and flow_control.cc (control API, checkpoints, status) share: the
// per-partition state and client helpers. Private to ferry-mirror's Flow.
#pragma once

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "client/kafka.h"
#include "common/metrics.h"
#include "mirror/config.h"
#include "mirror/flow.h"
#include "mirror/offset_translation.h"
#include "mirror/target_limits.h"

namespace ferry::mirror {

using PartitionList = std::unique_ptr<rd_kafka_topic_partition_list_t, void (*)(rd_kafka_topic_partition_list_t*)>;
using Message = std::unique_ptr<rd_kafka_message_t, void (*)(rd_kafka_message_t*)>;

// Topic configs a mirror never copies: they describe the source cluster's own operations, not the
// data (MM2's DefaultConfigPropertyFilter excludes the same kind).
inline bool copyable_config(const std::string& key) {
  static const std::set<std::string> excluded = {"follower.replication.throttled.replicas",
                                                 "leader.replication.throttled.replicas",
                                                 "message.timestamp.difference.max.ms",
                                                 "message.timestamp.type",
                                                 "unclean.leader.election.enable",
                                                 "min.insync.replicas"};
  return !excluded.contains(key);
}

inline client::Properties cluster_properties(const ClusterConfig& c, const std::string& client_id) {
  client::Properties p = c.client;
  p["bootstrap.servers"] = c.bootstrap_servers;
  p["client.id"] = client_id;
  return p;
}

/// The longest one read of the source's log end offsets may take (the ends thread's reads grow
/// up to it on a slow source; a pause's read after the drain): a source that is gone costs at most
/// this, so no thread is held up.
inline constexpr std::chrono::milliseconds kSourceEndsTimeout{2000};

/// How often a partition stopped by a refused record asks the target again whether it now fits
/// (its topic's limits), and how long before one refused for another reason is tried again.
inline constexpr std::chrono::seconds kRefusedRecheck{10};
inline constexpr std::chrono::seconds kRefusedRetry{30};

/// single_record_batch_bytes (target_limits.h) of message `m`'s key and value with librdkafka
/// headers `headers` (may be null): the size of the one-record batch the target would have to accept.
int64_t record_batch_bytes(const rd_kafka_message_t& m, const rd_kafka_headers_t* headers);

/// A consumer used with assign() only, never joining its group: reads ranges of a partition.
inline client::Handle make_probe(const ClusterConfig& c, const std::string& group) {
  auto props = cluster_properties(c, "ferry-mirror-probe");
  props["group.id"] = group;
  props["enable.auto.commit"] = "false";
  props["enable.partition.eof"] = "true";
  props["fetch.wait.max.ms"] = "10";  // the data read is already there
  return client::make_handle(RD_KAFKA_CONSUMER, client::make_conf(props));
}

inline const std::vector<double>& latency_buckets() {
  static const std::vector<double> b = metrics::exponential_buckets(0.5, 2, 16);  // 0.5 ms .. ~16 s
  return b;
}

/// One source partition this process replicates now.
struct Flow::PartitionState {
  std::string source_topic;
  std::string remote_topic;
  int32_t partition = 0;
  /// Next source offset to hand to the producer.
  int64_t next_to_produce = 0;
  /// One past the newest source offset the target acknowledged (or skipped as a loop).
  std::atomic<int64_t> replicated_end{0};
  /// The source's high watermark as the consumer last saw it.
  std::atomic<int64_t> source_end{0};
  /// Wall-clock ms at which source_end was at most the source's log end offset: when the
  /// ListOffsets that gave it (or a higher one) was sent. 0: never read from the source.
  std::atomic<int64_t> source_end_ms{0};
  /// Records handed to the producer and not yet acknowledged.
  int64_t in_flight = 0;
  OffsetMapping mapping;
  /// This process copied the partition from the source's very start: offsets below the first
  /// copied record never held a record (compacted away or deleted), so they translate to it.
  bool copied_from_start = false;
  /// The target producer this partition's records go through: the one whose batch.size fits
  /// `limits` (Flow::producer_for). Set at assignment, changed only with nothing in flight.
  rd_kafka_t* producer = nullptr;
  /// What the remote topic accepts in one record batch, read at assignment (unbounded: unknown).
  TargetLimits limits;
  /// The refusal fields below are written by the data thread only, under partitions_mu_ (for
  /// /status); the data thread reads them without it.
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
  explicit PartitionState(int64_t resync_every) : mapping(OffsetMapping::kDefaultMaxRuns, resync_every) {}
  metrics::Counter* record_count = nullptr;
  metrics::Counter* bytes = nullptr;
  metrics::Histogram* latency = nullptr;
  metrics::Gauge* record_age = nullptr;
  metrics::Gauge* refused_gauge = nullptr;
};

/// The opaque of one produced record: where it came from.
struct Flow::InFlight {
  PartitionState* partition;
  int64_t upstream_offset;
  int64_t source_timestamp;
  size_t bytes;
  uint64_t generation;  // the assignment it was produced under; deliveries of older ones are ignored
  int64_t heartbeat_ms;  // the timestamp field of a replicated heartbeat record, else -1
};

}  // namespace ferry::mirror
