// One topic partition on this broker: its log, its replication state (leader or follower, leader
// epoch, ISR, the followers' log end offsets on a leader) and the offsets clients see. A one-broker
// region leads every partition with an ISR of itself, so there the high watermark is the log end
// offset. Kafka's cluster/Partition.scala is the model (../shared/REPLICATION-SEMANTICS.md §1-§4).
#pragma once

#include <atomic>
#include <map>
#include <vector>
#include <algorithm>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "broker/core/producer_state.h"
#include "broker/core/waiters.h"
#include "broker/storage/log.h"

namespace ferry::broker {

/// Kafka's partition directory name inside a log dir: "<topic>-<partition>".
inline std::string partition_dir_name(const std::string& topic, int32_t index) {
  return topic + "-" + std::to_string(index);
}

/// The Kafka error code for a storage error: the one place the broker converts storage's
/// vocabulary (storage::kafka_error_code holds the table).
inline protocol::ErrorCode to_kafka_error(storage::errc e) {
  return static_cast<protocol::ErrorCode>(storage::kafka_error_code(e));
}

/// A partition's leadership as this broker applies it (from the controller's partition state).
struct Leadership {
  int32_t leader = -1;             ///< leader broker id; -1 = none known (offline, or not yet told)
  int32_t leader_epoch = -1;       ///< KIP-101 epoch; -1 before any leadership was applied
  std::vector<int32_t> replicas;   ///< assignment order
  std::vector<int32_t> isr;        ///< in-sync replicas
  int64_t partition_epoch = 0;     ///< version of the state (KIP-841); the leader's ISR writes compare it
  int64_t mod_revision = 0;        ///< etcd mod_revision of the state (0 on a one-broker region)
  bool operator==(const Leadership&) const = default;
};

class Partition {
 public:
  /// `log_dir` is the log.dirs entry holding this partition's directory; `local_id` this broker's
  /// node.id. The partition starts with no leadership (leader -1): requests get
  /// NOT_LEADER_OR_FOLLOWER until make_leader or make_follower. The high watermark starts at
  /// `high_watermark` clamped to [log start, log end] (replication-offset-checkpoint).
  Partition(std::string topic, int32_t index, std::filesystem::path log_dir, std::unique_ptr<storage::Log> log,
            int32_t local_id = 0, int64_t high_watermark = 0)
      : topic_(std::move(topic)),
        index_(index),
        log_dir_(std::move(log_dir)),
        log_(std::move(log)),
        local_id_(local_id),
        durable_(log_->recovery_point()),
        high_watermark_(std::clamp(high_watermark, log_->log_start_offset(), log_->log_end_offset())) {}

  const std::string& topic() const { return topic_; }
  int32_t index() const { return index_; }
  const std::filesystem::path& log_dir() const { return log_dir_; }
  storage::Log& log() { return *log_; }

  int32_t local_id() const { return local_id_; }

  // --- Replication (partition.cc) ---
  /// Leader epoch of this replica (KIP-101): the last one applied, -1 before any.
  int32_t leader_epoch() const { return leader_epoch_.load(std::memory_order_acquire); }
  /// Whether this broker leads the partition now.
  bool is_leader() const { return is_leader_.load(std::memory_order_acquire); }
  /// The current leader's id, -1 when unknown or offline.
  int32_t leader_id() const { return leader_id_.load(std::memory_order_acquire); }
  /// Offsets below the high watermark are visible to consumers (the smallest log end offset in the
  /// ISR, on a leader; min(leader's high watermark, own log end offset) on a follower).
  int64_t high_watermark() const { return high_watermark_.load(std::memory_order_acquire); }
  /// A copy of the leadership in force.
  Leadership leadership() const;
  /// Becomes leader (Kafka Partition.makeLeader) when `l.leader` is this broker and `l.leader_epoch`
  /// is above the one applied: the epoch enters the leader-epoch history at the log end offset,
  /// followers' log end offsets are forgotten (ISR members count as caught up now), and the high
  /// watermark is recomputed. With the same epoch only the ISR, replicas and partition epoch are
  /// taken (the leader's own ISR write, or a reassignment). A lower epoch is ignored. Returns
  /// whether the epoch was new. Throws std::system_error if the epoch checkpoint cannot be written.
  bool make_leader(const Leadership& l, int64_t now_ms);
  /// Becomes a follower of `l.leader` (-1: leaderless) when `l.leader_epoch` is above the one
  /// applied (Kafka Partition.makeFollower): appends are refused from now on, and parked acks=all
  /// produces and long polls are woken (they answer NOT_LEADER_OR_FOLLOWER). Same epoch: only the
  /// replica list and ISR are taken. Returns whether the epoch was new.
  bool make_follower(const Leadership& l);
  /// The smallest ISR size acks=all accepts: min(min.insync.replicas, replica count), Kafka's
  /// effective min ISR.
  int32_t effective_min_isr() const;
  int32_t isr_size() const;
  int32_t replica_count() const;
  void set_min_insync_replicas(int32_t v) { min_insync_replicas_.store(v, std::memory_order_relaxed); }

  /// What a leader learns from a follower's Fetch (KIP-392 model, Replica.scala): `fetch_offset` is
  /// the follower's log end offset. Updates its caught-up time, then the high watermark. Returns
  /// true when the follower is not in the ISR but now qualifies for it (its log end offset is at
  /// least the high watermark and the start offset of this leader's epoch): the caller asks for an
  /// ISR expansion. NOT_LEADER_OR_FOLLOWER-type refusals are the caller's (check is_leader and
  /// is_replica first).
  bool record_follower_fetch(int32_t replica, int64_t fetch_offset, int64_t now_ms);
  bool is_replica(int32_t id) const;
  /// ISR members other than the leader whose last caught-up time is older than `lag_max_ms`
  /// (replica.lag.time.max.ms): they leave the ISR (Partition.getOutOfSyncReplicas).
  std::vector<int32_t> out_of_sync_replicas(int64_t now_ms, int64_t lag_max_ms) const;
  /// Followers not in the ISR that qualify for it now (see record_follower_fetch).
  std::vector<int32_t> isr_candidates() const;
  /// Each follower's log end offset as last reported, by id (-1 = none yet). Leader only.
  std::map<int32_t, int64_t> follower_end_offsets() const;

  /// A follower's append of batches fetched from its leader, offsets and epochs unchanged
  /// (storage::Log::append_with_offsets), recorded in the producer state too, so a new leader still
  /// recognises retried idempotent batches. Then the high watermark becomes min(`leader_hw`, log end
  /// offset). Errors as append_with_offsets (offset_out_of_range when the first batch does not
  /// start at the log end offset).
  protocol::ErrorCode append_as_follower(std::vector<uint8_t>& blob, const std::vector<storage::BatchHeader>& batches,
                                         int64_t leader_hw, int64_t now_ms);
  /// A follower learning the leader's high watermark from a reply without records.
  void follower_update_high_watermark(int64_t leader_hw);
  /// Cuts the log at `offset` (storage::Log::truncate_to; KIP-101 divergence) and rebuilds the
  /// producer state from what remains. The high watermark never exceeds the new log end.
  void truncate_to(int64_t offset, int64_t now_ms);
  /// Empties the log and restarts it at `offset` (a follower too far behind its leader's log start;
  /// storage::Log::truncate_fully_and_start_at); producer state and high watermark follow.
  void truncate_fully_and_start_at(int64_t offset, int64_t now_ms);
  /// Waiters on the log end offset: a follower's long-polling Fetch (replicas read up to it).
  OffsetWaiters& end_offset_waiters() { return end_offset_waiters_; }
  /// Offsets below this are fsynced.
  int64_t durable_offset() const { return durable_.load(std::memory_order_acquire); }

  /// Result of an append as the Produce handler needs it.
  struct AppendOutcome {
    protocol::ErrorCode error = protocol::ErrorCode::NONE;
    storage::AppendResult result{};
    bool duplicate = false;  // an idempotent retry: `result` holds the original offsets
  };

  /// Checks idempotent producers' sequence numbers (KIP-98), appends validated batches (see
  /// storage::Log::append), records them in the producer state, then wakes fetches waiting for
  /// data. Serialized per partition so offsets are assigned in arrival order.
  AppendOutcome append(std::vector<uint8_t>& blob, const std::vector<storage::BatchHeader>& batches, int64_t now_ms) {
    AppendOutcome out;
    {
      std::lock_guard lk(append_mu_);
      auto check = producers_.check(batches);
      if (check.error != protocol::ErrorCode::NONE) {
        out.error = check.error;
        return out;
      }
      if (!is_leader()) {
        out.error = protocol::ErrorCode::NOT_LEADER_OR_FOLLOWER;
        return out;
      }
      if (check.duplicate_of) {
        out.duplicate = true;
        out.result = {check.duplicate_of->base_offset, check.duplicate_of->last_offset, -1, log_->log_start_offset()};
        return out;
      }
      auto [err, r] = log_->append(blob, batches, leader_epoch(), now_ms);
      if (err != storage::errc::ok) {
        out.error = to_kafka_error(err);
        return out;
      }
      out.result = r;
      std::vector<storage::BatchHeader> assigned = batches;
      int64_t next = r.base_offset;
      for (auto& h : assigned) {
        h.base_offset = next;
        next += h.last_offset_delta + 1;
      }
      producers_.record(assigned, now_ms);
    }
    end_offset_waiters_.advance(log_->log_end_offset());
    maybe_advance_high_watermark();
    return out;
  }

  /// Rebuilds the idempotent-producer state from its snapshot and the log (at open).
  int64_t rebuild_producer_state(int64_t now_ms) {
    std::lock_guard lk(append_mu_);
    const int64_t replayed = producers_.rebuild(*log_, producer_snapshot_path(), now_ms);
    std::error_code ec;
    if (replayed == 0 && std::filesystem::exists(producer_snapshot_path(), ec)) snapshot_offset_ = log_->log_end_offset();
    return replayed;
  }
  /// Snapshots the producer state as of the log end offset (checkpoints, clean shutdown), unless
  /// the last snapshot written or loaded is already at that offset: with 10,000 partitions,
  /// rewriting (and fsyncing) every unchanged snapshot made each checkpoint and each restart take
  /// ~11 s (issue 16). A producer expired since then stays in the file until the next append; it
  /// is expired again after a restart, by the same rule.
  void snapshot_producer_state() {
    std::lock_guard lk(append_mu_);
    const int64_t end = log_->log_end_offset();
    if (end == snapshot_offset_) return;
    producers_.write_snapshot(producer_snapshot_path(), end);
    snapshot_offset_ = end;
  }
  /// Forgets producers idle longer than producer.id.expiration.ms.
  size_t expire_producers(int64_t now_ms, int64_t expiration_ms) {
    std::lock_guard lk(append_mu_);
    return producers_.expire(now_ms, expiration_ms);
  }
  std::filesystem::path producer_snapshot_path() const {
    return log_dir_ / partition_dir_name(topic_, index_) / "producer-state.snapshot";
  }

  /// fsyncs the log and wakes producers waiting for durability. Called by the flusher thread.
  int64_t flush() {
    int64_t rp = log_->flush();
    int64_t prev = durable_.load();
    while (rp > prev && !durable_.compare_exchange_weak(prev, rp)) {
    }
    durable_waiters_.advance(durable_offset());
    return rp;
  }

  /// Largest record batch accepted (the topic's max.message.bytes).
  int32_t max_message_bytes() const { return max_message_bytes_.load(std::memory_order_relaxed); }
  void set_max_message_bytes(int32_t v) { max_message_bytes_.store(v, std::memory_order_relaxed); }
  /// Whether the topic is compacted (cleanup.policy contains compact): keyless records are refused.
  bool compacted() const { return compacted_.load(std::memory_order_relaxed); }
  void set_compacted(bool v) { compacted_.store(v, std::memory_order_relaxed); }

  OffsetWaiters& data_waiters() { return data_waiters_; }
  OffsetWaiters& durable_waiters() { return durable_waiters_; }

 private:
  /// Recomputes the leader's high watermark from the ISR's log end offsets and wakes what waits on
  /// it; only ever raises it. No-op on a follower.
  void maybe_advance_high_watermark();
  /// After the log was cut (append_mu_ held): high watermark down to the new end, producer state
  /// rebuilt from what remains.
  void after_truncation_locked(int64_t before, int64_t now_ms);
  /// Raises the high watermark to `hw` (never lowers it) and wakes its waiters.
  void raise_high_watermark(int64_t hw);

  /// What a leader knows of one follower (Kafka's Replica.scala).
  struct FollowerState {
    int64_t end_offset = -1;         ///< the FetchOffset of its latest fetch
    int64_t last_caught_up_ms = 0;   ///< last time it had everything the leader had
    int64_t last_fetch_leader_end = 0;  ///< the leader's log end offset at its previous fetch
    int64_t last_fetch_ms = 0;
  };

  std::string topic_;
  int32_t index_;
  std::filesystem::path log_dir_;
  std::unique_ptr<storage::Log> log_;
  std::mutex append_mu_;  // guards appends and producers_
  ProducerStateManager producers_;
  int64_t snapshot_offset_ = -1;  // log end offset of the producer snapshot last written or loaded (append_mu_)
  const int32_t local_id_;
  std::atomic<int64_t> durable_;
  std::atomic<int64_t> high_watermark_;
  std::atomic<int32_t> leader_epoch_{-1};
  std::atomic<int32_t> leader_id_{-1};
  std::atomic<bool> is_leader_{false};
  std::atomic<int32_t> min_insync_replicas_{1};
  mutable std::mutex repl_mu_;  // guards leadership_, followers_, epoch_start_offset_
  Leadership leadership_;
  std::map<int32_t, FollowerState> followers_;  // leader only: every replica but this broker
  int64_t epoch_start_offset_ = 0;  // log end offset when this broker's leader epoch began
  OffsetWaiters end_offset_waiters_;
  std::atomic<int32_t> max_message_bytes_{1048588};
  std::atomic<bool> compacted_{false};
  OffsetWaiters data_waiters_;
  OffsetWaiters durable_waiters_;
};

}  // namespace ferry::broker
