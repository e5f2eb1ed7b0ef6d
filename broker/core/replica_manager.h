// Owns every topic and partition on this broker: opens logs at start (with recovery), creates and
// deletes topics, grows partition counts, keeps recovery-point and log-start-offset checkpoints, and
// runs the background work (retention, flush.ms, segment.ms rolls, group-commit fsyncs).
// Named after Kafka's ReplicaManager/LogManager pair; with one node it is both.
#pragma once

#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <optional>
#include <map>
#include <memory>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "broker/config/broker_config.h"
#include "broker/core/dynamic_configs.h"
#include "broker/core/partition.h"
#include "broker/metadata/metadata_store.h"
#include "broker/protocol/errors.h"
#include "common/metrics.h"

namespace ferry::broker {

/// Outcome of an admin operation: a Kafka error code plus a message for the client and the log.
struct AdminResult {
  protocol::ErrorCode code = protocol::ErrorCode::NONE;
  std::string message;
  bool ok() const { return code == protocol::ErrorCode::NONE; }
};

/// The internal topic of committed offsets and group metadata (Kafka's GROUP_METADATA_TOPIC_NAME).
inline constexpr std::string_view kConsumerOffsetsTopic = "__consumer_offsets";

/// True for topics only the broker writes: clients may read them, but producing to them
/// (INVALID_TOPIC_EXCEPTION), deleting them or adding partitions to them (INVALID_REQUEST) is
/// refused, as Kafka does (Topic.isInternal).
inline bool is_internal_topic(std::string_view topic) { return topic == kConsumerOffsetsTopic; }

/// Validates a topic name by Kafka's rules (Topic.validate): 1–249 characters of [a-zA-Z0-9._-],
/// not "." or "..". Returns an empty string when valid, else the reason.
std::string topic_name_problem(const std::string& name);

class ReplicaManager {
 public:
  ReplicaManager(const BrokerConfig& config, MetadataStore& store, metrics::Registry& metrics);
  ~ReplicaManager();

  /// Opens every known topic's partitions (recovering logs after an unclean stop) and starts the
  /// background threads. Throws std::runtime_error / std::system_error if a log dir is unusable.
  void startup();
  /// Stops background work, fsyncs every log, writes checkpoints. Idempotent.
  void shutdown();

  /// The partition, or nullptr when the topic or partition does not exist.
  std::shared_ptr<Partition> partition(const std::string& topic, int32_t index) const;
  std::optional<TopicMetadata> topic(const std::string& name) const;
  std::vector<TopicMetadata> topics() const;
  /// Effective topic-level configuration (overrides over broker defaults).
  config::Values topic_config(const std::string& name) const;
  const config::Schema& topic_schema() const { return topic_schema_; }

  /// CreateTopics semantics (KIP-4): partitions -1 / replication factor -1 take the broker defaults;
  /// a replication factor above the one available broker is INVALID_REPLICATION_FACTOR; configs are
  /// validated (INVALID_CONFIG naming key and value); an existing name is TOPIC_ALREADY_EXISTS.
  /// In cluster mode a non-empty `manual` assignment (CreateTopics' replica assignments, already
  /// checked by the caller: ids registered, lists of `replication_factor` distinct ids, one per
  /// partition) is used instead of Kafka's placement.
  AdminResult create_topic(const std::string& name, int32_t partitions, int16_t replication_factor,
                           const std::map<std::string, std::string>& configs, bool validate_only,
                           const std::vector<std::vector<int32_t>>& manual = {});
  /// Removes the topic from metadata, then closes and deletes its logs.
  AdminResult delete_topic(const std::string& name);
  /// CreatePartitions (KIP-195): the new count must exceed the current one.
  AdminResult create_partitions(const std::string& name, int32_t new_count, bool validate_only);

  /// A producer id never handed out before, on this broker's whole history (ids are reserved in
  /// durable blocks of 1000 through the metadata store). Throws std::runtime_error if the
  /// reservation cannot be persisted.
  int64_t next_producer_id();

  /// Replaces a topic's config overrides with `overrides` (topic-level keys → value text):
  /// validated (INVALID_CONFIG naming key and value), persisted, then applied to the live logs
  /// without a restart. UNKNOWN_TOPIC_OR_PARTITION if the topic does not exist.
  AdminResult alter_topic_configs(const std::string& name, const std::map<std::string, std::string>& overrides,
                                  bool validate_only);

  /// Queues a group-commit fsync of `p`; its durable waiters wake when it completes.
  void request_flush(const std::shared_ptr<Partition>& p);
  /// The dynamic broker configs (KIP-226) of `entity`: "" is the cluster-wide default, the node
  /// id string this broker. Key -> value text.
  std::map<std::string, std::string> dynamic_broker_configs(const std::string& entity) const;
  /// Whether the cluster is in the disaster-recovery standby role (ferry.cluster.role =
  /// standby): this node's dynamic value, else the cluster-wide dynamic default, else the config
  /// file, else primary. Changes with alter_broker_configs, without a restart.
  bool standby() const { return dynamic_.standby(); }
  /// Whether a standby still accepts Produce from a client named `client_id` logged in as
  /// `principal`: DynamicBrokerConfigs::produce_allowed. Always true on a primary.
  bool produce_allowed(const std::string& client_id, const std::string& principal = "User:ANONYMOUS") const {
    return dynamic_.produce_allowed(client_id, principal);
  }

  /// Replaces the dynamic configs of `entity` ("" or this node's id) with `configs`. Each key must
  /// be dynamic (is_dynamic_broker_key) and each value valid for it, else INVALID_CONFIG naming
  /// the key and value. Persisted, then applied at once to every live log, below topic overrides
  /// and above the static file (precedence: topic, broker, cluster default, file, built-in).
  /// A change of ferry.cluster.role takes effect for the next Produce request.
  /// Takes the dynamic broker configs from the store again (a region on etcd: another broker
  /// altered them, e.g. ferry-dr setting ferry.cluster.role on the cluster default) and applies
  /// them as alter_broker_configs does here: the role at once, topic defaults to every topic.
  void reload_broker_configs();
  AdminResult alter_broker_configs(const std::string& entity, const std::map<std::string, std::string>& configs,
                                   bool validate_only);

  // --- Cluster mode (metadata.store = etcd, issue 17) ---
  /// How a region of several brokers places and elects: set by the broker before startup().
  struct ClusterHooks {
    /// Replica lists for partitions [first, first + count) at `replication_factor` over the live
    /// brokers (replication::assign_replicas). Throws std::invalid_argument with the reason when
    /// it cannot (INVALID_REPLICATION_FACTOR).
    std::function<std::vector<std::vector<int32_t>>(int32_t first, int32_t count, int16_t replication_factor)>
        assign;
    /// Waits (bounded) until partitions [0, count) of the topic have leaders; false on timeout.
    std::function<bool(const std::string& topic, int32_t count)> await_leaders;
    /// Writes the topic only if its key is still at `t.mod_revision` (0: absent), so two brokers
    /// creating one topic at once cannot both win (EtcdMetadataStore::put_topic_if); false when
    /// another writer came first.
    std::function<bool(const TopicMetadata& t)> put_topic_if;
  };
  /// Switches to cluster mode: only partitions assigned to this broker (TopicMetadata::assignment)
  /// are opened here, topics created here get an assignment from `hooks.assign`, and leadership
  /// comes from outside (replication::Replication) instead of this broker leading everything.
  void set_cluster_mode(ClusterHooks hooks) { cluster_ = std::move(hooks); }
  bool cluster_mode() const { return static_cast<bool>(cluster_.assign); }
  /// Whether partition `index` of `t` has a replica on this broker.
  bool hosted_here(const TopicMetadata& t, int32_t index) const;
  /// Cluster mode: brings the local topics in line with the cluster's `topics` (another broker
  /// created, grew, reconfigured or deleted them): opens the partitions now assigned here,
  /// applies config changes, closes and deletes the logs of topics that are gone. Returns the
  /// number of partitions opened or removed. Errors opening one partition are logged, and it is
  /// tried again on the next call.
  size_t sync_topics(const std::vector<TopicMetadata>& topics);
  /// Every partition open on this broker.
  std::vector<std::shared_ptr<Partition>> all_partitions() const;

  /// Persists the log start offsets now (after DeleteRecords).
  void checkpoint_log_start_offsets();
  /// Wakes every waiting fetch and produce (shutdown).
  void wake_all_waiters();

  /// A log in `dir` (a log.dirs entry) went offline after an I/O failure (a full disk, EIO):
  /// `dir` is offline from now on (Kafka's LogDirFailureChannel). When every log dir is offline
  /// the broker halts with exit code 1, as Kafka's does ("Shutdown broker because all log dirs
  /// in ... have failed", LogManager): its registration expires, the controller elects other
  /// leaders from the ISR, and the operator restarts it once the disk is fixed. Until then (or
  /// with other dirs still online) the offline dir's logs refuse appends with
  /// KAFKA_STORAGE_ERROR and keep serving reads. Ignored during shutdown().
  void on_log_dir_failure(const std::filesystem::path& dir, const std::string& partition, const std::string& why) const;
  /// The log.dirs entries an I/O failure took offline.
  std::set<std::filesystem::path> offline_log_dirs() const;

 private:
  /// Partitions per log dir (every configured dir present), from partitions_.
  std::map<std::string, int> partitions_per_dir() const;
  /// The log dir of a partition: the one holding its directory, else the one with the fewest
  /// partitions in `load` (Kafka's LogManager), whose count is then raised.
  std::filesystem::path log_dir_for(const std::string& topic, int32_t index, std::map<std::string, int>& load) const;
  /// Opens (and recovers) the partition's log in `dir` and rebuilds its producer state; runs for
  /// several partitions at once during startup. Throws what storage::Log::open throws.
  std::shared_ptr<Partition> load_partition(const TopicMetadata& t, int32_t index, const std::filesystem::path& dir) const;
  /// Threads that open logs at startup and close (flush) them at shutdown:
  /// num.recovery.threads.per.data.dir for each log dir, as Kafka's LogManager.
  size_t recovery_threads() const;
  void register_partition_metrics(const std::shared_ptr<Partition>& p);
  void unregister_partition_metrics(const std::string& topic, int32_t index);
  void checkpoint_recovery_points();
  /// Writes one Kafka-format offset checkpoint file per log dir with `offset_of` of every partition
  /// in it (partitions for which it returns nullopt are left out).
  void write_checkpoint(const char* file_name, const std::function<std::optional<int64_t>(Partition&)>& offset_of);
  /// Log cleaner pass over compacted partitions whose dirty ratio is due; persists the cleaner
  /// checkpoint (Kafka's cleaner-offset-checkpoint) when anything was cleaned.
  void clean_compacted(const std::vector<std::shared_ptr<Partition>>& partitions, int64_t now);
  void background_loop();
  void flusher_loop();
  /// Partition::flush(), timed into kafka_log_logflushstats_logflushrateandtimems (ms).
  int64_t timed_flush(Partition& p);
  /// timed_flush, with a failure logged rather than thrown (the log has already refused appends).
  void flush_logged(Partition& p);
  /// Threads of flush_pool_: fsyncs of one group commit in flight at once (a commit over more
  /// partitions runs them 8 at a time).
  static constexpr size_t kParallelFlushes = 8;
  config::Values topic_config_locked_free(const TopicMetadata& t) const;
  /// Pushes the topic's effective config into its live logs (after any config change).
  void apply_topic_config(const TopicMetadata& t, const std::vector<std::shared_ptr<Partition>>& parts);
  AdminResult validate_configs(const std::map<std::string, std::string>& configs) const;
  /// Opens partitions [first_new, t.partitions) of `t`, persists `t`, then publishes both; on any
  /// failure removes the logs it opened and answers KAFKA_STORAGE_ERROR (create and grow alike).
  AdminResult open_and_publish(const TopicMetadata& t, int32_t first_new);

  /// Cluster mode: stores `t` (its assignment set), opens the local replicas, waits for leaders.
  AdminResult publish_in_cluster(const TopicMetadata& t, const char* what);
  /// Closes and deletes the logs of `removed` (already out of partitions_).
  void remove_partitions(const std::vector<std::shared_ptr<Partition>>& removed);
  /// Gives a partition opened on a one-broker region its lasting leadership: this broker, epoch 0.
  void lead_alone(Partition& p) const;

  const BrokerConfig& config_;
  MetadataStore& store_;
  ClusterHooks cluster_;
  metrics::Registry& metrics_;
  metrics::Histogram& flush_ms_;  // looked up once: the flusher observes it thousands of times a second
  config::Schema topic_schema_;

  mutable std::shared_mutex mu_;  // guards topics_ and partitions_
  std::map<std::string, TopicMetadata> topics_;
  std::map<std::pair<std::string, int32_t>, std::shared_ptr<Partition>> partitions_;
  std::mutex admin_mu_;  // serializes create/delete/grow
  DynamicBrokerConfigs dynamic_;  // loaded at startup; changed by alter_broker_configs and reload_broker_configs
  void reapply_topic_configs();

  std::map<storage::TopicPartition, int64_t> recovery_points_;    // loaded at start
  std::map<storage::TopicPartition, int64_t> log_start_offsets_;  // loaded at start
  std::map<storage::TopicPartition, int64_t> cleaner_offsets_;    // loaded at start

  std::mutex bg_mu_;
  std::condition_variable bg_cv_;
  bool stopping_ = false;
  bool started_ = false;
  std::thread background_;
  std::thread flusher_;
  std::vector<std::shared_ptr<Partition>> flush_queue_;
  /// Runs one group commit's fsyncs side by side (kParallelFlushes threads): the file system
  /// commits concurrent fdatasyncs of different files together, so a commit over n partitions
  /// costs about one fsync instead of n in a row. Created at start, joined at shutdown.
  std::unique_ptr<boost::asio::thread_pool> flush_pool_;

  mutable std::mutex offline_mu_;
  mutable std::set<std::filesystem::path> offline_dirs_;  // log.dirs entries taken offline
  std::atomic<bool> shutting_down_{false};

  std::mutex producer_id_mu_;
  int64_t producer_id_next_ = 0;  // [next, end) is reserved and unused
  int64_t producer_id_end_ = 0;
};

}  // namespace ferry::broker
