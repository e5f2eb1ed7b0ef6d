// One replication flow `source -> target` at run time, on four threads (docs/mirror.md, "Threads
// of a flow"), each with one job: topic discovery and remote-topic creation (control:
// TopicDiscovery, topic_discovery.h); the data path (data, here): a source consumer in the flow's
// consumer group, whose partitions are shared by every ferry-mirror process running the same
// flow, and idempotent acks=all producers on the target; heartbeats, checkpoints and group offset
// sync (sync: SyncTasks, sync_tasks.h); the source's log end offsets (ends: SourceEndsView,
// source_ends.h). Every part works on the one typed state per partition (PartitionState,
// partition_state.h) and reports to one FlowConditions (flow_conditions.h). Positions always come
// from the target (resume.h).
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "client/kafka.h"
#include "common/metrics.h"
#include "common/metrics_http.h"
#include "mirror/config.h"
#include "mirror/fetch_waker.h"
#include "mirror/flow_conditions.h"
#include "mirror/offset_translation.h"
#include "mirror/partition_state.h"
#include "mirror/resume.h"
#include "mirror/source_ends.h"
#include "mirror/status_types.h"
#include "mirror/sync_tasks.h"
#include "mirror/target_limits.h"
#include "mirror/topic_discovery.h"

namespace ferry::mirror {

/// Offset syncs read back from the offset-syncs topic, oldest first, per source partition.
using SyncHistoryMap = std::map<std::pair<std::string, int32_t>, std::vector<OffsetSync>>;

/// Runs one flow until stop(). Errors talking to either cluster are retried with backoff and
/// reported through status() and metrics; they never end the flow.
class Flow {
 public:
  /// `clusters` must hold the flow's source and target. Does not connect yet.
  Flow(FlowConfig flow, const std::map<std::string, ClusterConfig>& clusters, metrics::Registry& metrics);
  ~Flow();
  Flow(const Flow&) = delete;
  Flow& operator=(const Flow&) = delete;

  /// Starts the flow's threads (control, data, sync, source ends).
  void start();
  /// Asks every thread to finish and returns at once: stop consuming, let the records in flight be
  /// acknowledged by the target, leave the consumer group (so the partitions move to the other
  /// processes at once). Idempotent.
  void request_stop();
  /// request_stop(), then waits until every thread has finished (and joins them) or `deadline`.
  /// Returns false when a thread is still inside a call to a cluster that does not answer at
  /// `deadline`: the threads are then left running, and the caller must end the process without
  /// destroying this Flow (std::_Exit). Nothing is lost that way: positions, offset syncs and
  /// checkpoints live on the target, and a restart resumes from its records (docs/mirror.md).
  bool stop(std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max());
  /// Names of the flow's threads that have not finished yet ("data", "control", "sync", "ends").
  std::vector<std::string> live_threads() const;

  /// The flow's /status entry (status_types.h): name, state (running|paused), topics, assigned
  /// partitions (kept while paused) with their next source offset to replicate and lag, counters,
  /// healthy and current_errors, last_error, last_checkpoint_ms, heartbeat (docs/mirror.md,
  /// Control API). Every field this mirror knows is set.
  FlowStatus status() const;

  /// POST /flows/<source>/<target>/pause (docs/mirror.md, Control API): stops reading the source,
  /// waits up to `timeout` until every record handed to the producer is acknowledged by the target
  /// and its offset syncs are written, then leaves the flow's consumer group; heartbeats,
  /// checkpoints and group offset sync stop too. 200 {"flow", "state": "paused", "partitions"}
  /// with source_end_offset read afresh; 504 {"error", "partitions": those still in flight} when
  /// the drain takes longer (the flow stays paused and keeps draining). Idempotent.
  metrics::JsonReply pause(std::chrono::milliseconds timeout);
  /// The first half of pause(): stops reading the source and returns at once; pause() then waits
  /// for the drain. FlowTasks asks every task first, so no task takes over partitions that another
  /// is giving up for the pause.
  void request_pause();
  /// POST .../resume: reading starts again from what the target holds. 200 {"flow", "state":
  /// "running"}. Idempotent.
  metrics::JsonReply resume();
  /// POST .../checkpoint: one checkpoint pass now, running or paused. While paused, partitions this
  /// process did not keep get their translation rebuilt from the target and the offset-syncs
  /// topic, so every partition of the flow is translated. 200 {"flow", "checkpoints_emitted",
  /// "groups": [{"group", "synced", "reason", "offsets": [{"topic" (remote), "partition",
  /// "upstream", "downstream"}]}]}; 504 when the pass cannot start or finish within `timeout`.
  metrics::JsonReply checkpoint(std::chrono::milliseconds timeout);

  const FlowConfig& config() const { return flow_; }
  /// Whether a pause was asked and not resumed since (the flow's configured start state at first).
  bool paused() const { return paused_; }

 private:
  struct InFlight;

  void control_loop();
  void sync_loop();
  /// While paused and drained: the mapping of every partition of the flow's topics this process
  /// does not hold, rebuilt from the target's tails and the offset-syncs history (no syncs written).
  PartitionMap rebuild_mappings();
  /// Data thread, while paused: drain, leave the group, keep source end offsets fresh.
  void pause_step(uint64_t& subscribed_version);
  /// Pausing, drained: revoked_ goes back into partitions_ (what is there already wins).
  void keep_revoked_for_pause();
  void make_control_clients();
  /// The /status entries of partitions_ (only those with records in flight, with in_flight set).
  std::vector<PartitionStatus> partition_statuses(bool in_flight_only) const;
  void data_loop();
  void make_data_clients();
  void on_assign(rd_kafka_topic_partition_list_t* parts);
  /// Every offset sync this flow wrote for the given source partitions, oldest first, read back from
  /// the source's offset-syncs topic; `truncated` when the topic no longer starts at offset 0.
  SyncHistoryMap read_sync_history(
      client::Admin& source, rd_kafka_t* source_probe, const std::set<std::pair<std::string, int32_t>>& wanted,
      bool& truncated);
  void on_revoke();
  /// A source partition being taken over (on_assign, rebuild_mappings): its new state, the flow's
  /// newest record in its remote partition (nullopt: none there yet), and the source partition's
  /// watermarks (nullopt: not asked, the source being unreachable; else their own `err`).
  struct Takeover {
    std::unique_ptr<PartitionState> st;
    std::optional<ReplicatedTail> tail;
    std::optional<client::PartitionWatermarks> source;
  };
  /// Rebuilds `st->mapping` of every takeover with a tail with anchor_offset_mapping
  /// (offset_translation.h): from `history` when the target confirms it, else from the target's
  /// own records (logged). The target reads of all partitions are batched (read_ranges through
  /// `probe`) in passes of at most kTakeoverReadBudget records, so 10,000 partitions cost a few
  /// fetch rounds and bounded memory. With `emit`, writes the syncs the history lacked. A
  /// partition whose reads fail gets an empty mapping and a flow error naming it. Flow_takeover.cc.
  void anchor_mappings(std::vector<Takeover>& parts, const SyncHistoryMap& history, bool truncated, rd_kafka_t* probe,
                       bool emit);
  /// Sets `st->copied_from_start` of every takeover with a tail and known source watermarks:
  /// whether the copy counts as begun at the source's start although this process did not see it
  /// begin. True when the mapping reaches down to the flow's oldest record on the target (among
  /// its partition's first 1000 records; no run dropped) and the source holds no record between
  /// its log start offset and that record's upstream offset (deleted by retention or compacted
  /// away). Two batched reads, one of the target and one of the source. A read that fails leaves
  /// the flag false for its partitions (offsets below the first copied record then get no
  /// checkpoint rather than a wrong one) and is logged.
  void derive_copied_from_start(std::vector<Takeover>& parts, rd_kafka_t* target_probe, rd_kafka_t* source_probe);
  /// Hands record `m` to the target's producer; `new_run`: it starts a run of its partition.
  void replicate(rd_kafka_message_t* m, bool new_run);
  void on_delivery(const rd_kafka_message_t* m);
  void emit_offset_syncs(const PartitionState& p, const std::vector<OffsetSync>& syncs);
  void reset_positions(const char* why);
  /// The producer on the target whose batch.size and message.max.bytes fit `limits`
  /// (target_limits.h), created on first use; one per distinct setting, so a topic with small
  /// segments does not shrink every other topic's batches. Data thread only.
  rd_kafka_t* producer_for(const TargetLimits& limits);
  /// rd_kafka_poll of every target producer (the first waits up to `timeout_ms`).
  void poll_producers(int timeout_ms);
  /// Records queued or in flight in all target producers.
  int producers_outq() const;
  /// rd_kafka_flush of every target producer within `timeout_ms` in all.
  void flush_producers(int timeout_ms);
  /// Stops partition `st` at source offset `offset` because the target refuses it for good:
  /// /status (its "error"), ferry_mirror_partition_refused, the flow's current errors and the log
  /// name it with `reason`; the consumer pauses that partition only. Data thread.
  void refuse_partition(PartitionState& st, int64_t offset, int64_t bytes, bool by_target, const std::string& reason);
  /// Every second: asks the target again about refused partitions that are due, and resumes those
  /// whose refused record now fits (from that record, so nothing is skipped). Data thread.
  void recheck_refused();
  /// Shorthands for conditions_ (flow_conditions.h): a one-off event; a condition that lasts
  /// until clear_condition(key).
  void note_error(const std::string& what, const char* kind = "event") { conditions_.note_error(what, kind); }
  void set_condition(const std::string& key, const std::string& what) { conditions_.set(key, what); }
  void clear_condition(const std::string& key) { conditions_.clear(key); }
  /// Counts records lost on the source before replication, or a recreated source partition, in
  /// ferry_mirror_source_anomalies_total and the status.
  void count_source_anomaly(const std::string& topic, int32_t partition, const char* kind, int64_t records);
  std::string data_group_id() const;
  static void rebalance_cb(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts, void* opaque);
  static void delivery_cb(rd_kafka_t* rk, const rd_kafka_message_t* m, void* opaque);

  const FlowConfig flow_;
  const ClusterConfig source_;
  const ClusterConfig target_;
  metrics::Registry& metrics_;
  // The flow's one Admin client per cluster, made with the flow (no connection yet): librdkafka
  // handles are thread-safe and every Admin call waits on its own queue, so the four threads and
  // the control API share them.
  const std::unique_ptr<client::Admin> source_admin_, target_admin_;
  // What went wrong (last_error, current_errors), for every part of the flow.
  FlowConditions conditions_;
  // The control thread's job: the flow's topics, their remote topics, the routes.
  TopicDiscovery discovery_;

  std::atomic<bool> running_{false};
  std::mutex wake_mu_;
  std::condition_variable wake_;
  std::thread control_thread_;
  std::thread data_thread_;
  std::thread sync_thread_;
  // Threads started and not finished yet, by name; a bounded stop() waits on threads_cv_.
  mutable std::mutex threads_mu_;
  std::condition_variable threads_cv_;
  std::set<std::string> live_threads_;
  std::thread spawn(const char* name, void (Flow::*loop)());

  // Data-thread state. `partitions_` is read by status() under partitions_mu_.
  client::Handle consumer_;
  // Partitions this consumer_ has paused (refuse_partition): librdkafka keeps them paused across
  // assignments, so on_assign resumes exactly these (resuming all 10,000 costs seconds).
  std::set<client::TopicPartitionKey> consumer_paused_;
  // The partition whose run of records the data thread is reading: records come in runs of one
  // partition (a Fetch response's batches), and both keep_fetching() and replicate() work per run.
  const rd_kafka_topic_t* run_topic_ = nullptr;
  int32_t run_partition_ = -1;
  // Keeping consumer_ fetching (fetch_waker.h), and the partitions read since the last wake (one
  // entry per run, at most kMaxWakePartitions).
  FetchKeeper keeper_;
  std::vector<client::TopicPartitionKey> read_since_wake_;
  // replicate(): the state of the current run's partition (null: look it up), valid while
  // assign_generation_ is cached_generation_, and when its consumer watermarks were last read.
  static constexpr int kWatermarksEvery = 256;
  uint64_t cached_generation_ = 0;
  PartitionState* cached_state_ = nullptr;
  int records_since_watermarks_ = 0;
  metrics::Counter* fetch_wakes_ = nullptr;  // ferry_mirror_source_fetch_wakes_total
  // After a record (null: an empty poll) came from consumer_, `new_run` when it starts a run: asks
  // keeper_ to wake the consumer's broker threads when its queue has drained enough.
  void keep_fetching(const rd_kafka_message_t* m, bool new_run);
  std::map<std::pair<int64_t, int64_t>, client::Handle> producers_;  // by (batch.size, message.max.bytes); (0, 0): defaults
  client::Handle syncs_producer_;
  client::Handle probe_;
  client::Handle source_probe_;
  mutable std::mutex partitions_mu_;
  PartitionMap partitions_;
  // Under partitions_mu_: what the last revoke gave up, until the next assignment. A pause that
  // lands between the two (a rebalance in progress) answers with these: nothing was read since.
  PartitionMap revoked_;
  // The sync thread's job (heartbeats, checkpoints, group offset sync) over partitions_.
  SyncTasks sync_;
  // The ends thread's job: the source's log end offsets of partitions_, and whether the source is down.
  SourceEndsView ends_;
  bool reset_needed_ = false;
  std::chrono::steady_clock::time_point next_refused_check_{};  // data thread
  uint64_t assign_generation_ = 0;  // bumped by every (re)assignment; stale deliveries are ignored
  std::atomic<int64_t> records_{0};
  std::atomic<int64_t> skipped_loops_{0};
  std::atomic<int64_t> anomalies_{0};

  // Control API. paused_ is what was asked; drained_ says the data thread has since handed
  // nothing more to the producer, seen every record acknowledged and left the group.
  std::atomic<bool> paused_{false};
  std::atomic<bool> drained_{false};
  bool leaving_for_pause_ = false;  // data thread: on_revoke keeps the partition states
  std::chrono::steady_clock::time_point syncs_wait_since_{};         // data thread, pausing
  // The ends thread: ends_.run().
  void source_ends_loop();
  // ends_.source_known_down(): a pause then answers at once.
  bool source_known_down() const { return ends_.source_known_down(); }
  std::thread ends_thread_;
  std::mutex drain_mu_;
  std::condition_variable drain_cv_;
  std::mutex control_mu_;         // one control call at a time; owns the ctl_ clients

  client::Handle ctl_producer_, ctl_probe_, ctl_source_probe_;
  std::atomic<int64_t> last_heartbeat_ms_{-1};  // timestamp field of the newest replicated heartbeat
};

}  // namespace ferry::mirror
