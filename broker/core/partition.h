// One topic partition on this broker: its log plus the offsets replication and clients see.
// On a single node the ISR is this broker alone, so the high watermark is the log end offset.
#pragma once

#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "broker/core/waiters.h"
#include "broker/storage/log.h"

namespace ferry::broker {

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

  /// Appends validated batches (see storage::Log::append), then wakes fetches waiting for data.
  /// Serialized per partition so offsets are assigned in arrival order.
  std::pair<storage::errc, storage::AppendResult> append(std::vector<uint8_t>& blob,
                                                         const std::vector<storage::BatchHeader>& batches,
                                                         int64_t now_ms) {
    std::pair<storage::errc, storage::AppendResult> r;
    {
      std::lock_guard lk(append_mu_);
      r = log_->append(blob, batches, leader_epoch(), now_ms);
    }
    if (r.first == storage::errc::ok) data_waiters_.advance(high_watermark());
    return r;
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

  OffsetWaiters& data_waiters() { return data_waiters_; }
  OffsetWaiters& durable_waiters() { return durable_waiters_; }

 private:
  std::string topic_;
  int32_t index_;
  std::filesystem::path log_dir_;
  std::unique_ptr<storage::Log> log_;
  std::mutex append_mu_;
  std::atomic<int64_t> durable_;
  std::atomic<int32_t> max_message_bytes_{1048588};
  OffsetWaiters data_waiters_;
  OffsetWaiters durable_waiters_;
};

}  // namespace ferry::broker
