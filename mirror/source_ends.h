// A flow's view of the source's log end offsets (issue 13, defect 3; its "ends" thread): what
// ferry-dr counts an unplanned failover's loss from. Kept fresh by a thread of its own, stamped
// with the time each value was read, and with a fast signal that the source is gone, so a pause
// after the source died answers at once (defect 7). docs/mirror.md, "Control API".
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <utility>
#include <vector>

#include "client/kafka.h"
#include "mirror/config.h"
#include "mirror/flow_conditions.h"
#include "mirror/partition_state.h"

namespace ferry::mirror {

/// The source end-offset view of one flow, written into its PartitionStates
/// (PartitionState::observe_source_end). Thread-safe. All references must outlive it.
class SourceEndsView {
 public:
  /// `partitions` (guarded by `partitions_mu`) are the flow's partition states; the view sets and
  /// clears the flow's "source" and "source-ends" conditions in `conditions`.
  SourceEndsView(const FlowConfig& flow, const ClusterConfig& source, FlowConditions& conditions,
                 PartitionMap& partitions, std::mutex& partitions_mu);

  /// The ends thread, until `running` is false: ListOffsets latest of every partition in the
  /// map from the source itself, one request per leader, every 50 ms while running (never more
  /// often than twice the last read's duration, nor than ten times the CPU time it took) and
  /// every second while `paused`, so the view of a few thousand partitions is well under 100 ms
  /// old even while the mirror is behind (librdkafka stops fetching a partition whose local
  /// queue is full); the view of 10,000 partitions is under a second old (measured 0.2-0.8 s). With no partition held, a Metadata round trip still tells
  /// whether the source answers. Waits on `wake`.
  void run(const std::atomic<bool>& running, const std::atomic<bool>& paused, std::mutex& wake_mu,
           std::condition_variable& wake);

  /// One such read of `keys` (empty: every partition in the map) on `rk` within `timeout`,
  /// stamping `sent_ms` on the partitions in the map; `only_raise` keeps a higher value from a
  /// fetch response. Returns (partitions asked, partitions without an answer); throws
  /// client::KafkaError when the request failed as a whole.
  std::pair<size_t, size_t> read(rd_kafka_t* rk, std::vector<client::TopicPartitionKey> keys, int64_t sent_ms,
                                 bool only_raise, std::chrono::milliseconds timeout);

  /// The source is known to be unreachable now: every broker connection of the ends thread's
  /// client is down (librdkafka's ALL_BROKERS_DOWN, within milliseconds of a SIGKILLed region on
  /// loopback), or the flow's "source" condition is set. A pause then answers at once.
  bool source_known_down() const;

 private:
  static void error_cb(rd_kafka_t* rk, int err, const char* reason, void* opaque);

  const FlowConfig& flow_;
  const ClusterConfig& source_;
  FlowConditions& conditions_;
  PartitionMap& partitions_;
  std::mutex& partitions_mu_;
  std::atomic<int64_t> source_down_ms_{0};  // wall-clock ms since every source connection is down; 0: not
};

}  // namespace ferry::mirror
