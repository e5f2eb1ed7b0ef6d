// In-region replication on a broker of a region whose metadata lives on etcd (issue 17): applies
// the controller's partition states to the local replicas (leader or follower, Kafka's
// ReplicaManager.becomeLeaderOrFollower), keeps the ISR of the partitions this broker leads
// (shrink after replica.lag.time.max.ms, expand when a follower catches up; Kafka's
// Partition.maybeShrinkIsr / maybeExpandIsr), runs the replica fetchers of the partitions it
// follows, and, while this broker is the elected controller, the controller's reconciliation
// (leaders from the ISR for every partition; partition_state.h).
//
// Where Kafka sends LeaderAndIsr and AlterPartition requests, Ferry's brokers read and write the
// partition states in etcd: every broker watches them (EtcdMetadataStore), the controller writes
// them under its controller epoch, and a leader writes its own ISR changes by compare-and-set on
// the partition's mod_revision (the ZooKeeper-era leader writes, with etcd's revision as the
// znode version). A stale leader's write therefore fails, and it learns the new state from the
// watch. ../shared/REPLICATION-SEMANTICS.md §2 and §4; docs/replication.md.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "broker/config/broker_config.h"
#include "broker/metadata/etcd_metadata_store.h"
#include "broker/replication/reassignment.h"
#include "common/metrics.h"

namespace ferry::broker {
class ReplicaManager;
class Partition;
class ControllerElection;
}  // namespace ferry::broker

namespace ferry::broker::replication {

class ReplicaFetchers;

/// A live broker as Metadata shows it on one listener.
struct BrokerEndpoint {
  int32_t node_id = 0;
  std::string host;
  int32_t port = 0;
  std::string rack;  // "" = none
};

/// One partition as Metadata shows it (MetadataResponse.json, ../shared §2): error
/// LEADER_NOT_AVAILABLE when it has no live leader.
struct PartitionView {
  int32_t leader = -1;
  int32_t leader_epoch = -1;
  std::vector<int32_t> replicas;
  std::vector<int32_t> isr;
  std::vector<int32_t> offline;  ///< replicas whose broker is not registered
};

/// "NAME://host:port" (a registration's endpoint) → (name, host, port); nullopt when malformed.
std::optional<std::tuple<std::string, std::string, int32_t>> parse_endpoint(const std::string& endpoint);

class Replication {
 public:
  /// `store` must outlive this object, and so must `replicas` and `election`. Nothing runs before
  /// start().
  Replication(const BrokerConfig& config, EtcdMetadataStore& store, ReplicaManager& replicas,
              ControllerElection& election, metrics::Registry& metrics);
  ~Replication();
  Replication(const Replication&) = delete;
  Replication& operator=(const Replication&) = delete;

  /// Applies the states in the store now (so a restarted broker serves what it leads before its
  /// first client), then starts the replication thread and the fetchers.
  void start();
  /// Called on the replication thread when this broker becomes (true) or stops being (false) the
  /// leader of a partition of __consumer_offsets, with its index: the group coordinator follows
  /// (loads or unloads that partition's groups). Set before start().
  void set_offsets_leadership_listener(std::function<void(int32_t partition, bool leader)> listener) {
    offsets_listener_ = std::move(listener);
  }
  /// Stops the fetchers and the thread. Idempotent.
  void stop();
  /// Controlled shutdown (what Kafka's ControlledShutdown, API 7, achieves in the ZooKeeper era):
  /// call after revoking this broker's registration; returns once it leads no partition that
  /// another live ISR member could lead (the controller moved them), or after `timeout` (false).
  bool shutdown_leaderships(std::chrono::milliseconds timeout);
  /// The store's change listener calls this (on the watch thread): it only marks work for the
  /// replication thread.
  void on_change(EtcdMetadataChange change);
  /// The fetch handler found a follower that qualifies for the ISR (Partition::record_follower_fetch):
  /// the replication thread writes the expansion soon. Never blocks.
  void request_isr_update(const std::shared_ptr<Partition>& partition);

  // For Metadata and FindCoordinator.
  /// Called before answering from the store's copy (Metadata, FindCoordinator, DescribeCluster):
  /// when this broker did not run for longer than its session (SIGSTOP, a stall), the copy is read
  /// again first, so it never answers with leaderships the controller changed meanwhile (a client
  /// such as librdkafka 2.0.2 that applies such a stale answer after a fresh one keeps producing
  /// to the old leader). "Did not run" is seen as the replication thread, which wakes at least
  /// every second, not having done so for broker.session.timeout.ms. Then the caller waits until
  /// that thread has read the metadata again and applied it (so a Produce to a former leader gets
  /// NOT_LEADER_OR_FOLLOWER, not a check against its stale producer state), at most 3 s, after
  /// which it answers from the copy. A cheap atomic check otherwise.
  void ensure_fresh();
  /// Registered brokers with an endpoint on `listener`, by node id.
  std::vector<BrokerEndpoint> live_brokers(const std::string& listener);
  /// The elected controller's node id, -1 when none.
  int32_t controller_id();
  /// The controller id for Metadata and DescribeCluster. While none is elected (this broker just
  /// registered, or the last controller's lease just ran out: both end in an election within
  /// milliseconds) it waits for the election, at most 3 s counted from when the controller was
  /// first seen missing, then answers -1. Why: librdkafka 2.0.2's admin requests wait for a
  /// controller id and, given -1, never ask again, so a CreateTopics sent to a broker in its
  /// first milliseconds hung until the client's timeout. Kafka's ZooKeeper-mode brokers answer
  /// -1 in that window too (MetadataResponse.NO_CONTROLLER_ID); they just rarely are asked then.
  int32_t awaited_controller_id();
  /// Every partition of `t` (t.partitions entries).
  std::vector<PartitionView> describe(const TopicMetadata& t);
  /// The partition's leader id as the controller last wrote it, -1 when none.
  int32_t leader_of(const std::string& topic, int32_t partition);

  /// AlterPartitionReassignments (KIP-455) for partitions of one topic: `moves` pairs a partition
  /// index with its target replicas (nullopt cancels). Each is checked and applied by
  /// request_reassignment (reassignment.h); the accepted ones are stored in one compare-and-set of
  /// the topic (re-read and retried when another writer came first) and the controller completes
  /// them. Returns one error per move, in order (code NONE when accepted); a missing topic is
  /// UNKNOWN_TOPIC_OR_PARTITION for all, and etcd failing KAFKA_STORAGE_ERROR (nothing stored).
  std::vector<ReassignmentError> reassign(const std::string& topic,
                                          const std::vector<std::pair<int32_t, std::optional<std::vector<int32_t>>>>& moves);

  /// Every topic as the store's copy has it now (reassignments included; the replica manager's
  /// topics follow a moment later, on the replication thread).
  std::vector<TopicMetadata> topics() { return store_.topics(); }

  /// Waits up to `timeout` until partitions [0, count) of `topic` have a leader in the store (the
  /// controller elected them). Returns whether they all do.
  bool await_leaders(const std::string& topic, int32_t count, std::chrono::milliseconds timeout);

 private:
  void run();
  void register_metrics();
  /// One pass: local topics in line with the store, leadership applied, fetchers updated.
  void apply_states();
  /// ISR shrinks (out of sync followers) and expansions (requested) of the partitions led here.
  void maintain_isr(bool check_lag);
  /// The controller's reconciliation, when this broker holds the controller epoch.
  void controller_pass();
  /// The controller completes the reassignments whose target replicas are all in the ISR (from
  /// the pass's snapshot of topics and states).
  void complete_reassignments_pass(int64_t epoch, const std::map<std::string, TopicMetadata>& topics,
                                   const std::map<std::pair<std::string, int32_t>, PartitionState>& states,
                                   const std::set<int32_t>& live);
  /// Every leader.imbalance.check.interval.seconds, with auto.leader.rebalance.enable, the
  /// controller's preferred-leader elections (rebalance_leaders), when no election is pending.
  void maybe_rebalance_leaders(int64_t epoch, const std::map<std::string, TopicMetadata>& topics,
                               const std::map<std::pair<std::string, int32_t>, PartitionState>& states,
                               const std::set<int32_t>& live);
  /// The controller creates __consumer_offsets once offsets.topic.replication.factor brokers are
  /// registered (Kafka creates it on the first FindCoordinator, refusing while fewer brokers live).
  void maybe_create_offsets_topic(const std::set<int32_t>& live);
  /// Calls the offsets listener; a failure is logged and retried on the next pass.
  void notify_offsets_leadership(int32_t partition, bool leader);
  /// Writes `isr` as the new ISR of a partition this broker leads, by compare-and-set.
  bool write_isr(Partition& p, const std::vector<int32_t>& isr);

  const BrokerConfig& config_;
  EtcdMetadataStore& store_;
  ReplicaManager& replicas_;
  ControllerElection& election_;
  metrics::Registry& metrics_;
  const int32_t node_id_;
  const int64_t lag_max_ms_;
  std::unique_ptr<ReplicaFetchers> fetchers_;
  std::function<void(int32_t, bool)> offsets_listener_;
  bool offsets_wait_logged_ = false;  // replication thread only
  std::set<int32_t> offsets_pending_;  // __consumer_offsets partitions whose listener call failed (replication thread)

  std::mutex mu_;
  std::condition_variable cv_;
  bool dirty_ = true;      // states, topics or brokers changed since the last apply
  bool stopping_ = false;
  bool started_ = false;
  std::set<std::pair<std::string, int32_t>> isr_requests_;  // partitions with an expansion to write
  std::thread thread_;
  const std::chrono::steady_clock::duration stale_after_;  // broker.session.timeout.ms
  // Until when the copy counts as current: moved on by every replication-thread wake-up that came
  // in time, and by every re-read (steady_clock ticks).
  std::atomic<int64_t> fresh_until_{0};
  std::condition_variable fresh_cv_;  // fresh_until_ moved on (with mu_)
  std::atomic<int64_t> controller_missing_since_{0};  // steady-clock ticks; 0 while one is known
  std::chrono::steady_clock::time_point last_wake_{};  // replication thread only
  std::chrono::steady_clock::time_point next_rebalance_{};  // replication thread only

  metrics::Counter& isr_shrinks_;
  metrics::Counter& isr_expands_;
  metrics::Counter& failed_isr_updates_;
};

}  // namespace ferry::broker::replication
