// Partition's replication state (partition.h): leader and follower roles, the ISR's log end
// offsets, the high watermark. Rules from Kafka's cluster/Partition.scala and Replica.scala
// (../shared/REPLICATION-SEMANTICS.md §1, §2, §4).
#include "broker/core/partition.h"

#include <spdlog/spdlog.h>

namespace ferry::broker {

Leadership Partition::leadership() const {
  std::lock_guard lk(repl_mu_);
  return leadership_;
}

bool Partition::is_replica(int32_t id) const {
  std::lock_guard lk(repl_mu_);
  return std::find(leadership_.replicas.begin(), leadership_.replicas.end(), id) != leadership_.replicas.end();
}

int32_t Partition::isr_size() const {
  std::lock_guard lk(repl_mu_);
  return static_cast<int32_t>(leadership_.isr.size());
}

int32_t Partition::replica_count() const {
  std::lock_guard lk(repl_mu_);
  return static_cast<int32_t>(leadership_.replicas.size());
}

int32_t Partition::effective_min_isr() const {
  std::lock_guard lk(repl_mu_);
  const auto replicas = static_cast<int32_t>(std::max<size_t>(1, leadership_.replicas.size()));
  return std::min(min_insync_replicas_.load(std::memory_order_relaxed), replicas);
}

bool Partition::make_leader(const Leadership& l, int64_t now_ms) {
  std::lock_guard append(append_mu_);  // no append runs across a change of role
  bool new_epoch = false;
  {
    std::lock_guard lk(repl_mu_);
    if (l.leader_epoch < leadership_.leader_epoch) return false;
    new_epoch = l.leader_epoch > leadership_.leader_epoch || !is_leader();
    if (new_epoch) {
      // The epoch starts at the log end offset, before any record of it (Partition.makeLeader).
      log_->assign_leader_epoch(l.leader_epoch);
      epoch_start_offset_ = log_->log_end_offset();
      followers_.clear();
    }
    leadership_ = l;
    for (int32_t r : l.replicas) {
      if (r == local_id_) continue;
      auto& f = followers_[r];
      // A new epoch counts ISR members as caught up now, others never (Kafka resets both).
      if (new_epoch) {
        const bool in_isr = std::find(l.isr.begin(), l.isr.end(), r) != l.isr.end();
        f = FollowerState{-1, in_isr ? now_ms : 0, 0, 0};
      }
    }
    for (auto it = followers_.begin(); it != followers_.end();)
      it = std::find(l.replicas.begin(), l.replicas.end(), it->first) == l.replicas.end() ? followers_.erase(it) : ++it;
    leader_id_.store(local_id_, std::memory_order_release);
    leader_epoch_.store(l.leader_epoch, std::memory_order_release);
    is_leader_.store(true, std::memory_order_release);
  }
  maybe_advance_high_watermark();
  return new_epoch;
}

bool Partition::make_follower(const Leadership& l) {
  bool new_epoch = false;
  {
    std::lock_guard append(append_mu_);
    std::lock_guard lk(repl_mu_);
    if (l.leader_epoch < leadership_.leader_epoch) return false;
    new_epoch = l.leader_epoch > leadership_.leader_epoch || is_leader();
    leadership_ = l;
    followers_.clear();
    leader_id_.store(l.leader, std::memory_order_release);
    leader_epoch_.store(l.leader_epoch, std::memory_order_release);
    is_leader_.store(false, std::memory_order_release);
  }
  if (new_epoch) {
    // Parked acks=all produces and long polls re-check and answer NOT_LEADER_OR_FOLLOWER.
    data_waiters_.wake_all();
    end_offset_waiters_.wake_all();
    durable_waiters_.wake_all();
  }
  return new_epoch;
}

bool Partition::record_follower_fetch(int32_t replica, int64_t fetch_offset, int64_t now_ms) {
  bool candidate = false;
  {
    std::lock_guard lk(repl_mu_);
    auto it = followers_.find(replica);
    if (it == followers_.end() || !is_leader()) return false;
    auto& f = it->second;
    const int64_t leader_end = log_->log_end_offset();
    // Replica.updateFetchStateOrThrow: caught up now if it has everything; else caught up as of
    // its previous fetch if that fetch had everything the leader had then.
    if (fetch_offset >= leader_end)
      f.last_caught_up_ms = std::max(f.last_caught_up_ms, now_ms);
    else if (fetch_offset >= f.last_fetch_leader_end)
      f.last_caught_up_ms = std::max(f.last_caught_up_ms, f.last_fetch_ms);
    f.end_offset = fetch_offset;
    f.last_fetch_leader_end = leader_end;
    f.last_fetch_ms = now_ms;
    const auto& isr = leadership_.isr;
    candidate = std::find(isr.begin(), isr.end(), replica) == isr.end() && fetch_offset >= high_watermark() &&
                fetch_offset >= epoch_start_offset_;
  }
  maybe_advance_high_watermark();
  return candidate;
}

std::vector<int32_t> Partition::out_of_sync_replicas(int64_t now_ms, int64_t lag_max_ms) const {
  std::lock_guard lk(repl_mu_);
  std::vector<int32_t> out;
  if (!is_leader()) return out;
  const int64_t leader_end = log_->log_end_offset();
  for (int32_t r : leadership_.isr) {
    if (r == local_id_) continue;
    auto it = followers_.find(r);
    if (it == followers_.end()) continue;
    const auto& f = it->second;
    if (f.end_offset != leader_end && now_ms - f.last_caught_up_ms > lag_max_ms) out.push_back(r);
  }
  return out;
}

std::vector<int32_t> Partition::isr_candidates() const {
  std::lock_guard lk(repl_mu_);
  std::vector<int32_t> out;
  if (!is_leader()) return out;
  const int64_t hw = high_watermark();
  for (const auto& [r, f] : followers_) {
    const auto& isr = leadership_.isr;
    if (std::find(isr.begin(), isr.end(), r) == isr.end() && f.end_offset >= hw && f.end_offset >= epoch_start_offset_)
      out.push_back(r);
  }
  return out;
}

std::map<int32_t, int64_t> Partition::follower_end_offsets() const {
  std::lock_guard lk(repl_mu_);
  std::map<int32_t, int64_t> out;
  for (const auto& [r, f] : followers_) out[r] = f.end_offset;
  return out;
}

void Partition::maybe_advance_high_watermark() {
  int64_t hw = 0;
  {
    std::lock_guard lk(repl_mu_);
    if (!is_leader()) return;
    // Partition.maybeIncrementLeaderHW: the smallest log end offset over the ISR (the leader's own
    // included). A follower that has not fetched in this epoch holds it where it is.
    hw = log_->log_end_offset();
    for (int32_t r : leadership_.isr) {
      if (r == local_id_) continue;
      auto it = followers_.find(r);
      if (it == followers_.end() || it->second.end_offset < 0) return;
      hw = std::min(hw, it->second.end_offset);
    }
  }
  raise_high_watermark(hw);
}

void Partition::raise_high_watermark(int64_t hw) {
  int64_t prev = high_watermark_.load(std::memory_order_acquire);
  while (hw > prev && !high_watermark_.compare_exchange_weak(prev, hw, std::memory_order_acq_rel)) {
  }
  if (hw > prev) data_waiters_.advance(hw);
}

protocol::ErrorCode Partition::append_as_follower(std::vector<uint8_t>& blob,
                                                  const std::vector<storage::BatchHeader>& batches, int64_t leader_hw,
                                                  int64_t now_ms) {
  {
    std::lock_guard lk(append_mu_);
    if (is_leader()) return protocol::ErrorCode::NOT_LEADER_OR_FOLLOWER;
    auto [err, r] = log_->append_with_offsets(blob, batches);
    if (err != storage::errc::ok) return to_kafka_error(err);
    producers_.record(batches, now_ms);
  }
  follower_update_high_watermark(leader_hw);
  return protocol::ErrorCode::NONE;
}

void Partition::follower_update_high_watermark(int64_t leader_hw) {
  if (is_leader()) return;
  raise_high_watermark(std::min(leader_hw, log_->log_end_offset()));
}

void Partition::truncate_to(int64_t offset, int64_t now_ms) {
  std::lock_guard lk(append_mu_);
  const int64_t before = log_->log_end_offset();
  log_->truncate_to(offset);
  if (log_->log_end_offset() != before) after_truncation_locked(before, now_ms);
}

void Partition::truncate_fully_and_start_at(int64_t offset, int64_t now_ms) {
  std::lock_guard lk(append_mu_);
  const int64_t before = log_->log_end_offset();
  log_->truncate_fully_and_start_at(offset);
  after_truncation_locked(before, now_ms);
  // Nothing below the new start exists here any more: the high watermark starts there.
  raise_high_watermark(offset);
}

void Partition::after_truncation_locked(int64_t before, int64_t now_ms) {
  const int64_t after = log_->log_end_offset();
  // The high watermark may sit above the cut (KIP-101 allows truncation below it); it follows the
  // log down. This is the one place it moves backwards.
  int64_t hw = high_watermark_.load();
  while (hw > after && !high_watermark_.compare_exchange_weak(hw, after)) {
  }
  // A snapshot beyond the cut describes records that are gone.
  if (snapshot_offset_ > after) {
    std::error_code ec;
    std::filesystem::remove(producer_snapshot_path(), ec);
    snapshot_offset_ = -1;
  }
  producers_ = ProducerStateManager();
  producers_.rebuild(*log_, producer_snapshot_path(), now_ms);
  spdlog::info("{}-{}: log cut from end offset {} to {} (a divergent tail, KIP-101)", topic_, index_, before, after);
}

}  // namespace ferry::broker
