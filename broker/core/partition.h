// One topic partition on this broker: its log plus the offsets replication and clients see.
// On a single node the ISR is this broker alone, so the high watermark is the log end offset.
#pragma once

#include <atomic>
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

class Partition {
 public:
  /// `log_dir` is the log.dirs entry holding this partition's directory.
  Partition(std::string topic, int32_t index, std::filesystem::path log_dir, std::unique_ptr<storage::Log> log)
      : topic_(std::move(topic)),
        index_(index),
        log_dir_(std::move(log_dir)),
        log_(std::move(log)),
        durable_(log_->recovery_point()) {}

  const std::string& topic() const { return topic_; }
  int32_t index() const { return index_; }
  const std::filesystem::path& log_dir() const { return log_dir_; }
  storage::Log& log() { return *log_; }

  /// Leader epoch of this replica (KIP-101). Constant 0 until leadership changes exist.
  int32_t leader_epoch() const { return 0; }
  /// Offsets below the high watermark are visible to consumers.
  int64_t high_watermark() const { return log_->log_end_offset(); }
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
    data_waiters_.advance(high_watermark());
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
  std::string topic_;
  int32_t index_;
  std::filesystem::path log_dir_;
  std::unique_ptr<storage::Log> log_;
  std::mutex append_mu_;  // guards appends and producers_
  ProducerStateManager producers_;
  int64_t snapshot_offset_ = -1;  // log end offset of the producer snapshot last written or loaded (append_mu_)
  std::atomic<int64_t> durable_;
  std::atomic<int32_t> max_message_bytes_{1048588};
  std::atomic<bool> compacted_{false};
  OffsetWaiters data_waiters_;
  OffsetWaiters durable_waiters_;
};

}  // namespace ferry::broker
