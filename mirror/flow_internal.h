// What the flow*.cc files share: client helpers and the opaque of a produced record (the
// per-partition state is partition_state.h). Private to ferry-mirror's Flow.
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
