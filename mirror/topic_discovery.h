// Topic discovery of one flow (its "control" thread; docs/mirror.md, "Threads of a flow"): which
// source topics the flow replicates, their remote topics created on the target with the source's
// copyable configs and grown with the source, and MM2's offset-syncs topic on the source.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "client/kafka.h"
#include "mirror/config.h"
#include "mirror/flow_conditions.h"

namespace ferry::mirror {

/// A source topic this flow replicates and the remote topic it goes to.
struct TopicRoute {
  std::string source_topic;
  std::string remote_topic;
  int32_t partitions = 0;  ///< the source topic's partition count
};

/// Discovers a flow's topics and creates their remote topics. Thread-safe: run() on the control
/// thread, routes() and subscription() from any.
class TopicDiscovery {
 public:
  /// `source` and `target` are the flow's shared Admin clients; failures are recorded in
  /// `conditions` ("topics", and "partitions:<remote topic>" for a remote topic with more
  /// partitions than its source). All must outlive this object.
  TopicDiscovery(const FlowConfig& flow, client::Admin& source, client::Admin& target, FlowConditions& conditions);

  /// The control thread: refresh() now and then every refresh.topics.interval.ms (after a failure:
  /// 1 s, doubling up to 30 s) until `running` is false; waits on `wake` (notified on stop).
  /// A successful refresh also clears the "source" condition: the source answered.
  void run(const std::atomic<bool>& running, std::mutex& wake_mu, std::condition_variable& wake);

  /// One pass: creates the offset-syncs topic on the source (one partition, time retention off:
  /// Ferry's exact translation needs every sync still covering retained data, where MM2
  /// compacts), lists both clusters' topics, creates missing remote topics (the source topic's
  /// overrides, minus those describing the source cluster's own operations, as MM2's
  /// DefaultConfigPropertyFilter) and grows remote topics with fewer
  /// partitions (CreatePartitions). Throws client::KafkaError naming the cluster that failed.
  void refresh();

  /// One ACL sync (mirror/acl_sync.h): the source's LITERAL topic ACLs of the current routes,
  /// translated, created on the target. Returns the number of bindings sent (0 when a cluster has
  /// no ACL authorizer: SECURITY_DISABLED is not an error). Throws client::KafkaError naming the
  /// cluster that failed otherwise.
  size_t sync_acls();

  /// The routes found by the last successful refresh, by source topic.
  std::map<std::string, TopicRoute> routes() const;
  /// The routes' version (bumped whenever the set of topics or a partition count changes) and
  /// their source topics: what the data path subscribes to.
  std::pair<uint64_t, std::vector<std::string>> subscription() const;
  /// The version alone, without a lock or a copy: the data path asks it often.
  uint64_t subscription_version() const { return version_.load(); }

 private:
  const FlowConfig& flow_;
  client::Admin& source_;
  client::Admin& target_;
  FlowConditions& conditions_;
  mutable std::mutex mu_;
  std::map<std::string, TopicRoute> routes_;  // by source topic
  std::atomic<uint64_t> version_{0};  // changed under mu_
  std::chrono::steady_clock::time_point next_acl_sync_{};  // control thread only
  bool source_heartbeats_made_ = false;                     // control thread only
};

}  // namespace ferry::mirror
